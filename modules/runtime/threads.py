"""Threads that work on a job's behalf."""

import contextvars
import threading
from collections.abc import Callable


def start_thread(target: Callable, *args, name: str | None = None, daemon: bool = True, **kwargs) -> threading.Thread:
    """Starts target(*args, **kwargs) in a new thread that runs in a copy of the caller's context, so inside a job
    it reads the job's options (shared.opts) and state (shared.state), as a plain threading.Thread would not."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target, *args), kwargs=kwargs, name=name, daemon=daemon)
    thread.start()
    return thread
