"""M15 without Ray: which queued job an idle worker takes (checkpoint affinity, never past a higher priority), a
running job whose worker died (queued again, or failed with no attempts left), and the placing of a remote worker's
files where a local run would have saved them."""

import errno
import os
import pathlib
import threading

import pytest

from modules import images, output_paths, paths_internal
from modules.jobs import affinity
from modules.jobs.spec import GenerationSpec
from modules.workers import placement, remote_job
from test.job_fakes import FakeWorker, job_queue, submit


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


@pytest.fixture
def jobs(tmp_path):
    with job_queue(str(tmp_path / "jobs.sqlite3"), checkpoint_name=lambda requested: requested) as queue:
        yield queue


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
    return [(f"data/{folder}/{name}", name.encode()) for name in names]


def test_staged_files_are_placed_in_the_same_folder_numbered_after_the_files_already_there(tmp_path):
    day = tmp_path / "outputs" / "txt2img-images" / "2026-12-05"
    day.mkdir(parents=True)
    (day / "00006-1.png").write_bytes(b"older")
    grids = tmp_path / "outputs" / "txt2img-grids" / "2026-12-05"
    files = staged("outputs/txt2img-images/2026-12-05", "00000-1234.png", "00000-1234.txt", "00001-12.png") + \
        staged("outputs/txt2img-grids/2026-12-05", "grid-0000.png") + staged("outputs/saved", "named.png")
    numbered = {"data/outputs/txt2img-images/2026-12-05/00000-1234": ["", 0, "-1234"],
                "data/outputs/txt2img-images/2026-12-05/00001-12": ["", 1, "-12"],
                "data/outputs/txt2img-grids/2026-12-05/grid-0000": ["grid", 0, ""]}
    (tmp_path / "outputs" / "saved").mkdir()
    (tmp_path / "outputs" / "saved" / "named.png").write_bytes(b"kept")
    (tmp_path / "outputs" / "saved" / "named-1.txt").write_bytes(b"a text of another image")
    placed = placement.place(files, numbered, str(tmp_path))
    assert placed == {
        "data/outputs/txt2img-images/2026-12-05/00000-1234.png": str(day / "00007-1234.png"),
        "data/outputs/txt2img-images/2026-12-05/00000-1234.txt": str(day / "00007-1234.txt"),
        "data/outputs/txt2img-images/2026-12-05/00001-12.png": str(day / "00008-12.png"),
        "data/outputs/txt2img-grids/2026-12-05/grid-0000.png": str(grids / "grid-0000.png"),
        "data/outputs/saved/named.png": str(tmp_path / "outputs" / "saved" / "named-1.png"),
    }
    assert (day / "00007-1234.png").read_bytes() == b"00000-1234.png"
    assert (day / "00006-1.png").read_bytes() == b"older"
    assert images.get_next_sequence_number(str(day), "") == 9


@pytest.mark.parametrize(("basename", "rest"), [("", "-1234"), ("", "-2026-12-05"), ("img-0001", "-7"),
                                                 ("", "-0002-0003")])
def test_a_numbered_name_is_renumbered_from_its_recorded_parts_whatever_digits_it_holds(tmp_path, basename, rest):
    folder = tmp_path / "out"
    folder.mkdir()
    existing = images.numbered_stem(basename, 4, "-old") + ".png"
    (folder / existing).write_bytes(b"older")
    stem = images.numbered_stem(basename, 0, rest)
    placed = placement.place([(f"data/out/{stem}.png", b"new")], {f"data/out/{stem}": [basename, 0, rest]},
                             str(tmp_path))
    assert placed[f"data/out/{stem}.png"] == str(folder / (images.numbered_stem(basename, 5, rest) + ".png"))
    assert (folder / existing).read_bytes() == b"older"


def test_a_data_folder_named_like_the_absolute_marker_stays_in_the_data_dir(tmp_path):
    data = tmp_path / "data"
    placed = placement.place([("data/abs/tmp/x.png", b"x"), ("data/_absolute/tmp/y.png", b"y")], {}, str(data))
    assert placed == {"data/abs/tmp/x.png": str(data / "abs" / "tmp" / "x.png"),
                      "data/_absolute/tmp/y.png": str(data / "_absolute" / "tmp" / "y.png")}


