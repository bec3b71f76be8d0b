"""Restricted loading of pickled .ckpt files: tensors and a short allow-list of harmless classes only."""

import collections

import torch


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


def load(filename: str) -> dict:
    """torch.load(weights_only=True) with the allow-list; anything else in the pickle is refused, never run."""
    try:
        with torch.serialization.safe_globals(_ALLOWED_GLOBALS):
            return torch.load(filename, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or ValueError for refused content
        raise CheckpointLoadError(f"{filename}: refused to load this pickle checkpoint: {error}") from error
