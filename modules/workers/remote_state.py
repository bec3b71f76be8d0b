"""A job running on a remote worker, as the server sees it: a State listed as the running job (so /internal/progress,
/sdapi/v1/progress, the v2 routes and shared.state.interrupt()/skip() reach it as they reach a local job) whose
numbers are mirrored from the worker's own State, whose interrupt/skip/stop are forwarded to the worker, and whose
live preview is fetched from the worker while someone reads it."""

import io
import time
from collections.abc import Callable

from PIL import Image

from modules.runtime import job_state

MIRRORED = ("job", "job_no", "job_count", "sampling_step", "sampling_steps", "textinfo", "job_timestamp",
            "processing_has_refined_job_count")
SIGNALS = ("interrupt", "skip", "stop_generating")


def snapshot(state: job_state.State) -> dict:
    """The worker's side: what the server's RemoteState mirrors of a running job's State."""
    return {name: getattr(state, name) for name in MIRRORED}


class RemoteState(job_state.State):
    def __init__(self, live_options, forward: Callable[[str], None]):
        """forward(signal): sends one of SIGNALS to the job on its worker."""
        super().__init__(live_options)
        self._forward = forward
        self._preview_wanted_at: float | None = None

    def interrupt(self):
        super().interrupt()
        self._forward("interrupt")

    def skip(self):
        super().skip()
        self._forward("skip")

    def stop_generating(self):
        super().stop_generating()
        self._forward("stop_generating")

    def mirror(self, numbers: dict) -> None:
        for name in MIRRORED:
            if name in numbers:
                setattr(self, name, numbers[name])

    def set_current_image(self):
        self._preview_wanted_at = time.monotonic()

    def do_set_current_image(self):
        self._preview_wanted_at = time.monotonic()

    def preview_wanted(self, within_s: float) -> bool:
        """Whether someone read the live preview in the last within_s seconds."""
        return self._preview_wanted_at is not None and time.monotonic() - self._preview_wanted_at < within_s

    def show_preview(self, number: int, png: bytes) -> None:
        image = Image.open(io.BytesIO(png))
        image.load()
        self.current_image, self.id_live_preview = image, number
