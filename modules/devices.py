"""Device and dtype selection (A1111's modules/devices.py names)."""

import contextlib
import ctypes
import ctypes.util
import gc
import sys

import torch

from modules.nan_check import NansException, test_for_nans  # noqa: F401 (A1111 names)

cpu = torch.device("cpu")
device: torch.device = cpu
dtype: torch.dtype = torch.float32
dtype_vae: torch.dtype = torch.float32
dtype_unet: torch.dtype = torch.float32
unet_needs_upcast = False
"""--upcast-sampling over a 16-bit UNet: sampling runs in fp32 without autocast, cast at the UNet's boundary"""


def _use_cpu_for(task: str, cmd_opts) -> bool:
    requested = getattr(cmd_opts, "use_cpu", None) or []
    return "all" in requested or task in requested


def get_optimal_device_name() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def get_device_for(task: str, cmd_opts=None) -> torch.device:
    if cmd_opts is not None and _use_cpu_for(task, cmd_opts):
        return cpu
    name = get_optimal_device_name()
    device_id = getattr(cmd_opts, "device_id", None)
    return torch.device(f"cuda:{device_id}" if name == "cuda" and device_id is not None else name)


def choose_dtype(target: torch.device, cmd_opts=None, for_vae: bool = False) -> torch.dtype:
    """fp32 on CPU and whenever --no-half (or --no-half-vae for the VAE) or --precision full asks for it."""
    if target.type == "cpu":
        return torch.float32
    if cmd_opts is not None:
        if getattr(cmd_opts, "no_half", False) or getattr(cmd_opts, "precision", "autocast") == "full":
            return torch.float32
        if for_vae and getattr(cmd_opts, "no_half_vae", False):
            return torch.float32
    return torch.float16


def init(cmd_opts=None) -> torch.device:
    """Selects the generation device and dtypes from the command line; returns the device."""
    global device, dtype, dtype_vae, dtype_unet, unet_needs_upcast
    device = get_device_for("sd", cmd_opts)
    dtype = dtype_unet = choose_dtype(device, cmd_opts)
    dtype_vae = choose_dtype(device, cmd_opts, for_vae=True)
    unet_needs_upcast = bool(getattr(cmd_opts, "upcast_sampling", False)) and dtype_unet == torch.float16
    return device


def state_dict_device(file_bytes: int, free_bytes: int | None = None) -> torch.device:
    """Where a checkpoint's tensors are read to: straight onto the GPU when twice the file fits in its free memory
    (the file's tensors and the model made from them are there at once), else the CPU."""
    if device.type != "cuda":
        return cpu
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    return device if 2 * file_bytes <= free_bytes else cpu


def apply_memory_format(module: torch.nn.Module, cmd_opts) -> torch.nn.Module:
    """--opt-channelslast, as A1111: the module's 4-D weights in the channels-last layout (convolutions on tensor
    cores run faster so); otherwise the module as it is."""
    if getattr(cmd_opts, "opt_channelslast", False):
        module.to(memory_format=torch.channels_last)
    return module


def free_memory_bytes() -> int:
    """What the model device has free: the GPU's free memory, or the RAM available on the CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import psutil

    return psutil.virtual_memory().available


def autocast(disable: bool = False):
    if disable or dtype == torch.float32 or device.type == "cpu" or unet_needs_upcast:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def without_autocast(device_type: str):
    """A1111's devices.without_autocast: inside the sampling's autocast, what runs here computes in its own weights'
    dtype (the VAE: fp32 where it must be, whatever autocast would choose)."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _release_freed_heap() -> None:
    """Hands freed malloc arenas back to the OS (glibc keeps them), so RSS falls after a model is dropped."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def torch_gc() -> None:
    """Returns freed heap and cached accelerator memory (cheap; called around every generation, as A1111 does)."""
    _release_freed_heap()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def release_memory() -> None:
    """After dropping a model: collect its objects and give the freed memory back (slow; not per generation)."""
    gc.collect()
    torch_gc()
