"""What the job dispatch tests share: a worker that only holds checkpoints, and a queue over a new database."""

import contextlib
from collections.abc import Callable, Iterator

from modules.jobs import store as job_store
from modules.jobs.events import EventBus
from modules.jobs.queue import JobQueue


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
