"""The job queue: submit, hand out in order (priority, then submit time), cancel, reprioritise, retry, pause; the
store keeps every change, the event bus announces it, and a waiter in this process gets the job's outcome."""

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable

from modules.jobs import affinity
from modules.jobs import store as job_store
from modules.jobs.events import EventBus
from modules.jobs.spec import GenerationSpec

log = logging.getLogger(__name__)

PRIORITY_DEFAULT = 0
PRIORITY_INTERACTIVE = 100
"""The browser UI's and /sdapi/v1's jobs: someone is waiting for them."""
PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
DEFAULT_MAX_ATTEMPTS = 2
DAY_S = 86400


class QueueError(Exception):
    status_code = 400

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


class JobNotFound(QueueError):
    status_code = 404


class JobConflict(QueueError):
    status_code = 409


class QueuePaused(QueueError):
    status_code = 503


@dataclasses.dataclass
class Outcome:
    """What a waiter in this process gets: the finisher's value, or the exception the job ended with."""
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    finisher: Callable | None = None
    value: object = None
    error: BaseException | None = None
    record: job_store.JobRecord | None = None


def new_job_id(job_type: str) -> str:
    """A1111's task id shape, task(txt2img-XXXXXXX), with enough randomness to stay unique in a long history."""
    return f"task({job_type}-{secrets.token_hex(8)})"


