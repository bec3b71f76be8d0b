"""The Queue tab: the queued, running and recent jobs of the job queue, with cancel, pause and resume."""

import datetime

import gradio as gr

from modules.jobs.queue import JobQueue, QueueError
from modules.jobs.store import QUEUED, RUNNING

RECENT_JOBS = 20
COLUMNS = ["Job", "Type", "State", "Position", "Priority", "Attempts", "Submitted", "Error"]


def _time(timestamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S") if timestamp else ""


def rows(jobs: JobQueue) -> list[list]:
    """Running jobs, then queued ones in the order they will run, then the most recent finished ones."""
    positions = jobs.store.queued_positions()
    listed = [jobs.store.get(job_id) for job_id in jobs.store.ids(RUNNING) + list(positions)]
    recent = [job for job in jobs.store.page(limit=RECENT_JOBS + len(listed)) if job.state not in (QUEUED, RUNNING)]
    return [[job.id, job.type, job.state, positions.get(job.id, ""), job.priority, job.attempts,
             _time(job.submitted_at), (job.error or {}).get("message", "")]
            for job in [*filter(None, listed), *recent[:RECENT_JOBS]]]


def status_text(jobs: JobQueue) -> str:
    return f"{'Paused' if jobs.paused else 'Running'}: {len(jobs.store.ids(RUNNING))} running, " \
           f"{jobs.store.count(QUEUED)} queued"


def cancel(jobs: JobQueue, job_id: str) -> str:
    job_id = (job_id or "").strip()
    if not job_id:
        return "Enter the id of a queued or running job"
    try:
        jobs.cancel(job_id)
    except QueueError as error:
        return error.message
    return f"Cancelled {job_id}"


def create_tab(jobs: JobQueue):
    def refresh():
        return rows(jobs), status_text(jobs)

    with gr.Column(elem_id="queue_panel"):
        with gr.Row():
            status = gr.Markdown(status_text(jobs), elem_id="queue_status")
            refresh_button = gr.Button("Refresh", elem_id="queue_refresh", scale=0)
            pause_button = gr.Button("Pause", elem_id="queue_pause", scale=0)
            resume_button = gr.Button("Resume", elem_id="queue_resume", scale=0)
        table = gr.Dataframe(value=rows(jobs), headers=COLUMNS, interactive=False, elem_id="queue_jobs", wrap=True)
        with gr.Row():
            job_id = gr.Textbox(label="Job id", placeholder="task(txt2img-...)", elem_id="queue_job_id", scale=3)
            cancel_button = gr.Button("Cancel job", variant="stop", elem_id="queue_cancel", scale=1)
        message = gr.Markdown(elem_id="queue_message")
        timer = gr.Timer(2.0)

    outputs = [table, status]
    refresh_button.click(fn=refresh, outputs=outputs, api_visibility="private")
    timer.tick(fn=refresh, outputs=outputs, api_visibility="private", show_progress="hidden")
    pause_button.click(fn=lambda: (jobs.pause(), *refresh())[1:], outputs=outputs, api_visibility="private")
    resume_button.click(fn=lambda: (jobs.resume(), *refresh())[1:], outputs=outputs, api_visibility="private")
    cancel_button.click(fn=lambda value: (cancel(jobs, value), *refresh()), inputs=[job_id],
                        outputs=[message, *outputs], api_visibility="private")
    table.select(fn=lambda event: event.row_value[0] if event.row_value else gr.skip(), outputs=[job_id],
                 api_visibility="private")
