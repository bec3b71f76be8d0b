"""The process's job service: the store in the data dir, the queue, the event bus and the local worker, started
once per database (however many apps are built in this process) and recovered from the last run when it opens."""

import os
import threading
from collections.abc import Callable

from modules.jobs.events import EventBus
from modules.jobs.queue import JobQueue
from modules.jobs.store import JobStore
from modules.jobs.worker import Environment, LocalWorker
from modules.runtime import job_state

DATABASE_NAME = "jobs.sqlite3"


class JobService:
    def __init__(self, store: JobStore, queue: JobQueue, workers: list):
        self.store, self.queue, self.workers = store, queue, workers

    def stop(self, timeout: float | None = 10):
        self.queue.pause()  # a job a stopping worker gives back is not taken by one stopped next
        for worker in self.workers:
            worker.stop(timeout)
        self.store.close()


_services: dict[str, JobService] = {}
_lock = threading.Lock()


def database_path(data_path: str) -> str:
    return os.path.join(data_path, DATABASE_NAME)


def create(path: str, environment: Environment, retention_days=lambda: 0, workers: int = 1,
           remote_workers: Callable[[JobQueue], list] | None = None,
           checkpoint_name: Callable[[str | None], str | None] = lambda requested: None) -> JobService:
    """A job service over the database at path: opened, recovered, its workers started: `workers` local ones, and
    those remote_workers(queue) makes (each with start, stop, loaded_checkpoints, describe, current_job).
    checkpoint_name(requested): the name of the checkpoint a job runs with from the one its request names (None: the
    selected one), so that workers holding it take it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    store = JobStore(path)
    queue = JobQueue(store, EventBus(), retention_days=retention_days)
    queue.checkpoint_name = checkpoint_name
    queue.recover()
    started = [LocalWorker(queue, environment, name=f"local-{number}") for number in range(1, workers + 1)]
    if remote_workers is not None:
        started += remote_workers(queue)
    queue.workers = started
    queue.interrupt_running = _interrupt_running
    for worker in started:
        worker.start()
    return JobService(store, queue, started)


def start(data_path: str, environment: Environment, retention_days=lambda: 0, **workers) -> JobService:
    """The job service of the database in data_path (by default one local worker; workers: create's): created the
    first time, the same one after that."""
    path = os.path.realpath(database_path(data_path))
    with _lock:
        if path not in _services:
            _services[path] = create(path, environment, retention_days, **workers)
        return _services[path]


def _interrupt_running(job_id: str) -> None:
    """The job's State, listed by whichever worker runs it (a remote one forwards it), interrupted."""
    state = job_state.running(job_id)
    if state is not None:
        state.interrupt()


def stop_all():
    with _lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        service.stop()
