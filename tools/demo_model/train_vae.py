"""Phase 1: the AutoencoderKL, trained on the shapes with colour-weighted reconstruction losses.

Then the whole data set is encoded once (the latent means), and the scaling factor is set from their spread.
"""

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL

from tools.demo_model.configs import demo_configs
from tools.demo_model.shapes import ShapeDataset
from tools.demo_model.training_utils import (
    StopFlag,
    TimeBudget,
    load_if_exists,
    log,
    save_atomically,
    warmup_then_decay,
)


@dataclass
class VaeSettings:
    minutes: float = 15.0
    max_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    foreground_weight: float = 4.0  # extra pixel-loss weight on the shape (it covers a small part of the image)
    colour_weight: float = 2.0  # error of each shape's mean colour
    kl_weight: float = 1e-4  # on the KL summed over the latent, per image pixel
    bf16: bool = True
    checkpoint_every_s: float = 180.0
    log_every: int = 25


def images_to_tensor(images) -> torch.Tensor:
    """uint8 N×H×W×3 -> float N×3×H×W in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def masks_to_tensor(masks) -> torch.Tensor:
    return torch.from_numpy(masks).float().unsqueeze(1) / 255.0


def vae_loss(vae: AutoencoderKL, images: torch.Tensor, masks: torch.Tensor, settings: VaeSettings,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    posterior = vae.encode(images).latent_dist
    reconstruction = vae.decode(posterior.sample(generator)).sample.float()
    error = reconstruction - images
    weight = 1.0 + settings.foreground_weight * masks
    pixel = (error.abs() * weight).mean() + (error.square() * weight).mean()
    coverage = masks.sum(dim=(2, 3)).clamp(min=1.0)
    colour = ((error * masks).sum(dim=(2, 3)) / coverage).abs().mean()
    kl = posterior.kl().float().mean() / images[0].numel()
    loss = pixel + settings.colour_weight * colour + settings.kl_weight * kl
    return loss, {"pixel": pixel.item(), "colour": colour.item(), "kl": kl.item()}


def new_vae(seed: int) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL.from_config(demo_configs()["vae"])


def train_vae(dataset: ShapeDataset, checkpoint_path: str, settings: VaeSettings, seed: int) -> AutoencoderKL:
    """Train (or resume) the VAE until its time or step budget is spent; returns it in eval mode."""
    vae = new_vae(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed + 1)
    state = load_if_exists(checkpoint_path)
    step, used_s = 0, 0.0
    if state is not None:
        vae.load_state_dict(state["vae"])
        if state.get("done"):
            log(f"vae: finished earlier ({state['step']} steps, {state['used_s'] / 60:.1f} min)")
            return vae.eval()
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, used_s = state["step"], state["used_s"]
        log(f"vae: resuming at step {step} ({used_s / 60:.1f} min used)")

    budget = TimeBudget(settings.minutes * 60, used_s, settings.checkpoint_every_s)
    stop = StopFlag()

    def checkpoint(done: bool) -> None:
        save_atomically({"vae": vae.state_dict(), "optimizer": optimizer.state_dict(), "generator":
                         generator.get_state(), "step": step, "used_s": budget.used_s, "done": done}, checkpoint_path)

    vae.train()
    count = len(dataset.images)
    while not budget.exhausted() and (settings.max_steps is None or step < settings.max_steps):
        index = torch.randint(count, (settings.batch_size,), generator=generator).numpy()
        images = images_to_tensor(dataset.images[index])
        masks = masks_to_tensor(dataset.masks[index])
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * warmup_then_decay(step, budget.fraction, settings.warmup_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.bf16):
            loss, parts = vae_loss(vae, images, masks, settings, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % settings.log_every == 0:
            details = " ".join(f"{k} {v:.4f}" for k, v in parts.items())
            log(f"vae step {step} loss {loss.item():.4f} ({details}) {budget.used_s / 60:.1f} min")
        if stop.requested:
            checkpoint(done=False)
            raise SystemExit("stopped; run again to resume")
        if budget.checkpoint_due():
            checkpoint(done=False)
    checkpoint(done=True)
    log(f"vae: done after {step} steps, {budget.used_s / 60:.1f} min")
    return vae.eval()


@torch.no_grad()
def encode_dataset(vae: AutoencoderKL, dataset: ShapeDataset, batch_size: int = 256) -> torch.Tensor:
    """Latent means of every image (unscaled), N×4×h×w float32."""
    latents = []
    for start in range(0, len(dataset.images), batch_size):
        images = images_to_tensor(dataset.images[start:start + batch_size])
        latents.append(vae.encode(images).latent_dist.mean)
    return torch.cat(latents)


def scaling_factor_for(latents: torch.Tensor) -> float:
    """SD's convention: scaled latents have unit standard deviation."""
    return float(1.0 / latents.std())