class JobQueue:
    def __init__(self, store: job_store.JobStore, events: EventBus, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 retention_days: Callable[[], float] = lambda: 0):
        self.store = store
        self.events = events
        self.max_attempts = max_attempts
        self.retention_days = retention_days
        self.interrupt_running: Callable[[str], None] = lambda job_id: None
        """Set by the worker side: stops the job id's generation (its State's interrupt)."""
        self.workers: list = []
        """The workers taking jobs from this queue (each with loaded_checkpoints()), set by whoever starts them."""
        self.checkpoint_name: Callable[[str | None], str | None] = lambda requested: None
        """The name of the checkpoint a job runs with, from the one its request names (None: the selected one);
        None when no checkpoint is known by that."""
        self._wake = threading.Condition()
        self._paused = False
        self._outcomes: dict[str, Outcome] = {}
        self._cancel_requested: set[str] = set()
        self._finishing: set[str] = set()
        """Running jobs whose generation is over: a cancel can no longer reach them."""
        self._passed_over_since: dict[str, float] = {}
        """When a worker first took another job before each queued job that was first in line (affinity)."""
        self._lock = threading.Lock()

    def recover(self):
        """Jobs a dead process left running: queued again while attempts remain, else failed."""
        with self._wake:
            requeued, failed = self.store.recover_interrupted()
            for job in requeued:
                self.events.publish("job.retrying", job.id, attempts=job.attempts, reason="interrupted")
            for job in failed:
                self.events.publish("job.failed", job.id, error=job.error)
            self._wake.notify_all()

    def submit(self, spec: GenerationSpec, priority: int = PRIORITY_DEFAULT, idempotency_key: str | None = None,
               batch_id: str | None = None, job_id: str | None = None, finisher: Callable | None = None,
               wait: bool = False) -> tuple[job_store.JobRecord, bool]:
        """Queues the spec; (the job, True), or (the job submitted before with this idempotency key, False).
        wait/finisher: this process will wait() for the job; finisher(processed) runs in the job for that waiter."""
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise QueueError("priority", f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}, got {priority}")
        job_id = job_id or new_job_id(spec.mode)
        fingerprint = spec.fingerprint()
        spec_json = spec.to_json()
        # under the claim's lock: no worker starts the job before its job.queued event is out and its waiter's
        # outcome is in place
        with self._wake:
            with self._lock:
                if job_id in self._outcomes:
                    raise JobConflict("id", f"a job with id {job_id!r} is still being waited for")
            try:
                job, created = self.store.add(job_id, spec.mode, spec_json, fingerprint, priority, self.max_attempts,
                                              idempotency_key, batch_id, spec.requested_checkpoint())
            except job_store.DuplicateJobId as e:
                raise JobConflict("id", f"a job with id {job_id!r} is queued or running") from e
            if created:
                if wait or finisher:
                    with self._lock:
                        self._outcomes[job_id] = Outcome(finisher=finisher)
                self.events.publish("job.queued", job.id, priority=job.priority, position=self.store.position(job))
                self._wake.notify_all()
        if not created:
            if self.store.fingerprint(job.id) != fingerprint:
                raise JobConflict("idempotency_key", f"{idempotency_key!r} was used for a different request "
                                                     f"(job {job.id})")
            return job, False
        return job, True

    def release(self, job_id: str):
        """This process no longer waits for the job (its page went away): its outcome is not kept for anyone."""
        with self._lock:
            self._outcomes.pop(job_id, None)

    def _notify(self):
        with self._wake:
            self._wake.notify_all()

    def wake(self):
        """Wakes every claim() waiting, so a stopping worker sees its stop at once."""
        self._notify()

    def get(self, job_id: str) -> job_store.JobRecord:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound("id", f"no job {job_id!r}")
        return job

    def position(self, job: job_store.JobRecord) -> int | None:
        return self.store.position(job)

    def claim(self, stop: threading.Event, timeout: float = 1.0, worker=None) -> job_store.JobRecord | None:
        """The next job to run, now running; None when stop is set or nothing came within timeout. With a worker
        (its loaded_checkpoints()), the job is chosen for it among the first queued (affinity.choose)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while not stop.is_set():
                if not self._paused:
                    job = self.store.claim_next() if worker is None else self._claim_for(worker)
                    if job is not None:
                        with self._lock:
                            self._cancel_requested.discard(job.id)  # a cancel meant for an earlier run
                            self._finishing.discard(job.id)
                        worker_name = {"worker": worker.name} if worker is not None else {}
                        self.events.publish("job.started", job.id, attempts=job.attempts, **worker_name)
                        return job
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._wake.wait(left)
        return None

    def _claim_for(self, worker) -> job_store.JobRecord | None:
        others = {name for other in self.workers if other is not worker and other.alive
                  for name in other.loaded_checkpoints()}
        if not others:  # nobody else holds a checkpoint: nothing to route by
            return self.store.claim_next()
        names, now, queued = {}, self.store.clock(), []
        for job, requested in self.store.queued_head(affinity.WINDOW):
            if requested not in names:
                names[requested] = self._checkpoint_name(requested)
            passed_over = now - self._passed_over_since.get(job.id, now)
            queued.append(affinity.Candidate(job.id, job.priority, names[requested], passed_over))
        chosen = affinity.choose(queued, set(worker.loaded_checkpoints()), others)
        if chosen is None:
            return None
        waiting = {candidate.job_id for candidate in queued}
        self._passed_over_since = {job_id: since for job_id, since in self._passed_over_since.items()
                                   if job_id in waiting and job_id != chosen.job_id}
        if chosen is not queued[0]:
            self._passed_over_since.setdefault(queued[0].job_id, now)
        return self.store.claim(chosen.job_id)

    def _checkpoint_name(self, requested: str | None) -> str | None:
        try:
            return self.checkpoint_name(requested)
        except Exception:  # the checkpoint list is being reloaded: this claim routes without it
            log.debug("No checkpoint name for %r", requested, exc_info=True)
            return None

    def checkpoint_for(self, spec: GenerationSpec) -> str | None:
        """The name of the checkpoint the spec runs with (None when none is known)."""
        return self._checkpoint_name(spec.requested_checkpoint())

    def unclaim(self, job_id: str) -> job_store.JobRecord | None:
        """A job claimed by a worker that turned out to be down before the job reached it: queued again as it was
        (the attempt not counted), or cancelled when a cancel came meanwhile. When that cannot be recorded, its
        waiter gets the error instead of waiting (the job stays running until the server starts again)."""
        with self._wake:
            try:
                if self.cancel_requested(job_id):
                    return self.finish(job_id)
                job = self.store.unclaim(job_id)
            except Exception as e:
                return self._lost(job_id, e)
            if job is not None:
                self.events.publish("job.retrying", job.id, attempts=job.attempts, reason="worker unavailable")
                self._wake.notify_all()
        return job

    def interrupted(self, job_id: str, reason: str) -> job_store.JobRecord | None:
        """The worker running the job died: the job is queued again while it has attempts left (its waiter waits on),
        else failed (its waiter gets the error). A job whose cancel was asked for ends cancelled. When that cannot be
        recorded, its waiter gets the error instead of waiting."""
        with self._wake:
            try:
                if self.cancel_requested(job_id):
                    return self.finish(job_id)
                job = self.store.interrupt(job_id, reason)
            except Exception as e:
                return self._lost(job_id, e)
            if job is None:
                return None
            if job.state == job_store.QUEUED:
                self.events.publish("job.retrying", job.id, attempts=job.attempts, reason="interrupted")
                self._wake.notify_all()
                return job
        self.events.publish("job.failed", job.id, error=job.error)
        self.abandon(job.id, RuntimeError(job.error["message"]))
        return job

    def _lost(self, job_id: str, error: Exception) -> None:
        log.exception("Could not record what became of job %s", job_id)
        self.abandon(job_id, error)

    def finisher(self, job_id: str) -> Callable | None:
        with self._lock:
            outcome = self._outcomes.get(job_id)
        return outcome.finisher if outcome else None

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel_requested

    def finishing(self, job_id: str) -> None:
        """The running job's generation is over (its end is being recorded): a cancel from now on is a conflict."""
        with self._lock:
            self._finishing.add(job_id)

    def finish(self, job_id: str, result: dict | None = None, error: dict | None = None, value=None,
               exception: BaseException | None = None) -> job_store.JobRecord:
        """Records the end of a running job: cancelled when a cancel was asked for, failed with an error, else
        succeeded; then wakes this process's waiter."""
        with self._lock:
            cancelled = job_id in self._cancel_requested
            self._cancel_requested.discard(job_id)
            self._finishing.add(job_id)
        state = job_store.CANCELLED if cancelled else job_store.FAILED if error is not None else job_store.SUCCEEDED
        try:
            job = self.store.finish(job_id, state, result=result, error=error)
        finally:
            with self._lock:
                self._finishing.discard(job_id)
        data = {"error": error} if state == job_store.FAILED else {}
        self.events.publish(f"job.{state}", job_id, **data)
        self._prune()
        with self._lock:
            outcome = self._outcomes.get(job_id)
        if outcome is not None:
            outcome.value, outcome.error, outcome.record = value, exception, job
            outcome.done.set()
        return job

    def end(self, job_id: str, **ending) -> None:
        """finish(job_id, **ending); when that cannot be recorded, its waiter gets the error instead of waiting."""
        try:
            self.finish(job_id, **ending)
        except Exception as e:
            log.exception("Could not record the end of job %s", job_id)
            self.abandon(job_id, e)

    def abandon(self, job_id: str, error: BaseException):
        """The job's end could not be recorded: its waiter in this process gets the error instead of waiting."""
        with self._lock:
            outcome = self._outcomes.get(job_id)
        if outcome is not None:
            outcome.error = error
            outcome.done.set()

    def _prune(self):
        days = self.retention_days()
        if days and days > 0:
            self.store.prune(self.store.clock() - days * DAY_S)

    def wait_until_done(self, job_id: str, timeout: float) -> bool:
        """True once a job submitted with wait=True in this process has ended (blocks up to timeout)."""
        with self._lock:
            outcome = self._outcomes.get(job_id)
        return outcome is None or outcome.done.wait(timeout)

    def wait(self, job_id: str, timeout: float | None = None) -> Outcome:
        """The outcome of a job submitted with wait=True in this process (blocks until it ends)."""
        with self._lock:
            outcome = self._outcomes.get(job_id)
        if outcome is None:
            raise JobNotFound("id", f"job {job_id!r} was not submitted to be waited for")
        if not outcome.done.wait(timeout):
            raise TimeoutError(job_id)
        self.release(job_id)
        return outcome

    def cancel(self, job_id: str) -> job_store.JobRecord:
        """A queued job is cancelled at once (nothing running is touched); a running one is interrupted and ends
        cancelled; one whose generation is over, or a finished one, is a conflict."""
        with self._wake:  # a worker's interrupted()/unclaim() cannot queue the job again between these
            job = self.store.cancel_queued(job_id)
            cancelled_queued = job is not None
            if cancelled_queued:
                self.events.publish("job.cancelled", job_id)
            else:
                job = self.get(job_id)
                with self._lock:
                    if job.state == job_store.RUNNING and job_id in self._finishing:
                        raise JobConflict("state", f"job {job_id} has finished generating; it can no longer be "
                                                   f"cancelled")
                    if job.state == job_store.RUNNING:
                        self._cancel_requested.add(job_id)
        if cancelled_queued:
            with self._lock:
                outcome = self._outcomes.get(job_id)
            if outcome is not None:
                outcome.error = JobConflict("id", f"Cancelled: job {job_id} was cancelled before it ran")
                outcome.record = job
                outcome.done.set()
            return job
        if job.state == job_store.RUNNING:
            self.interrupt_running(job_id)
            return job
        raise JobConflict("state", f"job {job_id} is {job.state}; only queued or running jobs can be cancelled")

    def set_priority(self, job_id: str, priority: int) -> job_store.JobRecord:
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise QueueError("priority", f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}, got {priority}")
        job = self.store.set_priority(job_id, priority)
        if job is None:
            job = self.get(job_id)
            raise JobConflict("state", f"job {job_id} is {job.state}; only a queued job's priority can change")
        return job

    def retry(self, job_id: str) -> job_store.JobRecord:
        """A failed or cancelled job queued again under the same id, with one more attempt allowed."""
        with self._wake:
            job = self.store.requeue(job_id, from_states=(job_store.FAILED, job_store.CANCELLED), extra_attempts=1)
            if job is not None:
                self.events.publish("job.retrying", job_id, attempts=job.attempts, reason="retry")
                self.events.publish("job.queued", job_id, priority=job.priority, position=self.store.position(job))
                self._wake.notify_all()
        if job is None:
            job = self.get(job_id)
            raise JobConflict("state", f"job {job_id} is {job.state}; only failed or cancelled jobs can be retried")
        return job

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self):
        self._paused = True

    def resume(self):
        self._paused = False
        self._notify()
