"""M15 without Ray, the faults a worker meets: a dead worker's checkpoints and a long-waiting first job in the
claim, the checkpoint a job names kept with it at submit, a cancel that meets a dead worker or one that never got
the job, the server's State of a job on a remote worker (progress, preview, interrupt and skip reach it), the flags a
remote worker starts with, its loaded-checkpoint cache and checkpoint names, and a remote failure answered as the
local one."""

import sqlite3
import threading
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules import progress, safe, sd_models, shared
from modules.api import errors
from modules.jobs import affinity, failures, live
from modules.jobs import store as job_store
from modules.jobs.queue import JobConflict, JobQueue
from modules.jobs.spec import GenerationSpec
from modules.runtime import job_state
from modules.workers import engine_flags, remote_job
from modules.workers.remote_state import RemoteState
from test.job_fakes import FakeWorker, job_queue, submit


@pytest.fixture
def jobs(tmp_path):
    with job_queue(str(tmp_path / "jobs.sqlite3"), checkpoint_name=lambda requested: requested or "selected") as queue:
        yield queue


def claim(jobs: JobQueue, worker=None):
    return jobs.claim(threading.Event(), timeout=0, worker=worker)


def test_a_dead_workers_checkpoints_do_not_make_others_skip_the_first_job(jobs):
    first_b, then_a = submit(jobs, "B"), submit(jobs, "A")
    holder_a = FakeWorker("a", ["A"])
    jobs.workers = [holder_a, FakeWorker("b", ["B"], alive=False)]
    assert claim(jobs, holder_a).id == first_b
    jobs.workers = [holder_a, FakeWorker("b", ["B"])]
    assert claim(jobs, holder_a).id == then_a


def test_a_first_job_that_waited_long_enough_is_taken_by_whoever_asks():
    queued = [affinity.Candidate("1", 0, "B", waited_s=affinity.PATIENCE_S), affinity.Candidate("2", 0, "A")]
    assert affinity.choose(queued, {"A"}, {"B"}).job_id == "1"
    queued[0] = affinity.Candidate("1", 0, "B", waited_s=affinity.PATIENCE_S - 1)
    assert affinity.choose(queued, {"A"}, {"B"}).job_id == "2"


def test_patience_counts_from_when_the_first_job_was_first_passed_over_not_from_its_submit(jobs):
    now = [0.0]
    jobs.store.clock = lambda: now[0]
    first_b = submit(jobs, "B")
    holder_a = FakeWorker("a", ["A"])
    jobs.workers = [holder_a, FakeWorker("b", ["B"])]
    first_a = submit(jobs, "A")
    now[0] = 10 * affinity.PATIENCE_S  # a backlog older than the patience: routing still holds
    assert claim(jobs, holder_a).id == first_a
    now[0] += affinity.PATIENCE_S - 1
    submit(jobs, "A")
    assert claim(jobs, holder_a).id != first_b
    now[0] += 1  # passed over for PATIENCE_S: whoever asks takes it
    submit(jobs, "A")
    assert claim(jobs, holder_a).id == first_b


def test_the_checkpoint_a_job_names_is_stored_at_submit_and_claims_do_not_read_specs(jobs, monkeypatch):
    mine = (submit(jobs, "B"), submit(jobs, "A"), submit(jobs, None))[1]
    assert [checkpoint for _, checkpoint in jobs.store.queued_head(5)] == ["B", "A", None]
    monkeypatch.setattr(GenerationSpec, "from_json", lambda text: pytest.fail("a claim parsed a stored spec"))
    holder_a = FakeWorker("a", ["A"])
    jobs.workers = [holder_a, FakeWorker("b", ["B"])]
    assert claim(jobs, holder_a).id == mine


def test_with_no_other_worker_holding_anything_a_claim_takes_the_first_job_without_looking_ahead(jobs, monkeypatch):
    first = submit(jobs, "B")
    submit(jobs, "A")
    monkeypatch.setattr(jobs.store, "queued_head", lambda limit: pytest.fail("looked ahead"))
    worker = FakeWorker("a", ["A"])
    jobs.workers = [worker, FakeWorker("idle", [])]
    assert claim(jobs, worker).id == first


