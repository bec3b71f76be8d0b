"""Job state: each job's own State (progress, live preview, interrupt and skip), bound with contextvars to the code
that runs on the job's behalf, the running jobs by task id, and shared.state, which resolves to the right State."""

import contextlib
import contextvars
import datetime
import logging
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


class State:
    skipped = False
    interrupted = False
    stopping_generation = False
    job = ""
    job_no = 0
    job_count = 0
    processing_has_refined_job_count = False
    job_timestamp = "0"
    sampling_step = 0
    sampling_steps = 0
    current_latent = None
    current_image = None
    current_image_sampling_step = 0
    id_live_preview = 0
    textinfo = None
    time_start = None
    server_start = None
    preview_decoder = None
    """Set by the engine: callable(latent, options) -> PIL.Image used for live previews."""
    saved_files: list = ()
    """The files the job's generation saved (images.save_image), in order; empty until it saves one."""
    job_options = None
    """The options of the generation in progress (its snapshot, set by process_images_inner; cleared by begin and
    end): the live-preview decisions read them, from the sampler's step callback and from progress requests
    alike; shared.opts when no generation has set them."""

    def __init__(self, live_options=None):
        self.live_options = live_options
        """The options live previews follow while no generation has set job_options (shared.opts)."""
        self.server_start = time.time()
        self._lock = threading.RLock()
        self._decoding_preview = threading.Lock()
        self._server_command = None
        self._server_command_signal = threading.Event()

    @property
    def server_command(self):
        return self._server_command

    @server_command.setter
    def server_command(self, value):
        self._server_command = value
        self._server_command_signal.set()

    @property
    def need_restart(self) -> bool:
        return self.server_command == "restart"

    @need_restart.setter
    def need_restart(self, value: bool):
        if value:
            self.server_command = "restart"

    def wait_for_server_command(self, timeout=None):
        """Blocks until stop/restart is requested (or timeout); returns the command, or None, and clears it."""
        if not self._server_command_signal.wait(timeout):
            return None
        self._server_command_signal.clear()
        command, self._server_command = self._server_command, None
        return command

    def request_restart(self):
        self.interrupt()
        self.server_command = "restart"
        log.info("Received restart request")

    def skip(self):
        self.skipped = True
        log.info("Received skip request")

    def interrupt(self):
        self.interrupted = True
        log.info("Received interrupt request")

    def stop_generating(self):
        self.stopping_generation = True
        log.info("Received stop generating request")

    def preview_options(self):
        """The options live previews follow: the generation's (job_options), else live_options."""
        return self.job_options if self.job_options is not None else self.live_options

    def nextjob(self):
        options = self.preview_options()
        if options.live_previews_enable and options.show_progress_every_n_steps == -1:
            self.do_set_current_image()
        self.job_no += 1
        self.sampling_step = 0
        self.current_image_sampling_step = 0

    def dict(self):
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": self.stopping_generation,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }

    def begin(self, job: str = ""):
        with self._lock:
            self.sampling_step = 0
            self.sampling_steps = 0
            self.time_start = time.time()
            self.job_count = -1
            self.processing_has_refined_job_count = False
            self.job_no = 0
            self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
            self.current_latent = None
            self.current_image = None
            self.current_image_sampling_step = 0
            self.id_live_preview = 0
            self.job_options = None
            self.skipped = False
            self.interrupted = False
            self.stopping_generation = False
            self.textinfo = None
            self.saved_files = []
            self.job = job
        log.info("Starting job %s", job)

    def end(self):
        with self._lock:
            duration = time.time() - self.time_start if self.time_start is not None else 0.0
            log.info("Ending job %s (%.2f seconds)", self.job, duration)
            self.job = ""
            self.job_count = 0
            self.job_options = None

    def progress(self, start_offset: float = 0.01) -> float:
        """Fraction done: A1111's /sdapi/v1/progress formula (0.01 head start so that eta never divides by zero)."""
        job_count, sampling_steps = self.job_count, self.sampling_steps  # a remote job's mirror may change them
        if job_count == 0:
            return 0.0
        done = start_offset + self.job_no / job_count
        if sampling_steps > 0:
            done += self.sampling_step / sampling_steps / job_count
        return min(1.0, done)

    def eta_relative(self, start_offset: float = 0.01) -> float | None:
        """Seconds left, extrapolated from the time spent so far; None before there is any progress."""
        progress = self.progress(start_offset)
        if progress <= 0 or self.time_start is None:
            return None
        elapsed = time.time() - self.time_start
        return elapsed / progress - elapsed

    previews_from_sampler = False
    """Set by a generation whose model is offloaded (--medvram, --lowvram): the sampler decodes the live preview
    itself (preview_from_sampler), as A1111 does then, and a progress request only reads it."""

    def set_current_image(self):
        """Refreshes the live preview when show_progress_every_n_steps steps have passed since the last one; what a
        progress request calls before it reads the preview."""
        if not self.previews_from_sampler:
            self._refresh_preview_if_due()

    def preview_from_sampler(self):
        """What the sampler's step callback calls: refreshes the preview when the sampler decodes it itself."""
        if self.previews_from_sampler:
            self._refresh_preview_if_due()

    def _refresh_preview_if_due(self):
        options = self.preview_options()
        every = options.show_progress_every_n_steps
        if not options.live_previews_enable or every == -1:
            return
        if self.sampling_step - self.current_image_sampling_step >= every:
            self.do_set_current_image()

    def do_set_current_image(self):
        """Decodes the latest latent as the live preview; returns at once when another request is decoding it (the
        preview it makes serves both)."""
        latent, decoder = self.current_latent, self.preview_decoder
        if latent is None or decoder is None or not self._decoding_preview.acquire(blocking=False):
            return
        try:
            self.assign_current_image(decoder(latent, self.preview_options()))
            self.current_image_sampling_step = self.sampling_step
        except Exception:
            # e.g. the VAE is being swapped with the model; a missed preview is harmless
            log.debug("Live preview failed", exc_info=True)
        finally:
            self._decoding_preview.release()

    def assign_current_image(self, image):
        if self.preview_options().live_previews_image_format == "jpeg" and image.mode == "RGBA":
            image = image.convert("RGB")
        self.current_image = image
        self.id_live_preview += 1


