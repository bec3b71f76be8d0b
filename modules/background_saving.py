"""A generation's image saving on a thread of its own, so that encoding and writing files does not hold up sampling."""

import contextvars
import logging
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class BackgroundSaver:
    """Runs save calls one at a time, in the order submitted, on one thread, each in the context it was submitted
    from (the generation's options, job state and output staging). Used as a context manager: leaving the block
    waits for every save; the first error a save raised is raised then (or by the next submit, if it has already
    ended), unless the block itself is raising (the save's error is logged instead)."""

    def __init__(self):
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def submit(self, save, *args, **kwargs) -> None:
        failed = next((future for future in self._pending if future.done() and future.exception() is not None), None)
        if failed is not None:
            self.wait()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-saving")
        self._pending.append(self._executor.submit(contextvars.copy_context().run, save, *args, **kwargs))

    def wait(self) -> None:
        """Returns once every submitted save has ended; raises the first error one raised."""
        if self._executor is None:
            return
        self._executor.shutdown(wait=True)
        self._executor = None
        pending, self._pending = self._pending, []
        errors = [future.exception() for future in pending if future.exception() is not None]
        for error in errors[1:]:
            log.error("Saving an image failed", exc_info=error)
        if errors:
            raise errors[0]

    def __enter__(self) -> "BackgroundSaver":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc is None:
            self.wait()
            return
        try:
            self.wait()
        except Exception:
            log.exception("Saving an image failed while the generation was ending with an error")
