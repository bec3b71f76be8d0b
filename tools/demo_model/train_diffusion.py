"""Phase 2: the UNet and the CLIP text encoder together, on SD's noise schedule (epsilon prediction).

About one caption in ten is replaced by the empty prompt, so classifier-free guidance has an unconditional model.
The loss uses min-SNR weighting; exponential moving averages of both models are what gets exported.
"""

from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from tools.demo_model.configs import demo_configs
from tools.demo_model.text_tokens import caption_token_ids
from tools.demo_model.training_utils import (
    ExponentialMovingAverage,
    StopFlag,
    TimeBudget,
    load_if_exists,
    log,
    save_atomically,
    warmup_then_decay,
)
from tools.ldm_schedule import schedule_buffers


@dataclass
class DiffusionSettings:
    minutes: float = 80.0
    max_steps: int | None = None
    batch_size: int = 64
    learning_rate: float = 6e-4
    warmup_steps: int = 200
    empty_caption_probability: float = 0.1
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    checkpoint_every_s: float = 240.0
    log_every: int = 50


@dataclass
class DiffusionModels:
    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel

    def parameters(self):
        return [*self.unet.parameters(), *self.text_encoder.parameters()]


def new_models(seed: int) -> DiffusionModels:
    configs = demo_configs()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(configs["unet"])
    text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
    return DiffusionModels(unet, text_encoder)


def encode_text(text_encoder: CLIPTextModel, token_ids: torch.Tensor) -> torch.Tensor:
    """The webui's SD1 conditioning with clip skip 1: last layer, then the final layer norm."""
    return text_encoder(input_ids=token_ids).last_hidden_state


def diffusion_loss(models: DiffusionModels, latents: torch.Tensor, token_ids: torch.Tensor,
                   alphas_cumprod: torch.Tensor, gamma: float, generator: torch.Generator) -> torch.Tensor:
    timesteps = torch.randint(len(alphas_cumprod), (len(latents),), generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    alpha = alphas_cumprod[timesteps].view(-1, 1, 1, 1)
    noisy = alpha.sqrt() * latents + (1 - alpha).sqrt() * noise
    prediction = models.unet(noisy, timesteps, encoder_hidden_states=encode_text(models.text_encoder, token_ids)).sample
    snr = alpha.flatten() / (1 - alpha.flatten())
    weight = snr.clamp(max=gamma) / snr
    return (weight * (prediction - noise).square().mean(dim=(1, 2, 3))).mean()


def train_diffusion(latents: torch.Tensor, captions: list[str], checkpoint_path: str, settings: DiffusionSettings,
                    seed: int) -> dict:
    """Train (or resume) until the time or step budget is spent; returns the final checkpoint state."""
    models = new_models(seed)
    optimizer = torch.optim.AdamW(models.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed + 2)
    ema_unet = ExponentialMovingAverage(models.unet, settings.ema_decay)
    ema_text = ExponentialMovingAverage(models.text_encoder, settings.ema_decay)
    state = load_if_exists(checkpoint_path)
    step, used_s = 0, 0.0
    if state is not None:
        models.unet.load_state_dict(state["unet"])
        models.text_encoder.load_state_dict(state["text_encoder"])
        ema_unet.shadow, ema_text.shadow = state["ema_unet"], state["ema_text_encoder"]
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, used_s = state["step"], state["used_s"]
        log(f"diffusion: resuming at step {step} ({used_s / 60:.1f} min used)")

    token_ids = caption_token_ids(captions)
    empty_ids = caption_token_ids([""])[0]
    alphas_cumprod = schedule_buffers()["alphas_cumprod"]
    budget = TimeBudget(settings.minutes * 60, used_s, settings.checkpoint_every_s)
    stop = StopFlag()

    def checkpoint(done: bool) -> dict:
        snapshot = {
            "unet": models.unet.state_dict(), "text_encoder": models.text_encoder.state_dict(),
            "ema_unet": ema_unet.shadow, "ema_text_encoder": ema_text.shadow, "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(), "step": step, "used_s": budget.used_s, "done": done,
        }
        save_atomically(snapshot, checkpoint_path)
        return snapshot

    models.unet.train()
    models.text_encoder.train()
    running = 0.0
    while not budget.exhausted() and (settings.max_steps is None or step < settings.max_steps):
        index = torch.randint(len(latents), (settings.batch_size,), generator=generator)
        batch_ids = token_ids[index].clone()
        dropped = torch.rand(settings.batch_size, generator=generator) < settings.empty_caption_probability
        batch_ids[dropped] = empty_ids
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * warmup_then_decay(step, budget.fraction, settings.warmup_steps)
        loss = diffusion_loss(models, latents[index], batch_ids, alphas_cumprod, settings.min_snr_gamma, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(models.parameters(), 1.0)
        optimizer.step()
        ema_unet.update(models.unet, step)
        ema_text.update(models.text_encoder, step)
        step += 1
        running += loss.item()
        if step % settings.log_every == 0:
            log(f"diffusion step {step} loss {running / settings.log_every:.4f} {budget.used_s / 60:.1f} min")
            running = 0.0
        if stop.requested:
            checkpoint(done=False)
            raise SystemExit("stopped; run again to resume")
        if budget.checkpoint_due():
            checkpoint(done=False)
    log(f"diffusion: done after {step} steps, {budget.used_s / 60:.1f} min")
    return checkpoint(done=True)
