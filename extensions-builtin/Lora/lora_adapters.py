"""LoRA files on a loaded model through diffusers' LoRA loaders and peft adapters, never merged into the weights.

Each network becomes one peft adapter per model component it has keys for; its multipliers are the adapters'
weights. remove_adapters() takes the peft layers out again, so every module of the model is once more the very
module (and the very tensors) it was before."""

import safetensors.torch
import torch
from diffusers.loaders import StableDiffusionLoraLoaderMixin, StableDiffusionXLLoraLoaderMixin
from diffusers.loaders.lora_base import _remove_text_encoder_monkey_patch
from diffusers.utils.peft_utils import delete_adapter_layers, set_weights_and_activate_adapters

UNET = "unet"
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")


def _loader(sd_model):
    return StableDiffusionXLLoraLoaderMixin if sd_model.is_sdxl else StableDiffusionLoraLoaderMixin


def read_lora_state_dict(filename: str, sd_model) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The file's tensors in diffusers' naming (`unet.…`, `text_encoder.…`, `text_encoder_2.…`) and its alphas.
    The file is read here and diffusers gets the tensors, so a path is never taken for a hub repository id."""
    unet_config = sd_model.unet.config if sd_model.is_sdxl else None
    tensors = safetensors.torch.load_file(filename)
    state_dict, network_alphas = _loader(sd_model).lora_state_dict(tensors, unet_config=unet_config)
    return state_dict, network_alphas or {}


def components_in(state_dict: dict) -> set[str]:
    return {key.split(".", 1)[0] for key in state_dict}


def _text_encoders(sd_model) -> dict[str, torch.nn.Module]:
    return {name: getattr(sd_model, name) for name in TEXT_ENCODERS if getattr(sd_model, name, None) is not None}


def add_adapter(sd_model, adapter_name: str, state_dict: dict, network_alphas: dict) -> set[str]:
    """Injects one LoRA as the adapter `adapter_name`; returns the components it was added to."""
    loader = _loader(sd_model)
    present = components_in(state_dict)
    added = set()
    if UNET in present:
        loader.load_lora_into_unet(dict(state_dict), dict(network_alphas), unet=sd_model.unet,
                                   adapter_name=adapter_name)
        added.add(UNET)
    for name, text_encoder in _text_encoders(sd_model).items():
        if name in present:
            loader.load_lora_into_text_encoder(dict(state_dict), dict(network_alphas), text_encoder, prefix=name,
                                               adapter_name=adapter_name)
            added.add(name)
    return added


def set_multipliers(sd_model, adapters: dict[str, tuple[set[str], float, float]]) -> None:
    """adapters: {adapter name: (components it is in, text encoder multiplier, UNet multiplier)}."""
    components = {UNET: sd_model.unet, **_text_encoders(sd_model)}
    for component_name, module in components.items():
        names = [name for name, (present, _, _) in adapters.items() if component_name in present]
        if not names:
            continue
        weights = [adapters[name][2] if component_name == UNET else adapters[name][1] for name in names]
        set_weights_and_activate_adapters(module, names, weights)


def discard_adapter(sd_model, adapter_name: str) -> None:
    """Deletes what a failed add_adapter() left of one adapter, so it can never be active."""
    for module in (sd_model.unet, *_text_encoders(sd_model).values()):
        delete_adapter_layers(module, adapter_name)
        peft_config = getattr(module, "peft_config", None)
        if isinstance(peft_config, dict):
            peft_config.pop(adapter_name, None)


def remove_adapters(sd_model) -> None:
    """Puts every module a LoRA adapter wrapped back in its place, with the model's own weights untouched."""
    if getattr(sd_model.unet, "peft_config", None) is not None:
        sd_model.unet.unload_lora()
    for text_encoder in _text_encoders(sd_model).values():
        _remove_text_encoder_monkey_patch(text_encoder)
