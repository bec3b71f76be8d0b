"""Tiny diffusers config folders: the full configs of configs/diffusers/<arch>/ with only the sizes shrunk."""

import copy
import json
import os

from modules.paths_internal import diffusers_configs_path

# Architecture folder name -> model family (which text encoders and checkpoint layout it uses).
ARCH_FAMILIES = {
    "sd15": "sd1",
    "sd15-inpaint": "sd1",
    "sd2": "sd2",
    "sd2-v": "sd2",
    "sd2-inpaint": "sd2",
    "sdxl-base": "sdxl",
    "sdxl-refiner": "sdxl-refiner",
}

TIME_ID_FEATURES = 6 * 256  # SDXL: six micro-conditioning numbers, each embedded with addition_time_embed_dim 256
REFINER_TIME_ID_FEATURES = 5 * 256  # the refiner: size, crop and aesthetic score

TINY_TEXT_ENCODERS = {
    "sd1": {"text_encoder": 32},
    "sd2": {"text_encoder": 32},
    # Different widths keep the two SDXL encoders apart, as diffusers tells them apart by width.
    "sdxl": {"text_encoder": 16, "text_encoder_2": 32},
    "sdxl-refiner": {"text_encoder_2": 32},
}

TINY_UNET = {
    "sd1": {
        "attention_head_dim": 4,
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    },
    "sd2": {
        "attention_head_dim": [4, 8],
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    },
    "sdxl": {
        "attention_head_dim": [4, 8],
        "cross_attention_dim": 16 + 32,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "transformer_layers_per_block": [1, 2],
        "projection_class_embeddings_input_dim": TIME_ID_FEATURES + 32,
    },
    "sdxl-refiner": {
        "attention_head_dim": [4, 8],
        "cross_attention_dim": 32,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "transformer_layers_per_block": [1, 2],
        "projection_class_embeddings_input_dim": REFINER_TIME_ID_FEATURES + 32,
    },
}
TINY_UNET_COMMON = {"block_out_channels": [32, 64], "layers_per_block": 1, "norm_num_groups": 8, "sample_size": 32}

TINY_VAE = {
    "block_out_channels": [32, 64],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 64,
}

HEAD_DIM = 8
TEXT_ENCODER_LAYERS = 2

CONFIG_FILES = {
    "model_index": "model_index.json",
    "unet": "unet/config.json",
    "vae": "vae/config.json",
    "text_encoder": "text_encoder/config.json",
    "text_encoder_2": "text_encoder_2/config.json",
    "scheduler": "scheduler/scheduler_config.json",
}


def tiny_text_encoder(config: dict, hidden_size: int) -> dict:
    return {
        **config,
        "hidden_size": hidden_size,
        "intermediate_size": 4 * hidden_size,
        "num_attention_heads": hidden_size // HEAD_DIM,
        "num_hidden_layers": TEXT_ENCODER_LAYERS,
        "projection_dim": hidden_size,
    }


def load_full_configs(arch: str) -> dict[str, dict]:
    """The full-size configs of one architecture, keyed like CONFIG_FILES (absent files left out)."""
    folder = os.path.join(diffusers_configs_path, arch)
    configs = {}
    for name, relative in CONFIG_FILES.items():
        path = os.path.join(folder, relative)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                configs[name] = json.load(f)
    return configs


def tiny_configs(arch: str) -> dict[str, dict]:
    family = ARCH_FAMILIES[arch]
    configs = copy.deepcopy(load_full_configs(arch))
    configs["unet"].update(TINY_UNET_COMMON, **TINY_UNET[family])
    configs["vae"].update(TINY_VAE)
    for name, hidden_size in TINY_TEXT_ENCODERS[family].items():
        configs[name] = tiny_text_encoder(configs[name], hidden_size)
    return configs


def write_config_folder(configs: dict[str, dict], folder: str) -> None:
    for name, config in configs.items():
        path = os.path.join(folder, CONFIG_FILES[name])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
