"""Which queued job an idle worker takes: the first in line, except that a worker skips ahead, within the first
job's priority, to a job for a checkpoint it holds when another (live) worker holds the first job's checkpoint (that
one takes it when it is free), so workers do not reload checkpoints back and forth. A higher priority is never
passed, and a first job passed over for PATIENCE_S is taken by whoever asks."""

import dataclasses

WINDOW = 32
"""How many queued jobs are looked at."""
PATIENCE_S = 60


@dataclasses.dataclass(frozen=True)
class Candidate:
    job_id: str
    priority: int
    checkpoint: str | None
    """The name of the checkpoint the job runs with (its override, else the server's); None when unknown."""
    waited_s: float = 0.0
    """Since a worker first took another job before it while it was first in line."""


def choose(queued: list[Candidate], mine: set[str], others: set[str]) -> Candidate | None:
    """queued: in queue order; mine: the checkpoints the idle worker holds; others: those the other workers hold."""
    if not queued:
        return None
    first = queued[0]
    if first.checkpoint in mine or first.checkpoint not in others or first.waited_s >= PATIENCE_S:
        return first
    for candidate in queued[1:]:
        if candidate.priority != first.priority:
            break
        if candidate.checkpoint in mine:
            return candidate
    return first
