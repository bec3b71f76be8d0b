"""M15 without Ray: which queued job an idle worker takes (checkpoint affinity, never past a higher priority), a
running job whose worker died (queued again, or failed with no attempts left), and the placing of a remote worker's
files where a local run would have saved them."""

import os
import threading

import pytest

from modules import images, output_paths, paths_internal
from modules.jobs import affinity
from modules.jobs import store as job_store
from modules.jobs.events import EventBus
from modules.jobs.queue import JobQueue
from modules.jobs.spec import GenerationSpec
from modules.workers import placement


def candidate(job_id: str, checkpoint: str | None, priority: int = 0) -> affinity.Candidate:
    return affinity.Candidate(job_id, priority, checkpoint)


@pytest.mark.parametrize(("queued", "mine", "others", "chosen"), [
    ([], {"A"}, set(), None),
    ([candidate("1", "A"), candidate("2", "B")], {"A"}, {"B"}, "1"),
    ([candidate("1", "B"), candidate("2", "A")], {"A"}, {"B"}, "2"),  # B's holder takes job 1 when it is free
    ([candidate("1", "B"), candidate("2", "A")], {"A"}, set(), "1"),  # nobody holds B: first come, first served
    ([candidate("1", "B", 5), candidate("2", "A", 0)], {"A"}, {"B"}, "1"),  # never past a higher priority
    ([candidate("1", "B"), candidate("2", "C"), candidate("3", "A")], {"A"}, {"B"}, "3"),
    ([candidate("1", "B"), candidate("2", "C")], {"A"}, {"B"}, "1"),  # nothing of mine: the first
    ([candidate("1", None), candidate("2", "A")], {"A"}, {"B"}, "1"),
])
def test_an_idle_worker_takes_the_first_job_or_skips_to_one_for_its_checkpoint(queued, mine, others, chosen):
    choice = affinity.choose(queued, mine, others)
    assert (choice.job_id if choice else None) == chosen


class FakeWorker:
    def __init__(self, name: str, checkpoints: list[str], alive: bool = True):
        self.name, self.checkpoints, self.alive = name, checkpoints, alive

    def loaded_checkpoints(self):
        return self.checkpoints


@pytest.fixture
def jobs(tmp_path):
    store = job_store.JobStore(str(tmp_path / "jobs.sqlite3"))
    queue = JobQueue(store, EventBus())
    queue.checkpoint_name = lambda requested: requested
    yield queue
    store.close()


def submit(jobs: JobQueue, checkpoint: str, priority: int = 0) -> str:
    spec = GenerationSpec(mode="txt2img", params={"override_settings": {"sd_model_checkpoint": checkpoint}})
    return jobs.submit(spec, priority)[0].id


def test_workers_claim_by_checkpoint_through_the_queue_and_the_started_event_names_the_worker(jobs):
    holder_a, holder_b = FakeWorker("a", ["A"]), FakeWorker("b", ["B"])
    jobs.workers = [holder_a, holder_b]
    first_b, first_a, second_b = submit(jobs, "B"), submit(jobs, "A"), submit(jobs, "B")
    listener = jobs.events.subscribe()
    assert jobs.claim(threading.Event(), timeout=0, worker=holder_a).id == first_a
    assert jobs.claim(threading.Event(), timeout=0, worker=holder_a).id == first_b  # nothing of A's left
    assert jobs.claim(threading.Event(), timeout=0, worker=holder_b).id == second_b
    started = [listener.next(0) for _ in range(3)]
    assert [(event.job, event.data["worker"]) for event in started] == [(first_a, "a"), (first_b, "a"),
                                                                        (second_b, "b")]


