import base64
import io
import re
import threading
from collections import OrderedDict

import pytest
from PIL import Image

from modules import progress, shared
from modules.shared_state import State


@pytest.fixture(autouse=True)
def fresh_bookkeeping(monkeypatch):
    monkeypatch.setattr(progress, "current_task", None)
    monkeypatch.setattr(progress, "pending_tasks", OrderedDict())
    monkeypatch.setattr(progress, "finished_tasks", [])
    monkeypatch.setattr(progress, "recorded_results", OrderedDict())
    state = State(live_options=shared.opts)
    monkeypatch.setattr(shared, "state", state)
    monkeypatch.setitem(shared.opts.data, "live_previews_enable", True)
    monkeypatch.setitem(shared.opts.data, "live_previews_image_format", "png")
    monkeypatch.setitem(shared.opts.data, "show_progress_every_n_steps", 1)
    return state


def test_create_task_id():
    first, second = progress.create_task_id("txt2img"), progress.create_task_id("txt2img")
    assert re.fullmatch(r"task\(txt2img-[A-Z0-9]{7}\)", first)
    assert first != second


def test_queue_then_run_then_finish():
    progress.add_task_to_queue("a")
    progress.add_task_to_queue("b")
    assert progress.progress_for("b") == {
        "active": False, "queued": True, "completed": False, "progress": None, "eta": None, "live_preview": None,
        "id_live_preview": -1, "textinfo": "In queue: 2/2"}

    progress.start_task("a")
    assert progress.current_task == "a"
    assert list(progress.pending_tasks) == ["b"]
    assert progress.progress_for("b")["textinfo"] == "In queue: 1/1"
    assert progress.progress_for("a")["active"] is True

    progress.finish_task("a")
    assert progress.current_task is None
    answer = progress.progress_for("a")
    assert (answer["active"], answer["queued"], answer["completed"], answer["textinfo"]) == (
        False, False, True, "Waiting...")


def test_finish_of_other_task_keeps_current():
    progress.start_task("a")
    progress.finish_task("b")
    assert progress.current_task == "a"


def test_finished_tasks_and_results_are_bounded():
    for number in range(40):
        progress.finish_task(f"t{number}")
        progress.record_results(f"t{number}", number)
    assert progress.finished_tasks == [f"t{number}" for number in range(24, 40)]
    assert list(progress.recorded_results) == ["t38", "t39"]


def test_active_task_progress_and_eta(fresh_bookkeeping, monkeypatch):
    state = fresh_bookkeeping
    monkeypatch.setattr("modules.runtime.job_state.time.time", lambda: 110.0)
    progress.start_task("a")
    state.time_start = 100.0
    state.job_count, state.job_no, state.sampling_steps, state.sampling_step = 2, 1, 10, 5
    state.textinfo = "Sampling"
    answer = progress.progress_for("a")
    assert answer["active"] is True
    assert answer["progress"] == pytest.approx(0.75)
    assert answer["eta"] == pytest.approx(10 / 0.75 - 10)
    assert answer["textinfo"] == "Sampling"
    assert answer["live_preview"] is None


def test_live_preview_is_sent_once_per_new_image(fresh_bookkeeping):
    state = fresh_bookkeeping
    progress.start_task("a")
    state.begin("txt2img")
    state.job_count, state.sampling_steps = 1, 10
    state.preview_decoder = lambda latent, options: Image.new("RGB", (16, 8), "red")
    state.current_latent = "latent"
    state.sampling_step = 3

    answer = progress.progress_for("a", id_live_preview=-1)
    assert answer["id_live_preview"] == 1
    prefix = "data:image/png;base64,"
    assert answer["live_preview"].startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(answer["live_preview"][len(prefix):])))
    assert image.size == (16, 8)

    again = progress.progress_for("a", id_live_preview=answer["id_live_preview"])
    assert again["live_preview"] is None and again["id_live_preview"] == 1


def test_live_preview_can_be_declined(fresh_bookkeeping):
    state = fresh_bookkeeping
    progress.start_task("a")
    state.assign_current_image(Image.new("RGB", (4, 4)))
    assert progress.progress_for("a", live_preview=False)["live_preview"] is None


def test_restore_progress_waits_for_the_task():
    progress.start_task("a")
    results = []
    waiter = threading.Thread(target=lambda: results.append(progress.restore_progress("a", poll_interval=0.01)))
    waiter.start()
    progress.record_results("a", "images")
    progress.finish_task("a")
    waiter.join(timeout=5)
    assert results == ["images"]
    assert progress.restore_progress("never-ran") is None
