"""One generation at a time: the lock shared by the UI and the API (A1111's call_queue names)."""

import functools
import threading

queue_lock = threading.Lock()


def wrap_queued_call(func):
    """Runs func while holding the generation lock."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)

    return wrapped
