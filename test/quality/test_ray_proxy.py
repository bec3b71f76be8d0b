"""M15: the server-side proxy of a Ray worker (RayWorker) and the actor's engine, each step pinned without a cluster:
Ray's calls are answered by a stand-in, so a worker that does not answer, a failure after the job was sent, a
cancel once the run has ended, a moment of unavailability while following progress and a restart however long
happen exactly when the test says. The real cluster runs in test_ray_workers.py."""

import logging
import threading

import pytest

pytest.importorskip("ray", reason="Ray is the optional extra (pip install -r requirements_ray.txt); .ci/run installs it")

from ray import exceptions as ray_errors  # noqa: E402

from modules import shared  # noqa: E402
from modules.jobs import worker as job_worker  # noqa: E402
from modules.jobs.queue import JobConflict  # noqa: E402
from modules.jobs.spec import GenerationSpec  # noqa: E402
from modules.runtime import job_state  # noqa: E402
from modules.workers import placement, ray_backend, remote_job  # noqa: E402
from test.job_fakes import job_queue  # noqa: E402

SUCCEEDED = {"result": {"images": [], "info": "{}", "infotexts": [], "saved_files": []}, "value": None,
             "files": [], "numbered": {}}


class Reference:
    """What a remote call returns: produce() gives its value (or raises its error); ready() whether it is done."""

    def __init__(self, produce, ready=lambda: True):
        self.produce, self.ready = produce, ready


def answer(value) -> Reference:
    return Reference(lambda: value)


def failing(error: BaseException) -> Reference:
    def produce():
        raise error
    return Reference(produce)


class StandInRay:
    def __init__(self):
        self.timeouts = []

    def get(self, reference: Reference, timeout=None):
        self.timeouts.append(timeout)
        return reference.produce()

    def wait(self, references, timeout=None):
        ready = [reference for reference in references if reference.ready()]
        if not ready:
            threading.Event().wait(min(timeout or 0.01, 0.01))
        return ready, [reference for reference in references if reference not in ready]

    def kill(self, actor, no_restart=False):
        pass


class Method:
    def __init__(self, handler):
        self.handler = handler

    def remote(self, *args):
        return self.handler(*args)


class StandInActor:
    def __init__(self, describe=lambda: answer({"pid": 1, "checkpoints": []}), run=lambda *args: answer(SUCCEEDED),
                 progress=lambda job_id: answer(None)):
        self.signals: list[tuple] = []
        self.describe, self.run, self.progress = Method(describe), Method(run), Method(progress)
        self.preview = Method(lambda job_id, known: answer(None))
        self.signal = Method(lambda *args: self.signals.append(args) or answer(None))


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(ray_backend, "ray", StandInRay())
    with job_queue(str(tmp_path / "jobs.sqlite3"), checkpoint_name=lambda requested: requested) as queue:
        yield queue


def proxy(jobs, actor: StandInActor, tmp_path) -> ray_backend.RayWorker:
    return ray_backend.RayWorker(jobs, actor, "ray-1", str(tmp_path), options=dict, live_options=None)


def claimed(jobs, **options):
    job, _ = jobs.submit(GenerationSpec(mode="txt2img", params={"prompt": "x"}), **options)
    return jobs.claim(threading.Event(), timeout=0)


@pytest.mark.parametrize("error", [ray_errors.RayActorError(), ray_errors.GetTimeoutError("slow"),
                                   ray_errors.ActorUnavailableError("restarting", None),
                                   ray_errors.RaySystemError("the cluster is unreachable")])
def test_a_worker_that_does_not_answer_before_a_job_gives_the_job_back_without_counting_the_attempt(
        jobs, tmp_path, error):
    actor = StandInActor(describe=lambda: failing(error), run=lambda *args: pytest.fail("the job was sent"))
    job = claimed(jobs)
    assert proxy(jobs, actor, tmp_path).run(job) is False
    back = jobs.get(job.id)
    assert (back.state, back.attempts) == ("queued", 0)


