"""Shared pieces of the training phases: atomic checkpoints, logging, EMA, time budget, a clean stop on SIGTERM."""

import os
import signal
import sys
import time

import torch


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stdout, flush=True)


def save_atomically(state: dict, path: str) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves a half-written checkpoint."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = path + ".tmp"
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_if_exists(path: str) -> dict | None:
    return torch.load(path, map_location="cpu", weights_only=False) if os.path.exists(path) else None


class StopFlag:
    """Set by SIGTERM / SIGINT, so a loop can save its checkpoint before it exits."""

    def __init__(self):
        self.requested = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request)

    def _request(self, signum, frame) -> None:
        log(f"signal {signum}: stopping after this step")
        self.requested = True


class ExponentialMovingAverage:
    """EMA of a module's floating-point state (warm-up: the decay grows from ~0 to `decay`)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for key, value in module.state_dict().items():
            if key in self.shadow:
                self.shadow[key].lerp_(value.detach(), 1 - decay)

    def state_dict_of(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The module's state dict with the averaged tensors in place of the trained ones."""
        return {k: self.shadow.get(k, v).clone() for k, v in module.state_dict().items()}


class TimeBudget:
    """Training seconds used so far (kept across resumes) against a budget, and the periodic-checkpoint clock."""

    def __init__(self, budget_s: float, used_s: float, checkpoint_every_s: float):
        self.budget_s = budget_s
        self.used_before = used_s
        self.started = time.monotonic()
        self.checkpoint_every_s = checkpoint_every_s
        self.last_checkpoint = self.started

    @property
    def used_s(self) -> float:
        return self.used_before + time.monotonic() - self.started

    @property
    def fraction(self) -> float:
        return min(1.0, self.used_s / self.budget_s) if self.budget_s > 0 else 1.0

    def exhausted(self) -> bool:
        return self.used_s >= self.budget_s

    def checkpoint_due(self) -> bool:
        if time.monotonic() - self.last_checkpoint >= self.checkpoint_every_s:
            self.last_checkpoint = time.monotonic()
            return True
        return False


def warmup_then_decay(step: int, fraction: float, warmup_steps: int, decay_from: float = 0.75,
                      floor: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up over steps, constant, then linear decay over the last part of time."""
    warm = min(1.0, (step + 1) / warmup_steps)
    if fraction <= decay_from:
        return warm
    return warm * (1 - (1 - floor) * (fraction - decay_from) / (1 - decay_from))
