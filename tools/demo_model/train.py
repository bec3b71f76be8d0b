"""Train the demo model on this CPU: the VAE, then the UNet + text encoder. Resumable: run it again to continue.

Usage (in the background, logging outside the repository):
    nice -n 10 python -m tools.demo_model.train --work-dir /work/demo-train >> /work/demo-train/train.log 2>&1 &

The work dir keeps vae.pt, latents.pt, diffusion.pt (checkpoints, written atomically every few minutes and on
SIGTERM) and training.json (seed, data version, VAE scaling factor). The VAE and its latents depend on the images
only, so a new caption version can reuse them (copy vae.pt and latents.pt into a fresh work dir). A larger --diffusion-minutes continues a
finished run. Then: python -m tools.demo_model.export --work-dir /work/demo-train
"""

import argparse
import json
import os

import torch

from tools.demo_model.export import DIFFUSION_STATE, TRAINING_STATE, VAE_STATE
from tools.demo_model.shapes import DATA_VERSION, RESOLUTION, make_dataset
from tools.demo_model.train_diffusion import DiffusionSettings, train_diffusion
from tools.demo_model.train_vae import VaeSettings, encode_dataset, scaling_factor_for, train_vae
from tools.demo_model.training_utils import log, save_atomically

LATENTS_STATE = "latents.pt"


def prepare_latents(work_dir: str, vae, dataset) -> tuple[torch.Tensor, float]:
    """(scaled latents of the data set, VAE scaling factor), cached in the work dir."""
    path = os.path.join(work_dir, LATENTS_STATE)
    if not os.path.exists(path):
        log("encoding the data set")
        latents = encode_dataset(vae, dataset)
        scaling_factor = scaling_factor_for(latents)
        log(f"latent mean {latents.mean():.3f} std {latents.std():.3f} -> scaling factor {scaling_factor:.5f}")
        save_atomically({"latents": latents * scaling_factor, "scaling_factor": scaling_factor}, path)
    state = torch.load(path, map_location="cpu")
    return state["latents"], state["scaling_factor"]


def write_training_record(work_dir: str, seed: int, dataset_size: int, scaling_factor: float) -> None:
    """training.json: what the export writes into the checkpoint's metadata and VAE config."""
    record = {"seed": seed, "data_version": DATA_VERSION, "dataset_size": dataset_size, "resolution": RESOLUTION,
              "vae_scaling_factor": scaling_factor}
    with open(os.path.join(work_dir, TRAINING_STATE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--seed", type=int, default=0, help="data set and training seed")
    parser.add_argument("--dataset-size", type=int, default=40000)
    parser.add_argument("--vae-minutes", type=float, default=VaeSettings.minutes)
    parser.add_argument("--vae-steps", type=int, default=None, help="cap on VAE steps (smoke runs)")
    parser.add_argument("--diffusion-minutes", type=float, default=DiffusionSettings.minutes)
    parser.add_argument("--diffusion-steps", type=int, default=None, help="cap on diffusion steps (smoke runs)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on a busy 2-core machine one thread is several times faster than two")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    log(f"data set: {args.dataset_size} images, seed {args.seed}, {DATA_VERSION}")
    dataset = make_dataset(args.dataset_size, args.seed)

    vae_settings = VaeSettings(minutes=args.vae_minutes, max_steps=args.vae_steps)
    vae = train_vae(dataset, os.path.join(args.work_dir, VAE_STATE), vae_settings, args.seed)
    latents, scaling_factor = prepare_latents(args.work_dir, vae, dataset)
    write_training_record(args.work_dir, args.seed, args.dataset_size, scaling_factor)

    diffusion_settings = DiffusionSettings(minutes=args.diffusion_minutes, max_steps=args.diffusion_steps)
    train_diffusion(latents, dataset.captions, os.path.join(args.work_dir, DIFFUSION_STATE), diffusion_settings,
                    args.seed)


if __name__ == "__main__":
    main()