_bound_job: contextvars.ContextVar[State | None] = contextvars.ContextVar("job state", default=None)
_running: dict[str, State] = {}
"""id_task -> the State of that running job, in the order the jobs started"""
_running_lock = threading.Lock()


def bound() -> State | None:
    """The State of the job bound to this context; None outside a job."""
    return _bound_job.get()


def record_saved_file(path: str) -> None:
    """Adds a saved file to the State of the job bound to this context (none outside a job)."""
    state = _bound_job.get()
    if state is not None:
        state.saved_files.append(path)


def running(id_task: str) -> State | None:
    with _running_lock:
        return _running.get(id_task)


def running_jobs() -> list[State]:
    with _running_lock:
        return list(_running.values())


@contextlib.contextmanager
def job(id_task: str, name: str, live_options=None, preview_decoder=None) -> Iterator[State]:
    """A new State for the job id_task (with the server's live options and preview decoder), begun, listed as
    running and bound to this context for the `with` block."""
    state = State(live_options)
    state.preview_decoder = preview_decoder
    with listed(id_task, state, name):
        token = _bound_job.set(state)
        try:
            yield state
        finally:
            _bound_job.reset(token)


@contextlib.contextmanager
def listed(id_task: str, state: State, name: str = "") -> Iterator[State]:
    """state begun and listed as the running job id_task for the `with` block (not bound to this context: a job
    running elsewhere is followed through it)."""
    state.begin(job=name)
    with _running_lock:
        _running[id_task] = state
    try:
        yield state
    finally:
        state.end()
        with _running_lock:
            if _running.get(id_task) is state:
                del _running[id_task]


PROCESS_WIDE = frozenset({"server_command", "need_restart", "wait_for_server_command", "server_start",
                          "preview_decoder", "live_options", "_server_command", "_server_command_signal", "_lock"})
"""What belongs to the server, not to a job: stop/restart requests, the start time, the live-preview decoder."""


class JobStateView:
    """shared.state. Inside a job it is that job's State; outside any job (a progress or interrupt request, the UI's
    buttons) it is the most recently started running job's, and the server's own State when none runs. Server-wide
    attributes (PROCESS_WIDE) are always the server's."""

    __slots__ = ("_server",)

    def __init__(self, server: State):
        object.__setattr__(self, "_server", server)

    def current(self) -> State:
        """The State that reads and writes through this view reach in the caller's context."""
        bound = _bound_job.get()
        if bound is not None:
            return bound
        with _running_lock:
            latest = next(reversed(_running.values()), None)
        return latest if latest is not None else self._server

    def _target(self, name: str) -> State:
        return self._server if name in PROCESS_WIDE else self.current()

    def __getattr__(self, name):
        return getattr(self._target(name), name)

    def __setattr__(self, name, value):
        setattr(self._target(name), name, value)

    def __delattr__(self, name):
        delattr(self._target(name), name)

    def _each_meant(self) -> list[State]:
        """The jobs an interrupt or skip from this context is meant for: its own inside a job; outside one (A1111's
        /sdapi/v1/interrupt and skip: stop what the server is generating), every running job, on every worker, or the
        server's State when none runs. One job is stopped by its id (/sdapi/v2/jobs/{id}/cancel, the page's own
        Interrupt)."""
        bound = _bound_job.get()
        if bound is not None:
            return [bound]
        return running_jobs() or [self._server]

    def interrupt(self):
        for state in self._each_meant():
            state.interrupt()

    def skip(self):
        for state in self._each_meant():
            state.skip()

    def stop_generating(self):
        for state in self._each_meant():
            state.stop_generating()

    def request_restart(self):
        self.interrupt()
        self._server.server_command = "restart"
        log.info("Received restart request")

    def __repr__(self):
        return f"<shared.state: {self.current()!r}>"
