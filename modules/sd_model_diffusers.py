"""A loaded checkpoint: diffusers components built from an A1111 single-file state dict, with A1111's methods."""

import json
import logging
import os
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from modules import devices, paths_internal, prompt_parser, sd_text_encoding
from modules.sd_models_detect import ModelArchitecture


class _NoEmptyFp32Warning(logging.Filter):
    """diffusers warns on every .to(dtype) that modules "should be kept in float32: []", naming none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


logging.getLogger("diffusers.models.modeling_utils").addFilter(_NoEmptyFp32Warning())

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_tokenizer_cache: dict[str, CLIPTokenizer] = {}


def load_tokenizer(folder: str = paths_internal.tokenizer_path) -> CLIPTokenizer:
    if folder not in _tokenizer_cache:
        _tokenizer_cache[folder] = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    return _tokenizer_cache[folder]


CONFIG_METADATA_KEY = "serena.config"


def config_dir_for(filename: str, architecture: ModelArchitecture, metadata: dict | None = None) -> str:
    """The checkpoint's diffusers config folder: `<file without extension>.config/` beside it, else the folder under
    configs/diffusers/ its metadata names (`serena.config`), else its architecture's."""
    return own_config_dir(filename, metadata) or architecture.config_dir


def own_config_dir(filename: str, metadata: dict | None = None) -> str | None:
    """The config folder made for this checkpoint (beside it, or named by its metadata); None when it has none."""
    own = os.path.splitext(filename)[0] + ".config"
    if os.path.isdir(own):
        return own
    named = (metadata or {}).get(CONFIG_METADATA_KEY)
    if named:
        folder = os.path.join(paths_internal.diffusers_configs_path, os.path.basename(named))
        if os.path.isdir(folder):
            return folder
    return None


def load_unet(state_dict: dict, config_dir: str, dtype: torch.dtype) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_single_file(state_dict, local_files_only=True, config=config_dir,
                                                 subfolder="unet", torch_dtype=dtype, device=weights_device(state_dict))


def load_vae(state_dict: dict, config_dir: str, dtype: torch.dtype) -> AutoencoderKL:
    return AutoencoderKL.from_single_file(state_dict, local_files_only=True, config=config_dir, subfolder="vae",
                                          torch_dtype=dtype, device=weights_device(state_dict))


def weights_device(state_dict: dict) -> torch.device:
    """Where a state dict's tensors are: a module is built there (diffusers would otherwise copy them to the CPU)."""
    return next((value.device for value in state_dict.values() if isinstance(value, torch.Tensor)), devices.cpu)


def _load_text_encoder(cls, state_dict: dict, config_dir: str, subfolder: str, dtype: torch.dtype):
    return create_diffusers_clip_model_from_ldm(cls, state_dict, subfolder=subfolder, config=config_dir,
                                                torch_dtype=dtype, local_files_only=True)


def _read_scheduler_config(config_dir: str) -> dict:
    with open(os.path.join(config_dir, "scheduler", "scheduler_config.json"), encoding="utf8") as file:
        return {k: v for k, v in json.load(file).items() if not k.startswith("_")}


@dataclass(frozen=True)
class MicroConditioning:
    """SDXL's conditioning numbers besides the image size (A1111's options sdxl_crop_top, sdxl_crop_left and, for the
    refiner, sdxl_refiner_high_aesthetic_score / sdxl_refiner_low_aesthetic_score)."""
    crop_top: int = 0
    crop_left: int = 0
    high_aesthetic_score: float = 6.0
    low_aesthetic_score: float = 2.5


