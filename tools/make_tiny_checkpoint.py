"""Write tiny random-weight Stable Diffusion checkpoints in the original single-file (LDM / A1111) key layout.

Usage:
    python -m tools.make_tiny_checkpoint --arch sd15 --out DIR/tiny-sd15.safetensors [--format ckpt] [--seed 0]
    python -m tools.make_tiny_checkpoint --all --out-dir DIR [--format ckpt] [--seed 0]
    python -m tools.make_tiny_checkpoint --arch sd15 --full-size --out DIR/sd15.safetensors   (real size, ~2 GB)

Next to each checkpoint goes its tiny diffusers config folder, `<checkpoint path without extension>.config/`.
"""

import argparse
import math
import os

import safetensors.torch
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from tools.diffusers_to_ldm import clip_to_ldm, openclip_to_ldm, unet_to_ldm, vae_to_ldm
from tools.ldm_schedule import schedule_buffers
from tools.tiny_configs import ARCH_FAMILIES, load_full_configs, tiny_configs, write_config_folder

FORMATS = {"safetensors": ".safetensors", "ckpt": ".ckpt"}
WEIGHT_DTYPE = torch.float16
OPENCLIP_LOGIT_SCALE = math.log(100.0)
V_PREDICTION_ARCHS = {"sd2-v"}

# Family -> text encoder -> (checkpoint key prefix, layout): "clip" is the HF CLIPTextModel layout, "openclip" OpenCLIP's.
TEXT_ENCODER_LAYOUTS = {
    "sd1": {"text_encoder": ("cond_stage_model.transformer.", "clip")},
    "sd2": {"text_encoder": ("cond_stage_model.model.", "openclip")},
    "sdxl": {
        "text_encoder": ("conditioner.embedders.0.transformer.", "clip"),
        "text_encoder_2": ("conditioner.embedders.1.model.", "openclip"),
    },
    "sdxl-refiner": {"text_encoder_2": ("conditioner.embedders.0.model.", "openclip")},
}


def config_folder_for(checkpoint_path: str) -> str:
    return os.path.splitext(checkpoint_path)[0] + ".config"


def _empty_component(name: str, config: dict, family: str) -> torch.nn.Module:
    with init_empty_weights():
        if name == "unet":
            return UNet2DConditionModel.from_config(config)
        if name == "vae":
            return AutoencoderKL.from_config(config)
        _, layout = TEXT_ENCODER_LAYOUTS[family][name]
        # OpenCLIP text towers always carry a text projection, even where SD 2.x does not use it.
        text_model_class = CLIPTextModelWithProjection if layout == "openclip" else CLIPTextModel
        return text_model_class(CLIPTextConfig(**config))


def _random_tensor(name: str, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(shape, generator=generator)
    if len(shape) >= 2:
        tensor = noise / math.sqrt(math.prod(shape[1:]))
    elif name.endswith("weight"):  # normalisation scales
        tensor = 1.0 + 0.02 * noise
    else:
        tensor = 0.02 * noise
    return tensor.to(WEIGHT_DTYPE)


def configs_for(arch: str, full_size: bool = False) -> dict[str, dict]:
    return load_full_configs(arch) if full_size else tiny_configs(arch)


def random_components(arch: str, seed: int = 0, full_size: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """Seeded random weights for each model component of `arch` (tiny, or at its real size), under diffusers' own
    names."""
    family = ARCH_FAMILIES[arch]
    configs = configs_for(arch, full_size)
    generator = torch.Generator().manual_seed(seed)
    components = {}
    for name in ("unet", "vae", *TEXT_ENCODER_LAYOUTS[family]):
        model = _empty_component(name, configs[name], family)
        shapes = {key: param.shape for key, param in model.named_parameters()}
        components[name] = {key: _random_tensor(key, shapes[key], generator) for key in sorted(shapes)}
    return components


def with_prefix(prefix: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + key: tensor for key, tensor in state_dict.items()}


def text_encoder_to_ldm(weights: dict[str, torch.Tensor], config: dict, layout: str) -> dict[str, torch.Tensor]:
    if layout == "clip":
        position_ids = torch.arange(config["max_position_embeddings"], dtype=torch.int64)[None]
        return clip_to_ldm(weights) | {"text_model.embeddings.position_ids": position_ids}
    weights = dict(weights)
    projection = weights.pop("text_projection.weight")
    logit_scale = torch.tensor(OPENCLIP_LOGIT_SCALE, dtype=WEIGHT_DTYPE)
    return openclip_to_ldm(weights, projection) | {"logit_scale": logit_scale}


def ldm_state_dict(arch: str, seed: int = 0, full_size: bool = False) -> dict[str, torch.Tensor]:
    """The whole checkpoint of `arch` (tiny, or at its real size), keyed as in the original single-file checkpoints."""
    family = ARCH_FAMILIES[arch]
    configs = configs_for(arch, full_size)
    components = random_components(arch, seed, full_size)

    state_dict = with_prefix("model.diffusion_model.", unet_to_ldm(components["unet"], configs["unet"]))
    state_dict |= with_prefix("first_stage_model.", vae_to_ldm(components["vae"], configs["vae"]))
    for name, (prefix, layout) in TEXT_ENCODER_LAYOUTS[family].items():
        state_dict |= with_prefix(prefix, text_encoder_to_ldm(components[name], configs[name], layout))
    if not family.startswith("sdxl"):
        state_dict |= schedule_buffers()
    return {key: state_dict[key].contiguous().clone() for key in sorted(state_dict)}


def make_tiny_checkpoint(arch: str, path: str, seed: int = 0, fmt: str = "safetensors", full_size: bool = False) -> str:
    """Write the tiny `arch` checkpoint (full_size: random weights at the architecture's real size) to `path` and its
    config folder beside it; return `path`."""
    if arch not in ARCH_FAMILIES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCH_FAMILIES)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state_dict = ldm_state_dict(arch, seed, full_size)
    if fmt == "safetensors":
        metadata = {"modelspec.prediction_type": "v"} if arch in V_PREDICTION_ARCHS else None
        safetensors.torch.save_file(state_dict, path, metadata=metadata)
    else:
        torch.save({"state_dict": state_dict}, path)
    write_config_folder(configs_for(arch, full_size), config_folder_for(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--arch", choices=list(ARCH_FAMILIES), help="architecture to write")
    target.add_argument("--all", action="store_true", help="write every architecture into --out-dir")
    parser.add_argument("--out", help="checkpoint path (with --arch)")
    parser.add_argument("--out-dir", help="folder for tiny-<arch> checkpoints (with --all)")
    parser.add_argument("--format", choices=list(FORMATS), default="safetensors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-size", action="store_true", help="random weights at the architecture's real size")
    args = parser.parse_args()

    if args.all:
        if not args.out_dir:
            parser.error("--all needs --out-dir")
        jobs = [(arch, os.path.join(args.out_dir, f"tiny-{arch}{FORMATS[args.format]}")) for arch in ARCH_FAMILIES]
    else:
        if not args.out:
            parser.error("--arch needs --out")
        jobs = [(args.arch, args.out)]
    for arch, path in jobs:
        print(make_tiny_checkpoint(arch, path, seed=args.seed, fmt=args.format, full_size=args.full_size))


if __name__ == "__main__":
    main()
