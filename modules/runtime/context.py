"""What one generation runs with, grouped in one value: the model and which checkpoint it is, the options snapshot,
the device, the job state and the command line. process_images_inner builds it once per generation, right after
the options snapshot, and keeps it on the request as p.runtime_context."""

import argparse
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from modules.runtime.job_state import State
from modules.runtime.snapshot import OptsSnapshot


@dataclass(frozen=True)
class ModelIdentity:
    """Which checkpoint a model was loaded from: its title as the checkpoint list shows it (its path under the
    models folder and "[short hash]"), `name` as the infotext's "Model" writes it (the file name without folder or
    extension), the file, and the short hash the infotext's "Model hash" writes. Title and hash are as known when the
    generation starts: right after a checkpoint's first load its hash may still be computed (no "[hash]", None)."""

    title: str
    name: str
    filename: str
    short_hash: str | None

    @classmethod
    def of(cls, model) -> "ModelIdentity":
        checkpoint = model.sd_checkpoint_info
        return cls(title=checkpoint.title, name=checkpoint.name_for_extra, filename=checkpoint.filename,
                   short_hash=checkpoint.known_shorthash())


@dataclass(frozen=True, eq=False, repr=False)
class RuntimeContext:
    """The objects one generation depends on. Its fields cannot be rebound; the command line is the live object
    itself (shared), the model too but held weakly (a generation that lets go of it, as when a refiner takes over,
    frees it: two models need not be in memory at once), the state is the job's own, the options are the
    generation's frozen snapshot. So a copy of p (deep or not) shares its generation's context, and two contexts are
    equal only when they are the same one."""

    model_ref: Callable[[], Any]
    checkpoint: Any
    """the model's entry in the checkpoint list (sd_models.CheckpointInfo), kept when the model is let go"""
    model_identity: ModelIdentity
    opts_snapshot: OptsSnapshot
    device: torch.device
    state: State
    cmd_opts: argparse.Namespace

    @property
    def model(self):
        """The generation's model; None once it was let go and freed."""
        return self.model_ref()

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<RuntimeContext {self.model_identity.title} on {self.device}>"


def create_runtime_context(model, opts_snapshot: OptsSnapshot, device: torch.device, state: State,
                           cmd_opts: argparse.Namespace) -> RuntimeContext:
    """The context of a generation running `model` with `opts_snapshot` on `device`, as the job `state`."""
    return RuntimeContext(model_ref=weakref.ref(model), checkpoint=model.sd_checkpoint_info,
                          model_identity=ModelIdentity.of(model), opts_snapshot=opts_snapshot, device=device,
                          state=state, cmd_opts=cmd_opts)
