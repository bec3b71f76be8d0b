"""--opt-compile: the UNet through torch.compile (CUDA graphs on a GPU), compiled once per input shape, its compiled
code kept in the data dir so a restart does not pay for it again. With a LoRA on the UNet (peft layers change the
module) it runs uncompiled, and says so; another checkpoint gets its own compiled UNet."""

import logging
import os
import time

import torch

log = logging.getLogger(__name__)


def cache_dir(data_path: str) -> str:
    return os.path.join(data_path, "cache", "torch_compile")


def compile_mode(device: torch.device) -> str:
    """torch.compile's mode for the UNet: CUDA graphs on a GPU (the launches are what a UNet call waits for there)."""
    return "reduce-overhead" if device.type == "cuda" else "default"


def _has_adapters(unet: torch.nn.Module) -> bool:
    return bool(getattr(unet, "peft_config", None))


class CompiledUNet:
    """Calls the UNet compiled; a shape not seen before is announced (console, progress text) and its compile timed."""

    def __init__(self, unet: torch.nn.Module, device: torch.device, cache_folder: str, state=None):
        os.makedirs(cache_folder, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_folder  # read at each compile (torch sets its default early)
        self.unet = unet
        self.mode = compile_mode(device)
        self.compiled = torch.compile(unet, mode=self.mode)
        self.shapes_compiled: set[tuple] = set()
        self.said_uncompiled = False
        self.state = state

    def __call__(self, x: torch.Tensor, t, **kwargs):
        t = torch.as_tensor(t, device=x.device)  # a Python number would be a constant: one compile per timestep
        if _has_adapters(self.unet):
            if not self.said_uncompiled:
                print("--opt-compile: a LoRA is on the UNet; it runs uncompiled while one is")
                self.said_uncompiled = True
            return self.unet(x, t, **kwargs)
        self.said_uncompiled = False
        shape = (tuple(x.shape), x.dtype, tuple(kwargs["encoder_hidden_states"].shape))
        if shape in self.shapes_compiled:
            return self._owned(self.compiled(x, t, **kwargs))
        return self._owned(self._compile_for(shape, x, t, kwargs))

    def _owned(self, output):
        """CUDA graphs write each call's output into the same memory: a copy, so that the cond and uncond of one step
        (two calls when their token lengths differ) and what an extension keeps outlive the next call."""
        if self.mode == "reduce-overhead":
            output.sample = output.sample.clone()
        return output

    def _compile_for(self, shape: tuple, x: torch.Tensor, t, kwargs: dict):
        text = f"Compiling the UNet for {x.shape[0]} latents of {x.shape[2]}x{x.shape[3]} ({self.mode}; once per shape)"
        print(f"--opt-compile: {text}...", flush=True)
        if self.state is not None:
            self.state.textinfo = text
        started = time.perf_counter()
        output = self.compiled(x, t, **kwargs)
        self.shapes_compiled.add(shape)
        print(f"--opt-compile: compiled in {time.perf_counter() - started:.1f} s", flush=True)
        log.info("UNet compiled for %s in %.1f s", shape, time.perf_counter() - started)
        return output