class DiffusersStableDiffusion(torch.nn.Module):
    """What A1111 calls `shared.sd_model`: text encoders, UNet and VAE plus the methods the pipeline calls."""

    def __init__(self, state_dict: dict, architecture: ModelArchitecture, config_dir: str,
                 device: torch.device, dtype: torch.dtype = torch.float32, vae_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.architecture = architecture
        self.config_dir = config_dir
        self.dtype_unet = dtype
        self.unet = load_unet(state_dict, config_dir, dtype)
        self.unet_runner = None  # what calls the UNet in its place (--opt-compile: unet_compile.CompiledUNet)
        self.vae = load_vae(state_dict, config_dir, vae_dtype)
        if self.is_sdxl and self.vae.dtype == torch.float16 and self.vae.config.force_upcast:
            self.vae.to(torch.float32)  # as diffusers' SDXL pipeline: this VAE overflows in fp16 (black images)
        self.base_vae = self.vae
        self.loaded_vae_file = None
        self.tokenizer = load_tokenizer()
        self.scheduler_config = _read_scheduler_config(config_dir)
        self.conditioner = self._build_conditioner(state_dict, dtype)
        self.execution_device = device
        """where the model computes (its parts may wait in RAM between calls: modules/lowvram.py)"""
        self.offload = None
        self.lowvram = False
        self.to(device)
        self.eval()
        self.sd_checkpoint_info = None
        self.assigned_model_hash = None
        self.sd_model_checkpoint = None

    def _build_conditioner(self, state_dict: dict, dtype: torch.dtype) -> sd_text_encoding.TextConditioner:
        ids_clip = sd_text_encoding.token_ids_for(self.tokenizer, pad_with_zero=False)
        ids_openclip = sd_text_encoding.token_ids_for(self.tokenizer, pad_with_zero=True)
        if self.is_sdxl_refiner:
            self.text_encoder = None
            self.text_encoder_2 = _load_text_encoder(CLIPTextModelWithProjection, state_dict, self.config_dir,
                                                     "text_encoder_2", dtype)
            specs = [sd_text_encoding.EncoderSpec(self.text_encoder_2, ids_openclip, penultimate=True, pooled=True,
                                                  embedding_key="clip_g")]
        elif self.is_sdxl:
            self.text_encoder = _load_text_encoder(CLIPTextModel, state_dict, self.config_dir, "text_encoder", dtype)
            self.text_encoder_2 = _load_text_encoder(CLIPTextModelWithProjection, state_dict, self.config_dir,
                                                     "text_encoder_2", dtype)
            specs = [sd_text_encoding.EncoderSpec(self.text_encoder, ids_clip, penultimate=True, embedding_key="clip_l"),
                     sd_text_encoding.EncoderSpec(self.text_encoder_2, ids_openclip, penultimate=True, pooled=True,
                                                  embedding_key="clip_g")]
        else:
            self.text_encoder = _load_text_encoder(CLIPTextModel, state_dict, self.config_dir, "text_encoder", dtype)
            # A1111 takes SD2's OpenCLIP output as it is: clip skip applies to SD1 only.
            specs = [sd_text_encoding.EncoderSpec(self.text_encoder, ids_openclip if self.is_sd2 else ids_clip,
                                                  honours_clip_skip=not self.is_sd2)]
        return sd_text_encoding.TextConditioner(self.tokenizer, specs)

    def embedding_widths(self) -> dict[str | None, int]:
        """What a textual inversion embedding must be as wide as: {None: width}, or SDXL's {"clip_l", "clip_g"}."""
        return {spec.embedding_key: spec.encoder.get_input_embeddings().embedding_dim for spec in self.conditioner.specs}

    # A1111's model flags
    @property
    def is_sdxl(self) -> bool:
        return self.architecture.family == "SDXL"

    @property
    def is_sdxl_refiner(self) -> bool:
        return self.architecture.refiner

    @property
    def is_sd2(self) -> bool:
        return self.architecture.family == "SD2"

    @property
    def is_sd1(self) -> bool:
        return self.architecture.family == "SD1"

    @property
    def is_inpainting(self) -> bool:
        return self.architecture.inpainting

    @property
    def parameterization(self) -> str:
        return "v" if self.scheduler_config.get("prediction_type") == "v_prediction" else "eps"

    @property
    def device(self) -> torch.device:
        return self.execution_device

    @property
    def sd_model_hash(self) -> str | None:
        """The checkpoint's short sha256 (A1111's name), waiting for it while it is computed after a load; a value
        assigned to it (A1111's was a plain attribute) is given back instead."""
        if self.assigned_model_hash is not None or self.sd_checkpoint_info is None:
            return self.assigned_model_hash
        return self.sd_checkpoint_info.wait_for_hash()

    @sd_model_hash.setter
    def sd_model_hash(self, value: str | None) -> None:
        self.assigned_model_hash = value

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def native_size(self) -> int:
        return self.unet.config.sample_size * self.vae_scale_factor

    def set_tiling(self, enabled: bool) -> None:
        """Seamless textures: circular padding in every convolution of the UNet and the VAE."""
        mode = "circular" if enabled else "zeros"
        for module in (*self.unet.modules(), *self.vae.modules()):
            if isinstance(module, torch.nn.Conv2d):
                module.padding_mode = mode

    def get_learned_conditioning(self, texts, clip_skip: int = 1, emphasis: str = "Original",
                                 comma_padding_backtrack: int = 20, micro: MicroConditioning = MicroConditioning()):
        hidden, pooled = self.conditioner.encode(list(texts), clip_skip, emphasis, comma_padding_backtrack)
        if not self.is_sdxl:
            return hidden
        width = getattr(texts, "width", None) or self.native_size
        height = getattr(texts, "height", None) or self.native_size
        if self.is_sdxl_refiner:  # in place of the target size, how good the picture is to be (the negative: worse)
            score = micro.low_aesthetic_score if getattr(texts, "is_negative_prompt", False) \
                else micro.high_aesthetic_score
            numbers = [height, width, micro.crop_top, micro.crop_left, score]
        else:
            numbers = [height, width, micro.crop_top, micro.crop_left, height, width]
        time_ids = torch.tensor([numbers], dtype=hidden.dtype, device=hidden.device)
        return prompt_parser.DictWithShape(
            {"crossattn": hidden, "vector": pooled, "time_ids": time_ids.repeat(hidden.shape[0], 1)})

    def apply_model(self, x: torch.Tensor, t, cond) -> torch.Tensor:
        """The UNet's prediction for x, in x's dtype: without autocast, latents and conditioning in another dtype than
        the UNet's (fp32 sampling over a 16-bit UNet, --upcast-sampling) are cast at its boundary."""
        dtype = self.unet.dtype
        if x.dtype == dtype or torch.is_autocast_enabled(x.device.type):  # autocast chooses the dtype inside
            return self._unet(x, t, cond).to(x.dtype)
        return self._unet(x.to(dtype), t, _cast_cond(cond, dtype)).to(x.dtype)

    def _unet(self, x: torch.Tensor, t, cond) -> torch.Tensor:
        unet = self.unet_runner or self.unet
        if isinstance(cond, dict):
            added = {"text_embeds": cond["vector"], "time_ids": cond["time_ids"]}
            return unet(x, t, encoder_hidden_states=cond["crossattn"], added_cond_kwargs=added).sample
        return unet(x, t, encoder_hidden_states=cond).sample

    @torch.no_grad()
    def predict_cond_uncond(self, x: torch.Tensor, t, cond, uncond, joined=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The UNet's predictions for cond and uncond, run as one batch when their token lengths match (joined: that
        batch's conds, join_conds(cond, uncond), when the caller has them already)."""
        joined = joined if joined is not None else self.join_conds(cond, uncond)
        if joined is not None:
            out_cond, out_uncond = self.apply_model(torch.cat([x, x]), t, joined).chunk(2)
            return out_cond, out_uncond
        return self.apply_model(x, t, cond), self.apply_model(x, t, uncond)

    @staticmethod
    def join_conds(cond, uncond):
        """cond and uncond as the conds of one UNet batch; None when their token lengths differ."""
        return _concat_conds(cond, uncond) if _token_length(cond) == _token_length(uncond) else None

    @staticmethod
    def combine_cfg(out_cond: torch.Tensor, out_uncond: torch.Tensor, cfg_scale: float) -> torch.Tensor:
        return out_uncond + (out_cond - out_uncond) * cfg_scale

    @torch.no_grad()
    def decode_first_stage(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents → images in [-1, 1]."""
        latents = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        with devices.without_autocast(latents.device.type):
            return self.vae.decode(latents).sample

    @torch.no_grad()
    def encode_first_stage(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] → scaled latents (the distribution's mean, so img2img is deterministic)."""
        with devices.without_autocast(images.device.type):
            distribution = self.vae.encode(images.to(self.vae.dtype)).latent_dist
        return distribution.mean * self.vae.config.scaling_factor

    @staticmethod
    def get_first_stage_encoding(latents: torch.Tensor) -> torch.Tensor:
        """A1111 pairs this with encode_first_stage; ours already returns the scaled latents."""
        return latents


def _token_length(cond) -> int:
    return (cond["crossattn"] if isinstance(cond, dict) else cond).shape[1]


def _cast_cond(cond, dtype: torch.dtype):
    if isinstance(cond, dict):
        return {key: value.to(dtype) if value.is_floating_point() else value for key, value in cond.items()}
    return cond.to(dtype)


def _concat_conds(first, second):
    if isinstance(first, dict):
        return {key: torch.cat([first[key], second[key]]) for key in first}
    return torch.cat([first, second])