@pytest.mark.parametrize("relative", ["_absolute/tmp/x.png", "outputs/x.png", "data/../x.png", "data/a/../../x.png",
                                      "data//x.png", "abs/../etc/x.png", "data/./x.png", "data/..", "x.png",
                                      "data/x\0.png"])
def test_a_staged_path_outside_the_layout_is_refused_before_anything_is_written(tmp_path, relative):
    data = tmp_path / "data"
    with pytest.raises(placement.UnsafeStagedPath):
        placement.place([("data/fine/ok.png", b"ok"), (relative, b"x")], {}, str(data))
    assert not data.exists()


@pytest.mark.parametrize("record", [["../../escape", 0, ""], ["", 0, "/../../../escape"], ["", "0", "-1"],
                                    ["", 0], ["", 1, "-1"], None])
def test_number_parts_that_do_not_spell_the_staged_name_are_not_used(tmp_path, record):
    data = tmp_path / "data"
    (data / "out").mkdir(parents=True)
    (data / "out" / "00007-1.png").write_bytes(b"older")
    placed = placement.place([("data/out/00000-1.png", b"new")], {"data/out/00000-1": record}, str(data))
    assert placed == {"data/out/00000-1.png": str(data / "out" / "00000-1.png")}
    assert sorted(os.listdir(data / "out")) == ["00000-1.png", "00007-1.png"] and os.listdir(tmp_path) == ["data"]


@pytest.fixture
def in_staging(tmp_path, monkeypatch):
    """A remote job's staging (the data dir tmp_path/"data", no before_image_saved callbacks)."""
    from modules import script_callbacks, shared

    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path / "data"))
    monkeypatch.setitem(script_callbacks.callback_map, "callbacks_before_image_saved", [])
    for key, value in {"samples_filename_pattern": "[seed]", "save_images_add_number": True, "save_txt": False,
                       "export_for_4chan": False, "save_images_replace_action": "Replace"}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    staging = output_paths.Staging(str(tmp_path / "staging"))
    token = output_paths.staging.set(staging)
    yield staging
    output_paths.staging.reset(token)


def test_an_image_its_txt_and_its_jpg_copy_are_placed_under_one_new_number(tmp_path, monkeypatch, in_staging):
    from PIL import Image

    from modules import shared

    for key, value in {"save_txt": True, "export_for_4chan": True, "target_side_length": 4}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=1234, info="a cat", save_to_dirs=False)
    files = remote_job.staged_files(in_staging.root)
    assert [relative for relative, _ in files] == [f"data/outputs/x/00000-1234.{extension}"
                                                   for extension in ("jpg", "png", "txt")]
    assert in_staging.numbered == {"data/outputs/x/00000-1234": ["", 0, "-1234"]}
    folder = tmp_path / "data" / "outputs" / "x"
    folder.mkdir(parents=True)
    (folder / "00003-9.png").write_bytes(b"older")
    placed = placement.place(files, in_staging.numbered, str(tmp_path / "data"))
    assert sorted(placed.values()) == [str(folder / f"00004-1234.{extension}") for extension in ("jpg", "png", "txt")]
    assert (folder / "00004-1234.txt").read_text() == "a cat\n"


def test_a_numbered_name_shortened_to_fit_is_placed_under_the_next_number_here(tmp_path, monkeypatch, in_staging):
    from PIL import Image

    from modules import shared

    monkeypatch.setitem(shared.opts.data, "samples_filename_pattern", "[seed]-" + "p" * 400)
    staged, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=3, save_to_dirs=False)
    stem = os.path.basename(staged)[:-len(".png")]
    assert stem.startswith("00000-3-ppp") and len(stem) < 260
    target = tmp_path / "data" / "outputs" / "x"
    target.mkdir(parents=True)
    for number in range(7):
        (target / f"{number:05}-old.png").write_bytes(b"x")
    placed = placement.place(remote_job.staged_files(in_staging.root), in_staging.numbered, str(tmp_path / "data"))
    assert os.path.basename(placed["data/outputs/x/" + os.path.basename(staged)]) == "00007" + stem[len("00000"):] + ".png"


