"""--medvram, --medvram-sdxl and --lowvram (A1111's modules/lowvram.py): the model's parts stay in RAM and each is
moved to the GPU when it is called, the part there before going back, so that one part at a time takes GPU memory.
With --medvram the parts are the text encoders, the UNet and the VAE; with --lowvram the UNet's down, middle and up
blocks are parts of their own (the rest of the UNet, small, stays on the GPU). What a part is called with is moved
to the GPU with it."""

import threading

import torch
from torch.utils._pytree import tree_map

from modules import devices

UNET_BLOCKS = ("down_blocks", "mid_block", "up_blocks")


def mode(cmd_opts, is_sdxl: bool) -> str | None:
    """"lowvram", "medvram" or None: what the flags ask for a model of this kind (--medvram-sdxl: SDXL only)."""
    if getattr(cmd_opts, "lowvram", False):
        return "lowvram"
    if getattr(cmd_opts, "medvram", False) or (getattr(cmd_opts, "medvram_sdxl", False) and is_sdxl):
        return "medvram"
    return None


class Offload:
    def __init__(self, device: torch.device):
        self.device = device
        self.part_on_device: torch.nn.Module | None = None
        self._lock = threading.Lock()

    def add_part(self, part: torch.nn.Module, triggers: list[torch.nn.Module] | None = None) -> None:
        """part goes to RAM now and to the device when one of triggers (the part itself by default) is called."""
        part.to(devices.cpu)
        for trigger in triggers or [part]:
            trigger.register_forward_pre_hook(lambda module, args, kwargs, part=part: self.bring(part, args, kwargs),
                                              with_kwargs=True)

    def bring(self, part: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        with self._lock:
            if self.part_on_device is not part:
                if self.part_on_device is not None:
                    self.move(self.part_on_device, devices.cpu)
                self.move(part, self.device)
                self.part_on_device = part
        return tree_map(self._to_device, args), tree_map(self._to_device, kwargs)

    def move(self, part: torch.nn.Module, device: torch.device) -> None:
        part.to(device)

    def _to_device(self, value):
        return value.to(self.device) if isinstance(value, torch.Tensor) else value

    def add_vae(self, vae: torch.nn.Module) -> None:
        """A VAE (the checkpoint's, or one loaded in its place) as a part: called through its encoder and decoder."""
        triggers = [getattr(vae, name) for name in ("encoder", "decoder", "quant_conv", "post_quant_conv")]
        self.add_part(vae, [trigger for trigger in triggers if trigger is not None])


def setup_for_low_vram(sd_model, use_medvram: bool, device: torch.device) -> Offload:
    """Installs the offload on a model built in RAM; the model says it runs on device (sd_model.device)."""
    offload = Offload(device)
    encoders = [encoder for encoder in (sd_model.text_encoder, getattr(sd_model, "text_encoder_2", None))
                if encoder is not None]
    offload.add_part(torch.nn.ModuleList(encoders), encoders)
    if use_medvram:
        offload.add_part(sd_model.unet)
    else:
        unet = sd_model.unet
        for name, child in unet.named_children():  # the rest moved alone: the whole UNet may not fit at once
            if name not in UNET_BLOCKS:
                child.to(device)
        for block in filter(None, [*unet.down_blocks, unet.mid_block, *unet.up_blocks]):
            offload.add_part(block)
    offload.add_vae(sd_model.vae)
    sd_model.execution_device = device
    sd_model.offload = offload
    sd_model.lowvram = True
    return offload


def is_enabled(sd_model) -> bool:
    return bool(getattr(sd_model, "lowvram", False))


def send_everything_to_cpu(sd_model) -> None:
    offload = getattr(sd_model, "offload", None)
    if offload is not None and offload.part_on_device is not None:
        offload.move(offload.part_on_device, devices.cpu)
        offload.part_on_device = None
