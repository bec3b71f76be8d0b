"""A local worker: a thread that takes the queue's next job and runs it in this process, in a job of its own (its
State and options), under the generation lock; while it runs, its progress and previews go out as events."""

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import closing

from modules import call_queue, processing
from modules.jobs import builder, failures, live
from modules.jobs.queue import JobQueue
from modules.jobs.spec import GenerationSpec
from modules.jobs.store import JobRecord
from modules.runtime import job_state

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 0.25


@dataclasses.dataclass(frozen=True)
class Environment:
    """What running a generation here needs, passed in by whoever starts the worker."""

    generation_lock: threading.Lock
    live_options: object
    """The server's options (shared.opts): each job runs with a copy of their base."""
    preview_decoder: Callable[[], Callable | None]
    sd_model: Callable[[], object]
    encode_image: Callable
    device: Callable[[], object] = lambda: "cpu"
    """PIL image -> base64 text in the job's image format (the API's encoding)."""


def durable_result(processed: processing.Processed, spec: GenerationSpec, saved_files: list[str],
                   encode_image: Callable) -> dict:
    """What the store keeps of a finished generation: the info JSON, infotexts, saved files, and the images as
    base64 only when the request asked for them (send_images)."""
    images = [encode_image(image) for image in processed.images] if spec.send_images else []
    return {"images": images, "info": processed.js(), "infotexts": list(processed.infotexts),
            "saved_files": list(saved_files)}


def execute(job_id: str, spec: GenerationSpec, environment: Environment, finisher: Callable | None,
            cancelled: Callable[[], bool] = lambda: False, prepare: Callable[[], None] = lambda: None):
    """Runs the spec as the job: (the durable result, what this process's waiter gets: finisher(processed), run in
    the job, or the durable result). cancelled(): a cancel came while the job waited for the generation lock;
    prepare(): what must change before the generation, under the generation lock (a remote worker's settings)."""
    def generate():
        prepare()
        state = job_state.bound()
        if cancelled():
            state.interrupt()
        with closing(builder.build_processing(spec, environment.sd_model())) as p:
            processed = processing.process_images_with_scripts(p)
        result = durable_result(processed, spec, state.saved_files, environment.encode_image)
        return result, (finisher(processed) if finisher is not None else result)

    return call_queue.run_as_job(environment.generation_lock, job_id, f"scripts_{spec.mode}", generate,
                                 live_options=environment.live_options,
                                 preview_decoder=environment.preview_decoder())


class LocalWorker:
    def __init__(self, jobs: JobQueue, environment: Environment, name: str = "local-1",
                 monitor_interval: float = MONITOR_INTERVAL_S):
        self.jobs = jobs
        self.environment = environment
        self.name = name
        self.monitor_interval = monitor_interval
        self.current_job: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._loop, name=f"job worker {self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None):
        self._stop.set()
        self.jobs.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def loaded_checkpoints(self) -> list[str]:
        info = getattr(self.environment.sd_model(), "sd_checkpoint_info", None)
        return [info.name] if info is not None else []

    def describe(self) -> dict:
        return {"name": self.name, "kind": "local", "alive": self.alive, "job": self.current_job,
                "state": "dead" if not self.alive else "busy" if self.current_job else "idle",
                "node": socket.gethostname(), "pid": os.getpid(), "device": str(self.environment.device()),
                "checkpoints": self.loaded_checkpoints()}

    def _loop(self):
        while not self._stop.is_set():
            try:
                job = self.jobs.claim(self._stop, worker=self)
            except Exception:  # the store failed (locked, disk full): try again, the worker must not die
                log.exception("Could not take the next job")
                self._stop.wait(1.0)
                continue
            if job is not None:
                self.run(job)

    def run(self, job: JobRecord):
        """Runs the job and records how it ended; whatever fails, its waiter is woken and the worker goes on."""
        self.current_job = job.id
        ending = {}
        try:
            spec = GenerationSpec.from_json(self.jobs.store.spec(job.id))
        except Exception as e:  # a stored spec this version cannot read
            ending = {"error": failures.unreadable_spec(e).as_dict(), "exception": e}
        else:
            ending = self._generate(job, spec)
        try:
            self.jobs.end(job.id, **ending)
        finally:
            self.current_job = None

    def _generate(self, job: JobRecord, spec: GenerationSpec) -> dict:
        done = threading.Event()
        monitor = threading.Thread(target=self._monitor, args=(job.id, done), name=f"job monitor {job.id}",
                                   daemon=True)
        monitor.start()
        try:
            result, value = execute(job.id, spec, self.environment, self.jobs.finisher(job.id),
                                    cancelled=lambda: self.jobs.cancel_requested(job.id))
        except Exception as e:
            failure = failures.describe(e, spec)
            if failure.status >= 500:
                log.exception("Job %s failed", job.id)
            return {"error": failure.as_dict(), "exception": e}
        finally:
            done.set()
            monitor.join()  # its last progress event comes before the job's end
        return {"result": result, "value": value}

    def _monitor(self, job_id: str, done: threading.Event):
        announcer = ProgressAnnouncer(job_id, self.jobs.events)
        while not done.wait(self.monitor_interval):
            try:
                announcer.step()
            except Exception:
                log.debug("Job monitor failed", exc_info=True)


class ProgressAnnouncer:
    """Publishes a running job's progress when it moves and its live preview when a new one is decoded (for
    listeners: a preview is decoded for someone, not for nobody)."""

    def __init__(self, job_id: str, events):
        self.job_id, self.events = job_id, events
        self._last_progress, self._last_preview = None, None

    def step(self) -> None:
        numbers = live.progress(self.job_id)
        if numbers is not None and (numbers["step"], numbers["steps"], numbers["fraction"]) != self._last_progress:
            self._last_progress = (numbers["step"], numbers["steps"], numbers["fraction"])
            self.events.publish("job.progress", self.job_id, progress=numbers)
        if not self.events.listener_count():
            return
        preview = live.preview_id(self.job_id)
        if preview is not None and preview != self._last_preview:
            self._last_preview = preview
            self.events.publish("job.preview", self.job_id, id_live_preview=preview)