def test_save_image_records_no_number_for_a_name_it_did_not_keep_and_the_shortened_rest_of_one_it_shortened(monkeypatch, in_staging):
    from PIL import Image

    from modules import script_callbacks, shared

    monkeypatch.setitem(shared.opts.data, "save_images_replace_action", "Add number suffix")

    def taken_meanwhile(params):
        if params.filename.endswith("-6.png"):
            with open(params.filename, "wb") as file:
                file.write(b"someone else's")

    script_callbacks.on_before_image_saved(taken_meanwhile)
    kept, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=5, save_to_dirs=False)
    freed, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=6, save_to_dirs=False)
    shortened, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=7, suffix="-" + "x" * 300,
                                     save_to_dirs=False)
    assert os.path.basename(kept) == "00000-5.png" and os.path.basename(freed) == "00001-6-1.png"
    assert os.path.basename(shortened).startswith("00002-7-xxx") and len(os.path.basename(shortened)) < 300
    shortened_stem = os.path.basename(shortened)[:-len(".png")]
    assert in_staging.numbered == {"data/outputs/x/00000-5": ["", 0, "-5"],  # the taken one: not its number
                                   f"data/outputs/x/{shortened_stem}": ["", 2, shortened_stem[len("00002"):]]}


def test_two_placements_into_one_folder_at_once_keep_every_file(tmp_path, monkeypatch):
    real_write = images.write_bytes_new
    writes = threading.Barrier(2)

    def write_together(data, path):
        try:  # unless one placement waits for the other, both write their first file while its name is free
            writes.wait(timeout=0.5)
        except threading.BrokenBarrierError:
            pass
        return real_write(data, path)

    monkeypatch.setattr(images, "write_bytes_new", write_together)
    batches = {worker: [(f"data/out/{index:05}-1.png", f"{worker}:{index}".encode()) for index in range(20)]
               for worker in "ab"}
    numbered = {f"data/out/{index:05}-1": ["", index, "-1"] for index in range(20)}
    start = threading.Barrier(2)
    results = {}

    def placing(worker):
        start.wait()
        results[worker] = placement.place(batches[worker], numbered, str(tmp_path))

    threads = [threading.Thread(target=placing, args=(worker,)) for worker in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = [path for worker in "ab" for path in results[worker].values()]
    assert len(set(paths)) == 40 and len(os.listdir(tmp_path / "out")) == 40
    for worker in "ab":
        for relative, data in batches[worker]:
            with open(results[worker][relative], "rb") as file:
                assert file.read() == data


@pytest.mark.parametrize("taken", [".png", ".txt"])
def test_placing_takes_the_next_number_when_a_name_is_taken_while_it_writes(tmp_path, monkeypatch, taken):
    folder = tmp_path / "out"
    real_write = images.write_bytes_new
    raced = []

    def write_after_someone_else(data, path):
        if not raced and path.endswith(taken):  # a local worker saves under this name between check and write
            raced.append(path)
            with open(path, "wb") as file:
                file.write(b"local")
        return real_write(data, path)

    monkeypatch.setattr(images, "write_bytes_new", write_after_someone_else)
    placed = placement.place([("data/out/00000-5.png", b"remote"), ("data/out/00000-5.txt", b"info")],
                             {"data/out/00000-5": ["", 0, "-5"]}, str(tmp_path))
    assert placed == {"data/out/00000-5.png": str(folder / "00001-5.png"),
                      "data/out/00000-5.txt": str(folder / "00001-5.txt")}
    assert (folder / "00001-5.png").read_bytes() == b"remote" and (folder / "00001-5.txt").read_bytes() == b"info"
    assert sorted(os.listdir(folder)) == sorted(["00000-5" + taken, "00001-5.png", "00001-5.txt"])
    assert (folder / ("00000-5" + taken)).read_bytes() == b"local"


def test_a_placement_that_stops_partway_reports_the_groups_it_wrote_and_leaves_no_part_of_the_one_it_stopped_in(
        tmp_path, monkeypatch):
    real_write, writes = images.write_bytes_new, []

    def disk_full_at_the_fourth(data, path):
        writes.append(path)
        if len(writes) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(data, path)

    monkeypatch.setattr(images, "write_bytes_new", disk_full_at_the_fourth)
    files = staged("outputs/x", "a.png", "a.txt", "b.png", "b.txt")
    with pytest.raises(placement.PlacementFailed) as failed:
        placement.place(files, {}, str(tmp_path))
    assert sorted(failed.value.placed) == ["data/outputs/x/a.png", "data/outputs/x/a.txt"]
    assert sorted(os.listdir(tmp_path / "outputs" / "x")) == ["a.png", "a.txt"]


def test_writing_a_new_file_never_replaces_one(tmp_path):
    path = tmp_path / "a.png"
    assert images.write_bytes_new(b"first", str(path)) is True
    assert images.write_bytes_new(b"second", str(path)) is False
    assert path.read_bytes() == b"first" and os.listdir(tmp_path) == ["a.png"]


def test_on_a_file_system_without_hard_links_a_new_file_is_still_written_and_never_replaces_one(tmp_path,
                                                                                               monkeypatch):
    def no_hard_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    target = str(tmp_path / "00001-1.png")
    assert images.write_bytes_new(b"first", target) is True
    assert images.write_bytes_new(b"second", target) is False
    assert pathlib.Path(target).read_bytes() == b"first" and os.listdir(tmp_path) == ["00001-1.png"]


def test_inside_a_remote_job_save_image_writes_under_the_staging_folder_and_records_numbers(tmp_path, monkeypatch):
    from PIL import Image

    from modules import script_callbacks

    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path / "data"))
    monkeypatch.setitem(script_callbacks.callback_map, "callbacks_before_image_saved", [])
    staging = output_paths.Staging(str(tmp_path / "staging"))
    token = output_paths.staging.set(staging)
    renamed = []
    try:
        path, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=1234, save_to_dirs=False)
        outside, _ = images.save_image(Image.new("RGB", (8, 8)), str(tmp_path / "elsewhere"), "img", seed=4,
                                       save_to_dirs=False)
        script_callbacks.on_before_image_saved(lambda params: renamed.append(params) or setattr(
            params, "filename", params.filename.replace("00001", "mine")))
        changed, _ = images.save_image(Image.new("RGB", (8, 8)), "outputs/x", "", seed=5, save_to_dirs=False)
    finally:
        output_paths.staging.reset(token)
    root = tmp_path / "staging"
    assert path == str(root / "data" / "outputs" / "x" / "00000-1234.png")
    assert outside == os.path.join(str(root), output_paths.STAGED_ABSOLUTE,
                                   str(tmp_path / "elsewhere").lstrip(os.sep), "img-0000-4.png")
    assert renamed and changed == str(root / "data" / "outputs" / "x" / "mine-5.png")
    assert not (tmp_path / "data").exists() and not (tmp_path / "elsewhere").exists()
    absolute_stem = os.path.relpath(outside, root).replace(os.sep, "/")[:-len(".png")]
    assert staging.numbered == {"data/outputs/x/00000-1234": ["", 0, "-1234"], absolute_stem: ["img", 0, "-4"]}
    relative = os.path.relpath(outside, root).replace(os.sep, "/")
    assert placement.target_folder(os.path.dirname(relative), "/unused") == str(tmp_path / "elsewhere")


def test_a_data_relative_folder_that_leads_outside_the_data_dir_through_a_link_is_refused(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    (data / "outputs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(placement.UnsafeStagedPath, match="outside the data folder"):
        placement.place([("data/outputs/x.png", b"x")], {}, str(data))
    assert os.listdir(outside) == []