def test_a_job_whose_worker_died_is_queued_again_then_fails_with_no_attempts_left(jobs):
    job_id = submit(jobs, "A")
    waiting = jobs.submit(GenerationSpec(mode="txt2img", params={}), wait=True)[0].id
    jobs.store.set_priority(waiting, -1)
    listener = jobs.events.subscribe(job_id)
    assert jobs.claim(threading.Event(), timeout=0).id == job_id
    requeued = jobs.interrupted(job_id, "worker w died")
    assert (requeued.state, requeued.attempts) == ("queued", 1)
    assert jobs.claim(threading.Event(), timeout=0).id == job_id
    failed = jobs.interrupted(job_id, "worker w died")
    assert failed.state == "failed" and "worker w died" in failed.error["message"]
    assert jobs.interrupted(job_id, "again") is None  # not running any more
    types = [event.type for event in iter(lambda: listener.next(0), None)]
    assert types == ["job.queued", "job.started", "job.retrying", "job.started", "job.failed"]

    assert jobs.claim(threading.Event(), timeout=0).id == waiting
    jobs.store.set_priority(waiting, 0)
    jobs.store._db.execute("UPDATE jobs SET max_attempts = 1 WHERE id = ?", (waiting,))
    jobs.interrupted(waiting, "gone")
    outcome = jobs.wait(waiting, timeout=1)
    assert "gone" in str(outcome.error)


def staged(folder: str, *names: str) -> list[tuple[str, bytes]]:
    return [(f"{folder}/{name}", name.encode()) for name in names]


def test_staged_files_are_placed_in_the_same_folder_numbered_after_the_files_already_there(tmp_path):
    day = tmp_path / "outputs" / "txt2img-images" / "2026-12-05"
    day.mkdir(parents=True)
    (day / "00006-1.png").write_bytes(b"older")
    grids = tmp_path / "outputs" / "txt2img-grids" / "2026-12-05"
    files = staged("outputs/txt2img-images/2026-12-05", "00000-11.png", "00000-11.txt", "00001-12.png") + \
        staged("outputs/txt2img-grids/2026-12-05", "grid-0000.png") + staged("outputs/saved", "named.png")
    (tmp_path / "outputs" / "saved").mkdir()
    (tmp_path / "outputs" / "saved" / "named.png").write_bytes(b"kept")
    placed = placement.place(files, str(tmp_path))
    assert placed == {
        "outputs/txt2img-images/2026-12-05/00000-11.png": str(day / "00007-11.png"),
        "outputs/txt2img-images/2026-12-05/00000-11.txt": str(day / "00007-11.txt"),
        "outputs/txt2img-images/2026-12-05/00001-12.png": str(day / "00008-12.png"),
        "outputs/txt2img-grids/2026-12-05/grid-0000.png": str(grids / "grid-0000.png"),
        "outputs/saved/named.png": str(tmp_path / "outputs" / "saved" / "named-1.png"),
    }
    assert (day / "00007-11.png").read_bytes() == b"00000-11.png"
    assert (day / "00006-1.png").read_bytes() == b"older"
    assert images.get_next_sequence_number(str(day), "") == 9


def test_inside_a_remote_job_save_image_writes_under_the_staging_folder(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path / "data"))
    staging = tmp_path / "staging"
    token = output_paths.staging_root.set(str(staging))
    try:
        path, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=3, save_to_dirs=False)
        outside, _ = images.save_image(Image.new("RGB", (8, 8)), str(tmp_path / "elsewhere"), "", seed=4,
                                       save_to_dirs=False)
    finally:
        output_paths.staging_root.reset(token)
    assert path == str(staging / "outputs" / "x" / "00000-3.png")
    assert outside == os.path.join(str(staging), output_paths.STAGED_ABSOLUTE,
                                   str(tmp_path / "elsewhere").lstrip(os.sep), "00000-4.png")
    assert not (tmp_path / "data").exists() and not (tmp_path / "elsewhere").exists()
    relative = os.path.relpath(outside, staging).replace(os.sep, "/")
    assert placement.target_folder(os.path.dirname(relative), "/unused") == str(tmp_path / "elsewhere")

