"""The Brownian trees of the SDE samplers (DPM++ SDE, ours and diffusers' scheduler: torchsde underneath) draw
their noise where the generation draws its noise (randn_source), as A1111 makes torchsde do: with "CPU" a GPU
draws the images the CPU draws."""

import torch
from torchsde._brownian import brownian_interval

from modules import devices
from modules.opts_snapshot import options_for


def randn_where_the_generation_draws(size, dtype, device, seed) -> torch.Tensor:
    """torchsde's draw of one node of a tree: seeded by `seed`, drawn in fp32 on the noise device (randn_source of
    the options in this context: a job's own layer, which a change of the settings meanwhile does not reach), given
    on `device` in `dtype`."""
    noise_device = devices.cpu if options_for().randn_source == "CPU" else torch.device(device)
    generator = torch.Generator(noise_device).manual_seed(int(seed))
    return torch.randn(size, device=noise_device, generator=generator).to(device=device, dtype=dtype)


def install() -> None:
    brownian_interval._randn = randn_where_the_generation_draws
