"""Write the trained demo model as one A1111 single-file (LDM layout) .safetensors plus its diffusers config folder.

Usage:
    python -m tools.demo_model.export --work-dir /work/demo-train [--out PATH] [--config-folder DIR]

The weights are the EMA weights of the last diffusion checkpoint and the VAE of the first phase, stored as float16.
By default the config folder is configs/diffusers/demo-shapes (named by the file's "serena.config" metadata).
"""

import argparse
import json
import os

import safetensors.torch
import torch

from modules.paths_internal import diffusers_configs_path, embedded_models_path
from modules.sd_models_metadata import CONFIG_FOLDER_METADATA
from tools.demo_model.configs import CONFIG_NAME, demo_configs
from tools.demo_model.shapes import DATA_VERSION, RESOLUTION, caption_for
from tools.diffusers_to_ldm import unet_to_ldm, vae_to_ldm
from tools.ldm_schedule import schedule_buffers
from tools.make_tiny_checkpoint import TEXT_ENCODER_LAYOUTS, WEIGHT_DTYPE, text_encoder_to_ldm, with_prefix
from tools.tiny_configs import write_config_folder

DEFAULT_OUT = os.path.join(embedded_models_path, "Stable-diffusion", "serena-demo-shapes.safetensors")
DEFAULT_CONFIG_FOLDER = os.path.join(diffusers_configs_path, CONFIG_NAME)
VAE_STATE = "vae.pt"
DIFFUSION_STATE = "diffusion.pt"
TRAINING_STATE = "training.json"


def ldm_state_dict(unet: dict, vae: dict, text_encoder: dict, configs: dict) -> dict[str, torch.Tensor]:
    """diffusers / transformers state dicts -> one SD1 checkpoint state dict, weights as float16."""
    text_prefix, layout = TEXT_ENCODER_LAYOUTS["sd1"]["text_encoder"]
    weights = with_prefix("model.diffusion_model.", unet_to_ldm(unet, configs["unet"]))
    weights |= with_prefix("first_stage_model.", vae_to_ldm(vae, configs["vae"]))
    weights |= with_prefix(text_prefix, text_encoder_to_ldm(text_encoder, configs["text_encoder"], layout))
    weights = {k: v.to(WEIGHT_DTYPE) if v.is_floating_point() else v for k, v in weights.items()}
    weights |= schedule_buffers()
    return {key: weights[key].contiguous().clone() for key in sorted(weights)}


def checkpoint_metadata(training_seed: int) -> dict[str, str]:
    return {
        "serena.config": CONFIG_NAME,
        "serena.native_resolution": f"{RESOLUTION}x{RESOLUTION}",
        "serena.training_seed": str(training_seed),
        "serena.data_version": DATA_VERSION,
    }


def config_folder_metadata() -> dict[str, str]:
    """Kept beside the weights, so the file (and its hash) need not change to describe it."""
    return {"serena.example_prompt": caption_for("circle", "red", "black")}


def write_config_folder_metadata(config_folder: str) -> None:
    with open(os.path.join(config_folder, CONFIG_FOLDER_METADATA), "w", encoding="utf-8") as f:
        json.dump(config_folder_metadata(), f, indent=2)
        f.write("\n")


def export_model(unet: dict, vae: dict, text_encoder: dict, vae_scaling_factor: float, training_seed: int,
                 out: str = DEFAULT_OUT, config_folder: str = DEFAULT_CONFIG_FOLDER) -> str:
    configs = demo_configs(vae_scaling_factor)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    safetensors.torch.save_file(ldm_state_dict(unet, vae, text_encoder, configs), out,
                                metadata=checkpoint_metadata(training_seed))
    write_config_folder(configs, config_folder)
    write_config_folder_metadata(config_folder)
    return out


def export_from_work_dir(work_dir: str, out: str = DEFAULT_OUT, config_folder: str = DEFAULT_CONFIG_FOLDER) -> str:
    with open(os.path.join(work_dir, TRAINING_STATE), encoding="utf-8") as f:
        training = json.load(f)
    vae = torch.load(os.path.join(work_dir, VAE_STATE), map_location="cpu", weights_only=False)["vae"]
    diffusion = torch.load(os.path.join(work_dir, DIFFUSION_STATE), map_location="cpu", weights_only=False)
    unet = {k: diffusion["ema_unet"].get(k, v) for k, v in diffusion["unet"].items()}
    text_encoder = {k: diffusion["ema_text_encoder"].get(k, v) for k, v in diffusion["text_encoder"].items()}
    return export_model(unet, vae, text_encoder, training["vae_scaling_factor"], training["seed"], out, config_folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True, help="the training folder (tools.demo_model.train --work-dir)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--config-folder", default=DEFAULT_CONFIG_FOLDER)
    args = parser.parse_args()
    path = export_from_work_dir(args.work_dir, args.out, args.config_folder)
    print(f"{path} ({os.path.getsize(path) / 1e6:.1f} MB), config folder {args.config_folder}")


if __name__ == "__main__":
    main()
