"""What the job dispatch tests share: a worker that only holds checkpoints, a queue over a new database, and a job
naming a checkpoint."""

import contextlib
from collections.abc import Callable, Iterator

from modules.jobs import store as job_store
from modules.jobs.events import EventBus
from modules.jobs.queue import JobQueue
from modules.jobs.spec import GenerationSpec


class FakeWorker:
    def __init__(self, name: str, checkpoints: list[str], alive: bool = True):
        self.name, self.checkpoints, self.alive = name, checkpoints, alive

    def loaded_checkpoints(self):
        return self.checkpoints


@contextlib.contextmanager
def job_queue(path: str, checkpoint_name: Callable[[str | None], str | None]) -> Iterator[JobQueue]:
    store = job_store.JobStore(path)
    queue = JobQueue(store, EventBus())
    queue.checkpoint_name = checkpoint_name
    try:
        yield queue
    finally:
        store.close()


def submit(jobs: JobQueue, checkpoint: str | None, **options) -> str:
    """A job whose request names checkpoint (None: the selected one); its id."""
    overrides = {"sd_model_checkpoint": checkpoint} if checkpoint else {}
    return jobs.submit(GenerationSpec(mode="txt2img", params={"override_settings": overrides}), **options)[0].id
