"""shared.state: what the server is generating right now, read by progress reporting and the interrupt/skip buttons."""

import datetime
import logging
import threading
import time

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
    job_options = None
    """The options of the generation in progress (its snapshot, set by process_images_inner; cleared by begin and
    end): the live-preview decisions read them, from the sampler's step callback and from progress requests
    alike; shared.opts when no generation has set them."""

    def __init__(self):
        self.server_start = time.time()
        self._lock = threading.RLock()
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
        """The options live previews follow: the generation's (job_options), else the live shared.opts."""
        from modules.opts_snapshot import options_or_live

        return options_or_live(self.job_options)

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
        if self.job_count == 0:
            return 0.0
        done = start_offset + self.job_no / self.job_count
        if self.sampling_steps > 0:
            done += self.sampling_step / self.sampling_steps / self.job_count
        return min(1.0, done)

    def eta_relative(self, start_offset: float = 0.01) -> float | None:
        """Seconds left, extrapolated from the time spent so far; None before there is any progress."""
        progress = self.progress(start_offset)
        if progress <= 0 or self.time_start is None:
            return None
        elapsed = time.time() - self.time_start
        return elapsed / progress - elapsed

    def set_current_image(self):
        """Refreshes the live preview when show_progress_every_n_steps steps have passed since the last one."""
        options = self.preview_options()
        every = options.show_progress_every_n_steps
        if not options.live_previews_enable or every == -1:
            return
        if self.sampling_step - self.current_image_sampling_step >= every:
            self.do_set_current_image()

    def do_set_current_image(self):
        latent, decoder = self.current_latent, self.preview_decoder
        if latent is None or decoder is None:
            return
        try:
            self.assign_current_image(decoder(latent, self.preview_options()))
            self.current_image_sampling_step = self.sampling_step
        except Exception:
            # e.g. the VAE is being swapped with the model; a missed preview is harmless
            log.debug("Live preview failed", exc_info=True)

    def assign_current_image(self, image):
        if self.preview_options().live_previews_image_format == "jpeg" and image.mode == "RGBA":
            image = image.convert("RGB")
        self.current_image = image
        self.id_live_preview += 1
