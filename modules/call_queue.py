"""One generation at a time, and each as a job of its own: the lock shared by the UI and the API (A1111's
call_queue names) and run_as_job, which both start their generations with."""

import functools
import html
import threading
import time

from modules import errors, progress, shared
from modules.runtime import job_state, options_view

queue_lock = threading.Lock()


def wrap_queued_call(func):
    """Runs func while holding the generation lock."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)

    return wrapped


def wrap_gradio_call(func, extra_outputs=None, add_stats: bool = False):
    """A1111's wrapper for a UI function: an exception is reported (console, log) and the outputs become
    extra_outputs (default [None, ""]) plus an error box; add_stats appends the time taken to the last output."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        started = time.perf_counter()
        try:
            outputs = list(func(*args, **kwargs))
        except Exception as error:
            errors.report(f"Error completing request ({getattr(func, '__name__', func)})")
            outputs = list(extra_outputs if extra_outputs is not None else [None, ""])
            outputs.append(f"<div class='error'>{html.escape(f'{type(error).__name__}: {error}')}</div>")
        if add_stats and outputs and isinstance(outputs[-1], str):
            outputs[-1] += f"<div class='performance'><p class='time'>Time taken: {time.perf_counter() - started:.1f} " \
                           "sec.</p></div>"
        return tuple(outputs)

    return wrapped


def run_as_job(lock, id_task: str, job: str, func, *args, live_options=None, preview_decoder=None, **kwargs):
    """func(*args, **kwargs) as the job id_task: queued until it holds `lock`, then run with a State of its own
    (shared.state) and options of its own (shared.opts: a copy of live_options' base taken now, the server's options
    unless given), both bound to this context, so nothing another request does reaches them and they reach nothing
    outside the job."""
    live_options = shared.opts if live_options is None else live_options
    preview_decoder = shared.state.preview_decoder if preview_decoder is None else preview_decoder
    progress.add_task_to_queue(id_task)
    with lock:
        progress.start_task(id_task)
        try:
            with job_state.job(id_task, job, live_options=live_options, preview_decoder=preview_decoder), \
                    options_view.job_options(live_options):
                return func(*args, **kwargs)
        finally:
            progress.finish_task(id_task)
