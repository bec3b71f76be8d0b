"""Restricted loading of pickled .ckpt files: tensors and a short allow-list of harmless classes only."""

import collections
import re

import torch

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_REFUSED_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)


class CheckpointLoadError(RuntimeError):
    """A checkpoint that cannot or must not be loaded; the message names the file."""


class TrainingCallbackRecord:
    """Stands in for the training-callback records old checkpoints carry; keeps their state, runs nothing."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


_ALLOWED_GLOBALS = [
    (TrainingCallbackRecord, "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"),
    (TrainingCallbackRecord, "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint"),
    collections.OrderedDict,
    set,
]


def load(filename: str, map_location="cpu") -> dict:
    """torch.load(weights_only=True) with the allow-list; anything else in the pickle is refused, never run."""
    try:
        with torch.serialization.safe_globals(_ALLOWED_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or ValueError for refused content
        raise CheckpointLoadError(f"{filename}: refused to load this pickle checkpoint: {reason(error)}") from error


def unsafe_torch_load(filename: str, map_location=None, weights_only: bool | None = None):
    """A1111's name for torch.load without its checks, kept for extensions: here it is load() (a pickle that would run
    code is refused with CheckpointLoadError, whatever weights_only says)."""
    return load(filename, map_location=map_location)


def reason(error: BaseException) -> str:
    """Why a checkpoint could not be loaded, in one plain line: no terminal colour codes, and not torch's advice to
    load with weights_only=False (that would run whatever the pickle holds)."""
    text = _ANSI_ESCAPE.sub("", str(error))
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return f"it calls for {refused.group(1)}, which a checkpoint may not hold (refused, never run)"
    lines = [line.strip() for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return lines[0] if lines else type(error).__name__
