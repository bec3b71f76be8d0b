"""Upscalers for hires fix and img2img: latent interpolation modes and image resamplers."""

from dataclasses import dataclass

import torch
from PIL import Image

latent_upscale_modes = {
    "Latent": {"mode": "bilinear", "antialias": False},
    "Latent (antialiased)": {"mode": "bilinear", "antialias": True},
    "Latent (bicubic)": {"mode": "bicubic", "antialias": False},
    "Latent (bicubic antialiased)": {"mode": "bicubic", "antialias": True},
    "Latent (nearest)": {"mode": "nearest", "antialias": False},
    "Latent (nearest-exact)": {"mode": "nearest-exact", "antialias": False},
}
latent_upscale_default_mode = "Latent"


@dataclass(frozen=True)
class UpscalerData:
    name: str
    resample: int
    scale: float = 4.0
    model_name: str | None = None
    model_path: str | None = None
    model_url: str | None = None


sd_upscalers = [
    UpscalerData("None", Image.Resampling.LANCZOS),
    UpscalerData("Lanczos", Image.Resampling.LANCZOS),
    UpscalerData("Nearest", Image.Resampling.NEAREST),
]


def find_upscaler(name: str | None) -> UpscalerData:
    for upscaler in sd_upscalers:
        if name is None or upscaler.name.lower() == name.lower():
            return upscaler
    raise ValueError(f"upscaler not found: {name!r}")


def is_known(name: str | None) -> bool:
    return name in (None, "") or name in latent_upscale_modes or any(u.name == name for u in sd_upscalers)


def upscale_image(image: Image.Image, width: int, height: int, upscaler_name: str | None = None) -> Image.Image:
    return image.resize((width, height), resample=find_upscaler(upscaler_name).resample)


def upscale_latent(latent: torch.Tensor, height: int, width: int, mode_name: str) -> torch.Tensor:
    mode = latent_upscale_modes[mode_name]
    return torch.nn.functional.interpolate(latent, size=(height, width), mode=mode["mode"],
                                           antialias=mode["antialias"])
