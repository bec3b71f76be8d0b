"""Submits a tab's generation as a job and streams its progress to the page.

The click handler is a generator: it submits the job at interactive priority, then every
live_preview_refresh_period it reads progress.progress_for(job id) (the numbers behind /internal/progress: its place
in line while queued, then its own State's progress and live preview) and yields them. The last yield carries the
job's result (the tab's finisher, run in the job) or its error."""

import html
import logging
from collections.abc import Callable, Iterator

from modules import progress, shared
from modules.jobs import failures
from modules.jobs.queue import PRIORITY_INTERACTIVE, JobQueue, QueueError
from modules.jobs.script_values import NotStorable
from modules.jobs.spec import GenerationSpec
from modules.jobs.store import QUEUED, RUNNING
from modules.runtime import job_state

log = logging.getLogger(__name__)

MIN_POLL_SECONDS = 0.1


def error_html(message: str) -> str:
    return f"<div class='error'>{html.escape(message)}</div>"


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
    """One step of stream_job: progress while the job waits or runs (done False), its result at the end: (the
    finisher's value, None), or (None, error message)."""

    def __init__(self, done: bool, job_id: str | None = None, progress_bar: str = "", live_preview: str | None = None,
                 result=None):
        self.done = done
        self.job_id = job_id
        self.progress_bar = progress_bar
        self.live_preview = live_preview
        self.result = result


def stream_job(jobs: JobQueue, spec: GenerationSpec, finisher: Callable) -> Iterator[TaskUpdate]:
    """Submits the spec; yields its progress until it ends, then its result. A failed generation does not take the
    server down: the page shows its message (the traceback went to the console)."""
    try:
        job, _ = jobs.submit(spec, PRIORITY_INTERACTIVE, finisher=finisher, wait=True)
    except (QueueError, NotStorable) as error:
        yield TaskUpdate(True, result=(None, str(error)))
        return
    try:
        info = progress.progress_for(job.id, jobs=jobs)
        yield TaskUpdate(False, job_id=job.id, progress_bar=progress_html(info))
        id_live_preview = -1
        while not jobs.wait_until_done(job.id, poll_seconds()):
            info = progress.progress_for(job.id, id_live_preview=id_live_preview, jobs=jobs)
            preview = info.get("live_preview")
            if preview:
                id_live_preview = info["id_live_preview"]
            yield TaskUpdate(False, job_id=job.id, progress_bar=progress_html(info), live_preview=preview)
    except GeneratorExit:
        jobs.release(job.id)  # the page went away: the job goes on, its result stays in the store
        raise
    outcome = jobs.wait(job.id)
    if isinstance(outcome.error, QueueError):
        yield TaskUpdate(True, job_id=job.id, result=(None, outcome.error.message))
    elif outcome.error is not None:
        yield TaskUpdate(True, job_id=job.id, result=(None, f"{failures.error_name(outcome.error)}: {outcome.error}"))
    else:
        yield TaskUpdate(True, job_id=job.id, result=(outcome.value, None))


def stop_job(jobs: JobQueue, job_id: str | None, skip: bool = False) -> None:
    """The page's Interrupt (or Skip) for its own job: a queued one is cancelled (Skip leaves it), a running one
    interrupted (or its current image skipped); nothing else is touched."""
    if not job_id:
        return
    try:
        job = jobs.get(job_id)
    except QueueError:
        return
    if job.state == QUEUED and not skip:
        try:
            jobs.cancel(job_id)
        except QueueError:
            pass  # it started meanwhile: interrupt it below
        else:
            return
    state = job_state.running(job_id)
    if state is not None and job.state in (QUEUED, RUNNING):
        state.skip() if skip else state.interrupt()
