"""Runs a generation off gradio's worker thread and streams its progress to the page.

The click handler is a generator: it starts the task in a thread, then every live_preview_refresh_period it reads
progress.progress_for(id_task) (the numbers behind /internal/progress, computed from the task's own State) and yields the
progress bar (percent + ETA) and, when the engine decoded a new one, the live preview image. The last yield carries the
task's results. The task itself holds call_queue.queue_lock, so the UI and the API never generate at the same time."""

import html
import logging
import threading
from collections.abc import Callable, Iterator

from modules import call_queue, progress, shared

log = logging.getLogger(__name__)

MIN_POLL_SECONDS = 0.1


def error_html(message: str) -> str:
    return f"<div class='error'>{html.escape(message)}</div>"


def run_queued_task(id_task: str, job: str, func: Callable, *args, **kwargs):
    """func(*args, **kwargs) as the job id_task under the generation lock (call_queue.run_as_job).

    Returns (func's result, None), or (None, error message) when it raised: a failed generation must not take the
    server down, and the page shows the message."""
    try:
        return call_queue.run_as_job(call_queue.queue_lock, id_task, job, func, *args, **kwargs), None
    except Exception as error:  # shown in the UI; the traceback goes to the console
        log.exception("Error while running %s", job)
        return None, f"{type(error).__name__}: {error}"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def progress_html(info: dict) -> str:
    """The progress bar for one /internal/progress answer: "42% ETA: 3s" over a filled bar, then the job text."""
    if not info.get("active"):
        label = html.escape(info.get("textinfo") or "Waiting...")
        return f"<div class='progressDiv'><div class='progress' style='width:0%'></div>" \
               f"<span class='progress-text'>{label}</span></div>"
    percent = int((info.get("progress") or 0.0) * 100)
    eta = format_eta(info.get("eta"))
    label = f"{percent}%" + (f" ETA: {eta}" if eta else "")
    text = f"<div class='progress-textinfo'>{html.escape(info['textinfo'])}</div>" if info.get("textinfo") else ""
    return f"<div class='progressDiv'><div class='progress' style='width:{percent}%'></div>" \
           f"<span class='progress-text'>{label}</span></div>{text}"


def live_preview_html(data_uri: str) -> str:
    return f"<img class='livePreview' src='{data_uri}' alt='Live preview'>"


def poll_seconds() -> float:
    return max(MIN_POLL_SECONDS, float(shared.opts.live_preview_refresh_period) / 1000.0)


class TaskUpdate:
    """One step of stream_task: progress while running (done False), the task's return value at the end."""

    def __init__(self, done: bool, progress_bar: str = "", live_preview: str | None = None, result=None):
        self.done = done
        self.progress_bar = progress_bar
        self.live_preview = live_preview
        self.result = result


def stream_task(id_task: str, target: Callable) -> Iterator[TaskUpdate]:
    """Runs target() in a thread; yields progress updates while it runs, then its result."""
    outcome = {}

    def run():
        outcome["result"] = target()

    thread = threading.Thread(target=run, name=f"generate {id_task}", daemon=True)
    thread.start()
    yield TaskUpdate(False, progress_bar=progress_html({"active": False, "textinfo": "Waiting..."}))

    id_live_preview = -1
    while True:
        thread.join(poll_seconds())
        if not thread.is_alive():
            break
        info = progress.progress_for(id_task, id_live_preview=id_live_preview)
        preview = info.get("live_preview")
        if preview:
            id_live_preview = info["id_live_preview"]
        yield TaskUpdate(False, progress_bar=progress_html(info), live_preview=preview)
    yield TaskUpdate(True, result=outcome.get("result"))
