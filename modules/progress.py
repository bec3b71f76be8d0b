"""Per-task bookkeeping behind /internal/progress: which task runs, which wait, which finished, and their results."""

import base64
import io
import random
import string
import threading
import time
from collections import OrderedDict

FINISHED_TASKS_LIMIT = 16
RECORDED_RESULTS_LIMIT = 2

current_task = None
pending_tasks: OrderedDict[str, float] = OrderedDict()
"""id_task -> time it was queued"""
finished_tasks: list[str] = []
recorded_results: OrderedDict[str, object] = OrderedDict()
"""id_task -> whatever the task returned; only the last few are kept"""

_lock = threading.Lock()


def create_task_id(task_type: str) -> str:
    suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=7))
    return f"task({task_type}-{suffix})"


def add_task_to_queue(id_job: str):
    with _lock:
        pending_tasks[id_job] = time.time()


def start_task(id_task: str):
    global current_task
    with _lock:
        current_task = id_task
        pending_tasks.pop(id_task, None)


def finish_task(id_task: str):
    global current_task
    with _lock:
        if current_task == id_task:
            current_task = None
        finished_tasks.append(id_task)
        del finished_tasks[:-FINISHED_TASKS_LIMIT]


def record_results(id_task: str, result):
    with _lock:
        recorded_results[id_task] = result
        while len(recorded_results) > RECORDED_RESULTS_LIMIT:
            recorded_results.popitem(last=False)


def restore_progress(id_task: str, poll_interval: float = 0.1):
    """Waits while the task is running or queued, then returns its recorded result (None when not kept)."""
    while id_task == current_task or id_task in pending_tasks:
        time.sleep(poll_interval)
    return recorded_results.get(id_task)


def _queue_text(id_task: str, job=None, jobs=None) -> str:
    if job is not None and job.state == "queued":
        return f"In queue: {jobs.position(job)}/{jobs.store.count('queued')}" + (" (paused)" if jobs.paused else "")
    with _lock:
        queued = sorted(pending_tasks, key=pending_tasks.get)
    if id_task not in queued:
        return "Waiting..."
    return f"In queue: {queued.index(id_task) + 1}/{len(queued)}"


def _encode_preview(image, image_format: str) -> str:
    buffer = io.BytesIO()
    save_kwargs = {}
    if image_format == "png":
        # optimize is very slow on big images; compress lightly instead
        save_kwargs = {"optimize": True} if max(image.size) <= 256 else {"optimize": False, "compress_level": 1}
    image.save(buffer, format=image_format, **save_kwargs)
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _state_of(id_task: str | None):
    """The task's own State while it runs as a job; for a task run without one (the server's State), shared.state
    while it is the current task; else (no task id at all, too) None."""
    from modules import shared
    from modules.runtime import job_state

    if id_task is None:
        return None
    state = job_state.running(id_task)
    if state is None and id_task == current_task:
        state = shared.state
    return state


def progress_for(id_task: str, id_live_preview: int = -1, live_preview: bool = True, jobs=None) -> dict:
    """The /internal/progress answer for one task, from that task's own State and its generation's options; a job
    of the job queue `jobs` is queued or completed as the queue has it."""
    state = _state_of(id_task)
    job = jobs.store.get(id_task) if jobs is not None and id_task else None
    queued = id_task in pending_tasks or (job is not None and job.state == "queued")
    completed = id_task in finished_tasks or (job is not None and job.finished)
    if state is None:
        return {"active": False, "queued": queued, "completed": completed, "progress": None, "eta": None,
                "live_preview": None, "id_live_preview": -1, "textinfo": _queue_text(id_task, job, jobs)}

    progress = state.progress(start_offset=0.0)
    eta = state.eta_relative(start_offset=0.0)

    preview = None
    options = state.preview_options()
    if live_preview and options.live_previews_enable:
        state.set_current_image()
        if state.id_live_preview != id_live_preview and state.current_image is not None:
            preview = _encode_preview(state.current_image, options.live_previews_image_format)
            id_live_preview = state.id_live_preview

    return {"active": True, "queued": queued, "completed": completed, "progress": progress, "eta": eta,
            "live_preview": preview, "id_live_preview": id_live_preview, "textinfo": state.textinfo}