def test_an_actor_lost_under_its_job_interrupts_that_run_and_queues_the_job_again(jobs, tmp_path):
    actor = StandInActor(run=lambda *args: failing(ray_errors.RayActorError()))
    job = claimed(jobs)
    assert proxy(jobs, actor, tmp_path).run(job) is False
    assert actor.signals == [(job.id, 1, "interrupt")]
    again = jobs.get(job.id)
    assert (again.state, again.attempts) == ("queued", 1)


def test_a_failure_here_after_the_job_was_sent_stops_its_run_on_the_actor_and_fails_the_job(jobs, tmp_path):
    actor = StandInActor(run=lambda *args: failing(RuntimeError("the result could not be read")))
    job = claimed(jobs, wait=True)
    assert proxy(jobs, actor, tmp_path).run(job) is True
    assert actor.signals == [(job.id, 1, "interrupt")]  # its next job must not run beside this one
    assert jobs.wait(job.id, timeout=1).record.state == "failed"


def test_a_cancel_once_the_remote_run_has_ended_is_refused_and_the_job_ends_as_it_ran(jobs, tmp_path, monkeypatch):
    job = claimed(jobs, wait=True)
    refused = []

    def place_while_a_cancel_comes(files, numbered, data_path):
        try:
            jobs.cancel(job.id)
        except JobConflict as e:
            refused.append(e)
        return {}

    monkeypatch.setattr(placement, "place", place_while_a_cancel_comes)
    assert proxy(jobs, StandInActor(), tmp_path).run(job) is True
    assert len(refused) == 1
    assert jobs.wait(job.id, timeout=1).record.state == "succeeded"
    assert ray_backend.ray.timeouts[-1] == ray_backend.DESCRIBE_AFTER_RUN_S  # the end waits briefly for a describe


def test_a_job_whose_files_could_be_placed_only_in_part_ends_with_its_images_and_those_files(jobs, tmp_path,
                                                                                            monkeypatch):
    outcome = {**SUCCEEDED, "result": {**SUCCEEDED["result"], "saved_files": ["data/a.png", "data/b.png"]}}

    def disk_full_after_a(files, numbered, data_path):
        raise placement.PlacementFailed(OSError(28, "No space left on device"), {"data/a.png": "/out/00001.png"})

    monkeypatch.setattr(placement, "place", disk_full_after_a)
    job = claimed(jobs, wait=True)
    assert proxy(jobs, StandInActor(run=lambda *args: answer(outcome)), tmp_path).run(job) is True
    ended = jobs.wait(job.id, timeout=1)
    assert ended.record.state == "succeeded" and ended.value["saved_files"] == ["/out/00001.png"]


def test_a_moment_of_actor_unavailability_does_not_end_the_following_of_progress(jobs, tmp_path):
    job = claimed(jobs)
    calls = []

    def progress(job_id):
        calls.append(job_id)
        if len(calls) == 1:
            return failing(ray_errors.ActorUnavailableError("a moment away", None))
        return answer({"job_count": 1, "sampling_step": 3, "sampling_steps": 4})

    actor = StandInActor(progress=progress, run=lambda *args: Reference(lambda: SUCCEEDED, ready=lambda: len(calls) >= 3))
    listener = jobs.events.subscribe(job.id)
    assert proxy(jobs, actor, tmp_path).run(job) is True
    events = list(iter(lambda: listener.next(0), None))
    assert [event.data["progress"]["step"] for event in events if event.type == "job.progress"] == [3]


def test_a_worker_waits_for_its_actors_restart_however_long_it_takes_but_not_for_a_failed_start(jobs, tmp_path,
                                                                                                 monkeypatch, caplog):
    answers = iter([*(failing(ray_errors.GetTimeoutError("slow")) for _ in range(300)),
                    *(failing(ray_errors.ActorUnavailableError("restarting", None)) for _ in range(300)),
                    answer({"pid": 2, "checkpoints": ["A"]})])
    worker = proxy(jobs, StandInActor(describe=lambda: next(answers)), tmp_path)
    monkeypatch.setattr(worker._stop, "wait", lambda seconds: False)  # each second of waiting passes at once
    monkeypatch.setattr(ray_backend, "STILL_STARTING_WARNING_S", 0)
    with caplog.at_level(logging.WARNING, logger=ray_backend.log.name):
        assert worker._wait_until_up() is True
    assert worker.state == "idle" and worker._described["pid"] == 2
    assert [record.getMessage() for record in caplog.records].count(
        "Worker ray-1 is still not up after 0 s; waiting for Ray to start it") == 1

    broken = proxy(jobs, StandInActor(describe=lambda: failing(ray_errors.RayActorError(actor_init_failed=True))),
                   tmp_path)
    assert broken._wait_until_up() is False and broken.state == "dead"


