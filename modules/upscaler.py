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

    @property
    def data_path(self) -> str | None:
        return self.model_path

    @property
    def scaler(self) -> "ResamplingScaler":
        return ResamplingScaler(self)


class ResamplingScaler:
    """What A1111's UpscalerData.scaler holds, for a resampling filter: upscale(img, scale, selected_model) makes
    the image `scale` times larger, rounded down to a multiple of 8 (A1111's Upscaler.upscale)."""

    def __init__(self, data: UpscalerData):
        self.data = data
        self.name = data.name
        self.scale = data.scale

    def do_upscale(self, img: Image.Image, selected_model=None) -> Image.Image:
        if self.data.name == "None":
            return img
        return img.resize((int(img.width * self.scale), int(img.height * self.scale)), resample=self.data.resample)

    def upscale(self, img: Image.Image, scale: float, selected_model=None) -> Image.Image:
        self.scale = scale
        width, height = int((img.width * scale) // 8 * 8), int((img.height * scale) // 8 * 8)
        if (img.width, img.height) != (width, height):
            img = self.do_upscale(img, selected_model)
        if (img.width, img.height) != (width, height):
            img = img.resize((width, height), resample=Image.Resampling.LANCZOS)
        return img


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
