"""The demo model's diffusers configs: SD 1.5's full configs (configs/diffusers/sd15) with tiny sizes.

32×32 pixels; the VAE downsamples 4× to 8×8×4 latents; the UNet has cross-attention at both of its levels.
"""

import copy

from tools.demo_model.shapes import RESOLUTION
from tools.tiny_configs import load_full_configs, tiny_text_encoder

CONFIG_NAME = "demo-shapes"
BASE_ARCH = "sd15"
TEXT_WIDTH = 64

VAE = {
    "block_out_channels": [16, 32, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": RESOLUTION,
}
VAE_DOWNSCALE = 2 ** (len(VAE["block_out_channels"]) - 1)

UNET = {
    "sample_size": RESOLUTION // VAE_DOWNSCALE,
    "block_out_channels": [32, 64],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "layers_per_block": 1,
    "attention_head_dim": 4,
    "cross_attention_dim": TEXT_WIDTH,
    "norm_num_groups": 8,
}


def demo_configs(vae_scaling_factor: float = 1.0) -> dict[str, dict]:
    """Configs keyed like tools.tiny_configs.CONFIG_FILES (model_index, unet, vae, text_encoder, scheduler)."""
    configs = copy.deepcopy(load_full_configs(BASE_ARCH))
    configs["unet"].update(UNET)
    configs["vae"].update(VAE, scaling_factor=float(vae_scaling_factor))
    configs["text_encoder"] = tiny_text_encoder(configs["text_encoder"], TEXT_WIDTH)
    return configs
