"""Cheap live-preview decoding of the current latent (A1111's "Approx cheap" and "Full" preview types)."""

import numpy as np
import torch
from PIL import Image

from modules import shared

# Linear map from SD's 4 latent channels to RGB, a widely used approximation (A1111's "Approx cheap").
_SD_LATENT_RGB = torch.tensor([
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
])


def _to_image(rgb: torch.Tensor) -> Image.Image:
    array = (255.0 * rgb.clamp(0, 1)).permute(1, 2, 0).float().cpu().numpy().astype(np.uint8)
    return Image.fromarray(array)


def decode_preview(latent: torch.Tensor, options) -> Image.Image | None:
    """The first image of the batch by options.show_progress_type: "Full" decodes with the VAE, anything else is
    the cheap linear approximation."""
    model = shared.sd_model
    if latent is None or model is None:
        return None
    first = latent[:1].float()
    if options.show_progress_type == "Full":
        with torch.no_grad():
            return _to_image((model.decode_first_stage(first)[0] + 1.0) / 2.0)
    if first.shape[1] != _SD_LATENT_RGB.shape[0]:
        return None
    rgb = torch.einsum("chw,cr->rhw", first[0].cpu(), _SD_LATENT_RGB)
    image = _to_image((rgb + 1.0) / 2.0)
    return image.resize((image.width * model.vae_scale_factor, image.height * model.vae_scale_factor))