def open_stores_at_once(path: str, count: int) -> tuple[list, list]:
    """(the stores opened, the errors met) when `count` threads open a JobStore on path at the same moment."""
    barrier, opened, errors = threading.Barrier(count), [], []

    def open_store():
        barrier.wait()
        try:
            opened.append(job_store.JobStore(path))
        except Exception as e:
            errors.append(e)

    openers = [threading.Thread(target=open_store) for _ in range(count)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    return opened, errors


def test_a_database_from_before_the_checkpoint_column_gets_it_filled_from_the_specs_even_opened_twice_at_once(
        tmp_path):
    path = str(tmp_path / "old.sqlite3")
    old_schema = job_store.SCHEMA.replace(",\n    checkpoint TEXT\n", "\n")
    assert "checkpoint" not in old_schema
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        for number, overrides in enumerate([{"sd_model_checkpoint": "A"}, {}, {"sd_model_checkpoint": ""},
                                            {"sd_model_checkpoint": 3}]):
            spec = GenerationSpec(mode="txt2img", params={"override_settings": overrides}).to_json()
            db.execute("INSERT INTO jobs (id, type, state, priority, fingerprint, spec, max_attempts, submitted_at) "
                       "VALUES (?, 'txt2img', 'queued', 0, 'f', ?, 2, ?)", (f"old-{number}", spec, number))
        db.execute("INSERT INTO jobs (id, type, state, priority, fingerprint, spec, max_attempts, submitted_at) "
                   "VALUES ('unreadable', 'txt2img', 'queued', 0, 'f', 'not json', 2, 9)")
    opened, errors = open_stores_at_once(path, 2)
    try:
        assert not errors and len(opened) == 2
        store = opened[0]
        assert [checkpoint for _, checkpoint in store.queued_head(10)] == ["A", None, None, None, None]
        store.add("j", "txt2img", "{}", "f", 0, 2, checkpoint="B")
        assert store.queued_head(10)[-1][1] == "B"
    finally:
        for store in opened:
            store.close()


def test_a_cancel_asked_for_before_the_worker_died_ends_the_job_cancelled(jobs):
    job_id = submit(jobs, "A", wait=True)
    claim(jobs)
    jobs.cancel(job_id)
    ended = jobs.interrupted(job_id, "worker w died")
    assert ended.state == "cancelled"
    assert jobs.wait(job_id, timeout=1).record.state == "cancelled"


def test_a_job_that_never_reached_its_worker_is_queued_again_without_counting_the_attempt(jobs):
    job_id = submit(jobs, "A")
    listener = jobs.events.subscribe(job_id)
    assert claim(jobs).attempts == 1
    back = jobs.unclaim(job_id)
    assert (back.state, back.attempts) == ("queued", 0)
    assert [event.type for event in iter(lambda: listener.next(0), None)] == ["job.queued", "job.started", "job.retrying"]
    assert claim(jobs).attempts == 1
    jobs.cancel(job_id)
    assert jobs.unclaim(job_id).state == "cancelled"


def test_a_cancel_after_the_generation_is_over_is_a_conflict_and_the_job_ends_as_it_ran(jobs):
    job_id = submit(jobs, "A", wait=True)
    claim(jobs)
    jobs.finishing(job_id)
    with pytest.raises(JobConflict, match="finished generating"):
        jobs.cancel(job_id)
    jobs.end(job_id, result={"saved_files": []})
    assert jobs.wait(job_id, timeout=1).record.state == "succeeded"
    with pytest.raises(JobConflict, match="succeeded"):
        jobs.cancel(job_id)


def test_a_cancel_during_the_store_write_of_a_jobs_end_is_a_conflict_not_a_lost_request(jobs, monkeypatch):
    job_id = submit(jobs, "A")
    claim(jobs)
    answers = []
    finish = jobs.store.finish

    def finish_with_a_cancel_meanwhile(*args, **kwargs):
        try:
            jobs.cancel(job_id)
        except JobConflict as e:
            answers.append(e)
        return finish(*args, **kwargs)

    monkeypatch.setattr(jobs.store, "finish", finish_with_a_cancel_meanwhile)
    assert jobs.finish(job_id, result={"saved_files": []}).state == "succeeded"
    assert len(answers) == 1 and not jobs.cancel_requested(job_id)


@pytest.mark.parametrize("record", ["interrupted", "unclaim"])
def test_a_store_failure_while_recording_a_lost_run_wakes_the_waiter_with_the_error(jobs, monkeypatch, record):
    job_id = submit(jobs, "A", wait=True)
    claim(jobs)

    def locked(*args):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(jobs.store, "interrupt", locked)
    monkeypatch.setattr(jobs.store, "unclaim", locked)
    args = (job_id, "worker w died") if record == "interrupted" else (job_id,)
    assert getattr(jobs, record)(*args) is None
    assert isinstance(jobs.wait(job_id, timeout=1).error, sqlite3.OperationalError)


def test_a_cancel_racing_a_dead_workers_requeue_is_not_lost(jobs, monkeypatch):
    job_id = submit(jobs, "A")
    claim(jobs)
    asked = jobs.cancel_requested
    canceller = threading.Thread(target=jobs.cancel, args=(job_id,))

    def a_cancel_right_after_the_check(checked_id):
        answer = asked(checked_id)
        if not canceller.is_alive() and canceller.ident is None:
            canceller.start()
            canceller.join(0.3)  # it must wait until the requeue is recorded (then it cancels the queued job)
        return answer

    monkeypatch.setattr(jobs, "cancel_requested", a_cancel_right_after_the_check)
    jobs.interrupted(job_id, "worker w died")
    canceller.join(5)
    assert jobs.get(job_id).state == "cancelled"


def test_stopping_the_service_pauses_the_queue_before_any_worker_stops(tmp_path):
    from modules.jobs import service

    paused_when_stopped = []

    class Recorder(FakeWorker):
        current_job = None

        def start(self):
            pass

        def stop(self, timeout=None):
            paused_when_stopped.append(started.queue.paused)

    started = service.create(str(tmp_path / service.DATABASE_NAME), environment=None, workers=0,
                             remote_workers=lambda queue: [Recorder("r1", []), Recorder("r2", [])])
    started.stop()
    assert paused_when_stopped == [True, True]


@pytest.fixture
def remote_job_state():
    forwarded = []
    state = RemoteState(SimpleNamespace(live_previews_enable=True, show_progress_every_n_steps=1,
                                        live_previews_image_format="png"), forwarded.append)
    with job_state.listed("task(remote)", state, "scripts_txt2img"):
        yield state, forwarded


def test_a_remote_jobs_state_here_mirrors_its_progress_and_forwards_interrupt_and_skip(remote_job_state):
    state, forwarded = remote_job_state
    state.mirror({"job_count": 1, "sampling_step": 5, "sampling_steps": 20, "textinfo": "x", "unknown": 1})
    assert live.progress("task(remote)")["fraction"] == 0.25
    answer = progress.progress_for("task(remote)", live_preview=False)
    assert answer["active"] is True and answer["progress"] == 0.25
    assert shared.state.current() is state  # /sdapi/v1/progress reads it
    shared.state.skip()  # /sdapi/v1/skip, the UI's Skip
    shared.state.interrupt()  # /sdapi/v1/interrupt, the UI's Interrupt
    assert forwarded == ["skip", "interrupt"] and state.interrupted and state.skipped
    state.mirror({"sampling_step": 6})
    assert state.interrupted, "the mirror does not undo what was asked here"


def test_a_remote_jobs_preview_is_fetched_once_someone_reads_it(remote_job_state):
    import io

    from PIL import Image

    state, _ = remote_job_state
    assert not state.preview_wanted(5)
    first = progress.progress_for("task(remote)")
    assert first["live_preview"] is None and state.preview_wanted(5)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    state.show_preview(3, buffer.getvalue())
    answer = progress.progress_for("task(remote)")
    assert answer["id_live_preview"] == 3 and answer["live_preview"].startswith("data:image/png;base64,")
    assert live.preview_id("task(remote)") == 3


def test_a_remote_worker_starts_with_the_servers_engine_flags_but_not_its_secrets_data_dir_or_ray_flags():
    from modules import cmd_args

    parser = cmd_args.parser
    server = parser.parse_args(["--ckpt-dir", "/models/x", "--no-half", "--no-hashing", "--api-auth", "u:secret",
                                "--gradio-auth", "a:b", "--data-dir", "/data", "--ray-address", "local",
                                "--ray-workers", "3", "--port", "7000", "--precision", "full", "--device-id", "1",
                                "--ngrok", "token-secret", "--styles-file", "a.csv", "--styles-file", "b.csv"])
    flags = engine_flags.for_worker(parser, server)
    assert not any("secret" in flag or "a:b" in flag or "/data" in flag or "ray" in flag for flag in flags), flags
    worker = parser.parse_args(flags)
    for name in ("ckpt_dir", "no_half", "no_hashing", "port", "precision", "styles_file"):
        assert getattr(worker, name) == getattr(server, name), name
    assert worker.device_id is None and worker.ngrok is None
    assert worker.api_auth is None and worker.ray_address is None and worker.data_dir == parser.get_default("data_dir")
    assert engine_flags.for_worker(parser, parser.parse_args([])) == []


class FakeModel:
    def __init__(self, name: str):
        self.sd_checkpoint_info = SimpleNamespace(name=name)


def test_the_loaded_checkpoints_cache_keeps_others_beside_the_current_model_within_limit_and_memory(tmp_path,
                                                                                                   monkeypatch):
    infos = {}
    for name in "ABCD":
        (tmp_path / name).write_bytes(b"x" * 100)
        infos[name] = SimpleNamespace(name=name, filename=str(tmp_path / name))
    monkeypatch.setattr(sd_models, "load_embeddings", lambda model: None)
    monkeypatch.setattr(shared, "sd_model", FakeModel("A"))
    free = {"bytes": 10_000}
    limit = {"models": 2}
    cache = remote_job.LoadedCheckpoints(limit=lambda: limit["models"], free_memory=lambda: free["bytes"])

    cache.use(infos["B"])  # B is not kept: A is kept, processing loads B
    assert list(cache.kept) == ["A"]
    shared.sd_model = FakeModel("B")
    assert cache.names() == ["B", "A"]
    model_a = cache.kept["A"]
    cache.use(infos["A"])  # kept: made current without a load, B kept in its place
    assert shared.sd_model is model_a and list(cache.kept) == ["B"]

    shared.sd_model = FakeModel("C")  # the job's processing (an X/Y/Z checkpoint axis) loaded C
    cache.use(infos["D"])  # at most limit - 1 kept: B goes, C is kept
    assert list(cache.kept) == ["C"]

    free["bytes"] = 150  # would not hold twice a 100-byte file: nothing is kept beside a new load
    shared.sd_model = FakeModel("D")
    cache.use(infos["A"])
    assert list(cache.kept) == []

    limit["models"] = 1  # as on the server: one model, none kept beside it
    free["bytes"] = 10_000
    shared.sd_model = FakeModel("A")
    cache.use(infos["B"])
    assert list(cache.kept) == [] and cache.names() == ["A"]

    limit["models"] = 2
    (tmp_path / "C").unlink()  # gone from this machine since it was listed: the job's load reports it, not the cache
    cache.use(infos["C"])
    assert list(cache.kept) == ["A"]


def test_a_checkpoint_is_resolved_on_the_worker_by_its_name_and_an_unknown_one_is_refused(monkeypatch):
    info = SimpleNamespace(name="sub/model.safetensors", title="sub/model.safetensors [0123456789]")
    monkeypatch.setattr(sd_models, "checkpoint_aliases", {"sub/model.safetensors": info, "model": info})
    added = SimpleNamespace(name="added.safetensors", title="added.safetensors [abc]")
    listings = []
    monkeypatch.setattr(sd_models, "list_models",
                        lambda: listings.append(sd_models.checkpoint_aliases.update({added.name: added})))
    assert remote_job.resolve_checkpoint("sub/model.safetensors") is info and not listings
    with pytest.raises(safe.CheckpointLoadError, match="other.safetensors"):
        remote_job.resolve_checkpoint("other.safetensors")
    assert len(listings) == 1  # looked for again before refusing
    assert remote_job.resolve_checkpoint("added.safetensors") is added  # a file put there after start-up
    with pytest.raises(safe.CheckpointLoadError):
        remote_job.resolve_checkpoint("model")  # an alias is not a name: it could be another file here

    options = {}
    unnamed = GenerationSpec(mode="txt2img", params={"prompt": "x"})
    assert remote_job.with_checkpoint(unnamed, options, info) is unnamed
    assert options["sd_model_checkpoint"] == info.title
    named = GenerationSpec(mode="txt2img", params={"override_settings": {"sd_model_checkpoint": "model [abc]",
                                                                         "CLIP_stop_at_last_layers": 2}})
    rewritten = remote_job.with_checkpoint(named, {}, info)
    assert rewritten.params["override_settings"] == {"sd_model_checkpoint": info.name, "CLIP_stop_at_last_layers": 2}
    assert named.params["override_settings"]["sd_model_checkpoint"] == "model [abc]"


def test_a_jobs_checkpoint_name_is_the_one_processing_will_use_the_selected_one_for_an_unknown_name(monkeypatch):
    from modules import initialize

    first = SimpleNamespace(name="a.safetensors", title="a.safetensors [1]")
    selected = SimpleNamespace(name="sub/b.safetensors", title="sub/b.safetensors [2]")
    monkeypatch.setattr(sd_models, "checkpoints_list", {info.title: info for info in (first, selected)})
    monkeypatch.setattr(sd_models, "checkpoint_aliases", {key: info for info in (first, selected)
                                                          for key in (info.title, info.name)})
    monkeypatch.setitem(shared.opts.data, "sd_model_checkpoint", selected.title)
    assert initialize.checkpoint_name("a.safetensors") == "a.safetensors"
    assert initialize.checkpoint_name(None) == "sub/b.safetensors"
    assert initialize.checkpoint_name("nowhere.safetensors") == "sub/b.safetensors"  # processing drops that override


def test_a_late_interrupt_for_an_earlier_run_does_not_stop_the_next_run_of_the_job():
    engine = remote_job.Engine.__new__(remote_job.Engine)
    engine._interrupted, engine._running = set(), set()
    state = job_state.State()
    with job_state.listed("task(r)", state):
        engine._running.add(("task(r)", 2))
        engine.signal("task(r)", 1, "interrupt")
        assert not state.interrupted
        engine.signal("task(r)", 2, "skip")
        assert state.skipped and not state.interrupted
        engine.signal("task(r)", 2, "interrupt")
        assert state.interrupted
    assert ("task(r)", 1) in engine._interrupted
    with pytest.raises(ValueError):
        engine.signal("task(r)", 2, "shutdown")


def test_a_remote_500_is_answered_with_the_error_type_and_text_of_the_worker(monkeypatch):
    app = FastAPI()
    errors.install_exception_handlers(app)

    @app.get("/local")
    def local():
        raise ValueError("bad value")

    @app.get("/remote")
    def remote():
        raise failures.RemoteFailure(failures.unexpected(ValueError("bad value")))

    client = TestClient(app, raise_server_exceptions=False)
    here, there = client.get("/local"), client.get("/remote")
    assert there.status_code == here.status_code == 500
    assert there.json() == here.json() == {"error": "ValueError", "detail": "bad value", "body": "",
                                           "errors": "bad value"}


def test_the_pages_message_for_a_job_failed_on_a_remote_worker_names_the_error_it_had_there(jobs):
    from modules import ui_progress

    def fail_the_job_remotely():
        job = jobs.claim(threading.Event(), timeout=10)
        failure = failures.unexpected(ValueError("bad value"))
        jobs.end(job.id, error=failure.as_dict(), exception=failures.RemoteFailure(failure))

    worker = threading.Thread(target=fail_the_job_remotely)
    worker.start()
    updates = list(ui_progress.stream_job(jobs, GenerationSpec(mode="txt2img", params={}), finisher=lambda p: p))
    worker.join()
    assert updates[-1].result == (None, "ValueError: bad value")


@pytest.mark.parametrize(("overrides", "requested"), [({"sd_model_checkpoint": "a.safetensors"}, "a.safetensors"),
                                                      ({"sd_model_checkpoint": ""}, None),
                                                      ({"sd_model_checkpoint": 3}, None), ({}, None)])
def test_one_rule_says_which_checkpoint_a_request_names_for_routing_running_and_blaming(overrides, requested):
    spec = GenerationSpec(mode="txt2img", params={"override_settings": overrides})
    assert spec.requested_checkpoint() == requested
    options = {}
    info = SimpleNamespace(name="sel.safetensors", title="sel.safetensors [1]")
    on_worker = remote_job.with_checkpoint(spec, options, info)
    if requested is None:  # the selected one, named in the options the job runs with
        assert options == {"sd_model_checkpoint": info.title} and on_worker is spec
    else:
        assert on_worker.params["override_settings"]["sd_model_checkpoint"] == info.name and options == {}
    failure = failures.describe(safe.CheckpointLoadError("unreadable"), spec)
    assert (failure.status, failure.field) == ((422, "override_settings.sd_model_checkpoint") if requested
                                               else (503, None))


def test_stores_opened_at_once_on_a_new_database_all_open(tmp_path):
    """Switching a new database to WAL can meet "database is locked" without SQLite's busy wait (it did, in about
    one round in twelve, before the store tried again)."""
    for round_number in range(40):
        opened, errors = open_stores_at_once(str(tmp_path / f"new-{round_number}.sqlite3"), 3)
        for store in opened:
            store.close()
        assert not errors and len(opened) == 3, (round_number, errors)