def test_a_worker_is_alive_only_while_its_thread_runs(jobs, tmp_path):
    worker = proxy(jobs, StandInActor(), tmp_path)
    release = threading.Event()
    worker._thread = threading.Thread(target=release.wait)
    worker._thread.start()
    worker.state = "idle"
    assert worker.alive and worker.loaded_checkpoints() == [] and worker.describe()["alive"]
    release.set()
    worker._thread.join()
    assert not worker.alive and not worker.describe()["alive"]


@pytest.fixture
def engine(monkeypatch):
    engine = remote_job.Engine.__new__(remote_job.Engine)
    engine.environment, engine._interrupted, engine._running = None, set(), set()
    return engine


def test_an_earlier_run_ending_on_the_actor_leaves_a_later_runs_signals_alone(engine, monkeypatch):
    engine.signal("task(j)", 1, "interrupt")  # before the first run starts: it starts interrupted

    def execute(job_id, spec, environment, finisher, cancelled, prepare):
        assert shared.opts.data["CLIP_stop_at_last_layers"] == 1  # the server's settings wait for the lock
        prepare()
        assert shared.opts.data["CLIP_stop_at_last_layers"] == 2
        assert cancelled()
        engine._running.add(("task(j)", 2))  # the job's next run started elsewhere on the actor meanwhile
        engine.signal("task(j)", 2, "interrupt")
        return {"saved_files": []}, None

    monkeypatch.setattr(remote_job.worker, "execute", execute)
    monkeypatch.setitem(shared.opts.data, "CLIP_stop_at_last_layers", 1)
    outcome = engine.run("task(j)", 1, GenerationSpec(mode="txt2img", params={}).to_json(),
                         {"CLIP_stop_at_last_layers": 2}, None)
    assert "failure" not in outcome, outcome
    assert engine._running == {("task(j)", 2)}
    assert engine._interrupted == {("task(j)", 2)}


def test_a_job_that_fails_on_the_actor_is_logged_with_its_traceback_there(engine, monkeypatch, caplog):
    def execute(*args, **kwargs):
        raise RuntimeError("the sampler broke")

    monkeypatch.setattr(remote_job.worker, "execute", execute)
    with caplog.at_level(logging.ERROR, logger=remote_job.log.name):
        outcome = engine.run("task(k)", 1, GenerationSpec(mode="txt2img", params={}).to_json(), {}, None)
    assert outcome["failure"]["status"] == 500 and "the sampler broke" in outcome["failure"]["message"]
    (record,) = [record for record in caplog.records if "task(k)" in record.getMessage()]
    assert record.exc_info is not None and "the sampler broke" in str(record.exc_info[1])
    assert engine._running == set()


def test_an_earlier_listing_of_a_job_ending_leaves_its_later_listing_in_place():
    earlier, later = job_state.State(), job_state.State()
    earlier_listing = job_state.listed("task(m)", earlier)
    earlier_listing.__enter__()
    with job_state.listed("task(m)", later):
        earlier_listing.__exit__(None, None, None)  # the old run's proxy lets go after the job ran again
        assert job_state.running("task(m)") is later
    assert job_state.running("task(m)") is None


def test_what_a_job_prepares_happens_under_the_generation_lock():
    lock = threading.Lock()
    environment = job_worker.Environment(generation_lock=lock, live_options=None, preview_decoder=lambda: None,
                                         sd_model=lambda: None, encode_image=None)
    held = []

    class Prepared(Exception):
        pass

    def prepare():
        held.append(lock.locked())
        raise Prepared

    with pytest.raises(Prepared):
        job_worker.execute("task(p)", GenerationSpec(mode="txt2img", params={}), environment, None, prepare=prepare)
    assert held == [True] and not lock.locked()
