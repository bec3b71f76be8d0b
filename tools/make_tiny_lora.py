"""Write a tiny random LoRA for a tiny checkpoint, in the kohya / A1111 safetensors key format.

Usage:
    python -m tools.make_tiny_lora --arch sd15 --out models/Lora/tiny.safetensors [--seed 0] [--rank 4]

Keys are `<kohya module name>.lora_down.weight`, `.lora_up.weight` and `.alpha`: the UNet's attention projections
under `lora_unet_` (diffusers block names for SD1/SD2, the original `input_blocks`/`middle_block`/`output_blocks`
names for SDXL, as kohya's trainers write them) and the text encoder's attention and MLP layers under `lora_te_`
(SDXL: `lora_te1_` and `lora_te2_`). Shapes match the tiny checkpoint of the same arch (tools/make_tiny_checkpoint).
"""

import argparse
import math
import os
import re

import safetensors.torch
import torch

from tools.make_tiny_checkpoint import TEXT_ENCODER_LAYOUTS, _empty_component
from tools.tiny_configs import ARCH_FAMILIES, tiny_configs

WEIGHT_DTYPE = torch.float16
UNET_TARGETS = (".to_q", ".to_k", ".to_v", ".to_out.0")
TEXT_ENCODER_TARGETS = (".q_proj", ".k_proj", ".v_proj", ".out_proj", ".fc1", ".fc2")
# the product up @ down has about the norm of the layer's own weight: enough to change a tiny model's image
STRENGTH = 1.0

KOHYA_TEXT_ENCODER_PREFIXES = {
    "sd1": {"text_encoder": "lora_te_"},
    "sd2": {"text_encoder": "lora_te_"},
    "sdxl": {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"},
}
LORA_ARCHS = [arch for arch, family in ARCH_FAMILIES.items() if family in KOHYA_TEXT_ENCODER_PREFIXES]


def _linear_layers(model: torch.nn.Module, suffixes: tuple[str, ...]) -> dict[str, torch.nn.Linear]:
    return {name: module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.endswith(suffixes)}


def sgm_unet_name(name: str, layers_per_block: int) -> str:
    """A diffusers UNet attention module name in the original (sgm) UNet's numbering, as kohya names SDXL layers."""
    blocks_per_level = layers_per_block + 1
    if match := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", name):
        level, index, rest = int(match[1]), int(match[2]), match[3]
        return f"input_blocks.{1 + level * blocks_per_level + index}.1.{rest}"
    if match := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", name):
        level, index, rest = int(match[1]), int(match[2]), match[3]
        return f"output_blocks.{level * blocks_per_level + index}.1.{rest}"
    if match := re.match(r"mid_block\.attentions\.0\.(.*)", name):
        return f"middle_block.1.{match[1]}"
    raise ValueError(f"not an attention module of the UNet: {name}")


def _kohya_name(prefix: str, module_name: str) -> str:
    return prefix + module_name.replace(".", "_")


def _lora_pair(layer: torch.nn.Linear, rank: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    down = torch.randn(rank, layer.in_features, generator=generator) / math.sqrt(layer.in_features)
    up = STRENGTH * torch.randn(layer.out_features, rank, generator=generator) / math.sqrt(rank)
    return down.to(WEIGHT_DTYPE), up.to(WEIGHT_DTYPE)


def lora_module_names(arch: str) -> dict[str, tuple[str, torch.nn.Linear]]:
    """{kohya module name: (component, layer of the empty tiny model)} for every layer the tiny LoRA changes."""
    family = ARCH_FAMILIES[arch]
    configs = tiny_configs(arch)
    names = {}
    unet = _empty_component("unet", configs["unet"], family)
    for name, layer in _linear_layers(unet, UNET_TARGETS).items():
        kohya = sgm_unet_name(name, configs["unet"]["layers_per_block"]) if family == "sdxl" else name
        names[_kohya_name("lora_unet_", kohya)] = ("unet", layer)
    for component in TEXT_ENCODER_LAYOUTS[family]:
        text_encoder = _empty_component(component, configs[component], family)
        for name, layer in _linear_layers(text_encoder, TEXT_ENCODER_TARGETS).items():
            full_name = name if name.startswith("text_model.") else f"text_model.{name}"
            names[_kohya_name(KOHYA_TEXT_ENCODER_PREFIXES[family][component], full_name)] = (component, layer)
    return names


def tiny_lora_state_dict(arch: str, seed: int = 0, rank: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state_dict = {}
    for name, (_, layer) in sorted(lora_module_names(arch).items()):
        down, up = _lora_pair(layer, rank, generator)
        state_dict[f"{name}.lora_down.weight"] = down
        state_dict[f"{name}.lora_up.weight"] = up
        state_dict[f"{name}.alpha"] = torch.tensor(float(rank), dtype=WEIGHT_DTYPE)
    return state_dict


def make_tiny_lora(arch: str, path: str, seed: int = 0, rank: int = 4) -> str:
    """Write the tiny LoRA for `arch` to `path`; return `path`."""
    if arch not in LORA_ARCHS:
        raise ValueError(f"no tiny LoRA for architecture {arch!r}; choose from {', '.join(LORA_ARCHS)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(rank),
                "ss_base_model_version": arch}
    safetensors.torch.save_file(tiny_lora_state_dict(arch, seed, rank), path, metadata=metadata)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=LORA_ARCHS, required=True, help="architecture it is made for")
    parser.add_argument("--out", required=True, help="LoRA file to write (.safetensors)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=4)
    args = parser.parse_args()
    print(make_tiny_lora(args.arch, args.out, seed=args.seed, rank=args.rank))


if __name__ == "__main__":
    main()
