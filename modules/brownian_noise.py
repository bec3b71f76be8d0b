"""The Brownian trees of the SDE samplers (DPM++ SDE, ours and diffusers' scheduler: torchsde underneath) draw
their noise where the generation draws its noise (randn_source), as A1111 makes torchsde do: with "CPU" a GPU
draws the images the CPU draws."""

from collections.abc import Callable

import torch
from torchsde._brownian import brownian_interval

from modules import devices


def drawing_with(randn_source: Callable[[], str]):
    """torchsde's draw of one node of a tree: seeded by `seed`, drawn in fp32 on the noise device (randn_source(),
    read at each draw: the options of the generation drawing), given on `device` in `dtype`."""

    def randn(size, dtype, device, seed) -> torch.Tensor:
        noise_device = devices.cpu if randn_source() == "CPU" else torch.device(device)
        generator = torch.Generator(noise_device).manual_seed(int(seed))
        return torch.randn(size, device=noise_device, generator=generator).to(device=device, dtype=dtype)

    return randn


def install(randn_source: Callable[[], str]) -> None:
    brownian_interval._randn = drawing_with(randn_source)
