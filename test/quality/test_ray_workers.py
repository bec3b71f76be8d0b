"""M15 on a real Ray cluster (two nodes simulated on this machine, one shared for the module) with the tiny real
model: two workers run jobs at once; a job gives the same pixels as on the server's own worker; kill -9 of a
worker mid-job loses and duplicates nothing; cancel reaches a running job; jobs go to the worker holding their
checkpoint; a worker on the second node runs a job there."""

import base64
import io
import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is the optional extra (pip install -r requirements_ray.txt); "
                                        ".ci/run installs it")

from PIL import Image  # noqa: E402

from modules import initialize, shared  # noqa: E402
from modules.jobs import live, service  # noqa: E402
from modules.jobs.queue import PRIORITY_INTERACTIVE  # noqa: E402
from modules.jobs.spec import GenerationSpec  # noqa: E402
from modules.workers import ray_backend  # noqa: E402
from test.api_client import service_with_workers  # noqa: E402
from test.conftest import REPO_ROOT, TINY_DEFAULT  # noqa: E402
from test.waiting import wait_until  # noqa: E402

SECOND = "tiny-ray-b"
WAIT_S = 300
LONG = {"steps": 150, "width": 64, "height": 64}
"""About 12 s on one thread of this machine."""


def spec(checkpoint: str = f"{TINY_DEFAULT}.safetensors", seed: int = 1, **params) -> GenerationSpec:
    return GenerationSpec(mode="txt2img", params={
        "prompt": "a red circle", "steps": 4, "width": 64, "height": 64, "seed": seed, "save_images": True,
        "override_settings": {"sd_model_checkpoint": checkpoint}, **params})


@pytest.fixture(scope="module")
def cluster(engine_ready, data_dir):
    from ray.cluster_utils import Cluster

    from modules import sd_models
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    second = os.path.join(data_dir, "models", "Stable-diffusion", f"{SECOND}.safetensors")
    if not os.path.exists(second):
        make_tiny_checkpoint("sd15", second, seed=5)
    sd_models.list_models()
    simulated = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "resources": {"head": 2}})
    second_node = simulated.add_node(num_cpus=1, resources={"second_node": 1})
    ray_backend.connect(simulated.address, REPO_ROOT, env={"OMP_NUM_THREADS": "1"})
    yield simulated, second_node
    ray.shutdown()
    simulated.shutdown()


def ray_service(data_dir: str, count: int, resources: dict, tmp_path, engine_flags=()) -> service.JobService:
    def workers(jobs):
        return [ray_backend.RayWorker(jobs, ray_backend.start_actor(data_dir, threads=1, resources=resources,
                                                                    engine_flags=engine_flags),
                                      f"ray-{number}", data_dir, options=lambda: dict(shared.opts.data),
                                      live_options=shared.opts)
                for number in range(1, count + 1)]

    started = service.create(str(tmp_path / service.DATABASE_NAME), initialize.job_environment(threading.Lock()),
                             workers=0, remote_workers=workers, checkpoint_name=initialize.checkpoint_name)
    wait_until(lambda: all(worker.state == "idle" for worker in started.workers), "started")
    return started


@pytest.fixture(scope="module")
def two_workers(cluster, data_dir, tmp_path_factory):
    started = ray_service(data_dir, 2, {"head": 1}, tmp_path_factory.mktemp("ray-jobs"))
    yield started
    started.stop()


def run(jobs, job_spec: GenerationSpec):
    job, _ = jobs.submit(job_spec, PRIORITY_INTERACTIVE, wait=True)
    return job.id, jobs.wait(job.id, timeout=WAIT_S)


def pixels(encoded: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB").tobytes()


def test_a_job_on_a_ray_worker_gives_the_same_pixels_and_infotext_as_on_the_servers_own_worker(two_workers,
                                                                                               sd_model, data_dir):
    local = service_with_workers(1, threading.Lock())
    try:
        _, here = run(local.queue, spec(seed=21, send_images=True))
    finally:
        local.stop()
    _, there = run(two_workers.queue, spec(seed=21, send_images=True))
    assert there.error is None, there.error
    assert pixels(there.value["images"][0]) == pixels(here.value["images"][0])
    assert there.value["infotexts"] == here.value["infotexts"]
    (saved,) = there.value["saved_files"]
    assert saved.startswith(os.path.join(data_dir, "outputs", "txt2img-images")) and os.path.isfile(saved)
    assert saved != here.value["saved_files"][0]  # numbered after the local run's file, in the same folder
    assert os.path.dirname(saved) == os.path.dirname(here.value["saved_files"][0])


def test_two_workers_run_two_jobs_at_once(two_workers):
    jobs = two_workers.queue
    ids = [jobs.submit(spec(seed=seed, **LONG), wait=True)[0].id for seed in (1, 2)]
    both = wait_until(lambda: {worker.current_job for worker in two_workers.workers} == set(ids), "both running")
    assert both
    for job_id in ids:
        jobs.cancel(job_id)
        assert jobs.wait(job_id, timeout=WAIT_S).record.state == "cancelled"


def test_cancel_reaches_a_job_running_on_a_worker(two_workers):
    jobs = two_workers.queue
    job_id = jobs.submit(spec(seed=3, **LONG), wait=True)[0].id
    wait_until(lambda: (live.progress(job_id) or {}).get("step", 0) >= 2, "sampling")
    cancelled_at = time.monotonic()
    jobs.cancel(job_id)
    outcome = jobs.wait(job_id, timeout=WAIT_S)
    assert outcome.record.state == "cancelled"
    assert time.monotonic() - cancelled_at < 20, "stopped at its next step, not at the end of 150"
    assert outcome.record.saved_files in (None, [])


def test_jobs_go_to_the_worker_that_holds_their_checkpoint(two_workers):
    jobs = two_workers.queue
    jobs.pause()
    first = [jobs.submit(spec(checkpoint, seed=10 + n), wait=True)[0].id for n, checkpoint in
             enumerate((f"{TINY_DEFAULT}.safetensors", f"{SECOND}.safetensors"))]
    listener = jobs.events.subscribe()
    jobs.resume()
    for job_id in first:
        assert jobs.wait(job_id, timeout=WAIT_S).error is None
    holders = {worker.loaded_checkpoints()[0]: worker.name for worker in two_workers.workers}
    assert sorted(holders) == sorted([f"{TINY_DEFAULT}.safetensors", f"{SECOND}.safetensors"]), holders

    jobs.pause()
    checkpoints = [f"{TINY_DEFAULT}.safetensors", f"{SECOND}.safetensors"] * 4
    ids = {jobs.submit(spec(checkpoint, seed=20 + n, steps=20), wait=True)[0].id: checkpoint
           for n, checkpoint in enumerate(checkpoints)}
    jobs.resume()
    for job_id in ids:
        assert jobs.wait(job_id, timeout=WAIT_S).error is None
    started = {event.job: event.data["worker"] for event in iter(lambda: listener.next(0), None)
               if event.type == "job.started" and event.job in ids}
    routed = sum(started[job_id] == holders[checkpoint] for job_id, checkpoint in ids.items())
    print(f"model-aware routing: {routed}/{len(ids)} jobs ran on the worker holding their checkpoint")
    assert routed == len(ids)


def test_kill_9_of_a_worker_mid_job_loses_and_duplicates_nothing(two_workers, data_dir):
    jobs = two_workers.queue
    job_id = jobs.submit(spec(seed=4, steps=60), wait=True)[0].id
    wait_until(lambda: (live.progress(job_id) or {}).get("step", 0) >= 2, "sampling")
    (running,) = [worker for worker in two_workers.workers if worker.current_job == job_id]
    killed_pid = running.describe()["pid"]
    os.kill(killed_pid, signal.SIGKILL)
    outcome = jobs.wait(job_id, timeout=WAIT_S)
    assert outcome.error is None, outcome.error
    assert outcome.record.state == "succeeded" and outcome.record.attempts == 2
    (saved,) = outcome.value["saved_files"]
    same_seed = [name for name in os.listdir(os.path.dirname(saved)) if name.endswith("-4.png")]
    with Image.open(saved) as image:
        assert "Seed: 4, Size: 64x64" in image.info["parameters"] and "Steps: 60," in image.info["parameters"]
    assert len([name for name in same_seed if "Steps: 60," in Image.open(os.path.join(os.path.dirname(saved),
                                                                                       name)).info["parameters"]]) == 1
    wait_until(lambda: running.state == "idle" and running.describe()["pid"] != killed_pid, "restarted")


def test_a_worker_on_the_second_node_runs_a_job_there(cluster, data_dir, tmp_path):
    simulated, second_node = cluster
    started = ray_service(data_dir, 1, {"second_node": 1}, tmp_path)
    try:
        (worker,) = started.workers
        assert worker.describe()["node"] == second_node.node_id != simulated.head_node.node_id
        _, outcome = run(started.queue, spec(seed=5))
        assert outcome.error is None and os.path.isfile(outcome.value["saved_files"][0])
    finally:
        started.stop()


def test_a_browser_ui_job_gets_its_tabs_result_from_a_ray_worker(two_workers):
    import json

    from modules import txt2img

    job, _ = two_workers.queue.submit(spec(seed=6), PRIORITY_INTERACTIVE, finisher=txt2img.process_result, wait=True)
    outcome = two_workers.queue.wait(job.id, timeout=WAIT_S)
    images, generation_info, info_html, _ = outcome.value
    assert [image.size for image in images] == [(64, 64)]
    assert json.loads(generation_info)["all_seeds"] == [6] and "Seed: 6" in info_html


@pytest.mark.parametrize("broken", [{"threads": "not a number"},  # its start-up raises
                                    {"engine_flags": ["--vae-path=/nowhere/missing.safetensors"]}],  # argparse exits
                         ids=["raises", "a-flag-refused"])
def test_a_worker_whose_start_up_fails_is_reported_dead_at_once(cluster, data_dir, tmp_path, broken):
    jobs = service.create(str(tmp_path / service.DATABASE_NAME), initialize.job_environment(threading.Lock()),
                          workers=0).queue
    worker = ray_backend.RayWorker(jobs, ray_backend.start_actor(data_dir, cpus=0, **broken),
                                   "broken", data_dir, options=dict, live_options=shared.opts)
    worker.start()
    try:
        wait_until(lambda: worker.state == "dead", "reported dead", timeout=60)
        assert worker.describe()["alive"] is False
    finally:
        worker.stop(10)
        jobs.store.close()


def test_the_ui_and_v1_interrupt_progress_and_preview_reach_a_job_on_a_ray_worker(two_workers):
    from modules import progress
    from modules.workers.remote_state import RemoteState

    jobs = two_workers.queue
    job_id = jobs.submit(spec(seed=7, **LONG), PRIORITY_INTERACTIVE, wait=True)[0].id
    wait_until(lambda: (live.progress(job_id) or {}).get("step", 0) >= 2, "sampling")
    assert isinstance(shared.state.current(), RemoteState)  # what /sdapi/v1/progress reads
    first = progress.progress_for(job_id)  # /internal/progress, the UI's progress bar
    assert first["active"] and first["progress"] > 0
    preview = wait_until(lambda: progress.progress_for(job_id)["live_preview"], "a live preview", timeout=60)
    assert preview.startswith("data:image/")
    interrupted_at = time.monotonic()
    shared.state.interrupt()  # /sdapi/v1/interrupt, the UI's Interrupt
    outcome = jobs.wait(job_id, timeout=WAIT_S)
    assert time.monotonic() - interrupted_at < 20, "stopped at its next step, not at the end of 150"
    assert outcome.error is None and outcome.record.state == "succeeded"  # interrupted: A1111 keeps what it made


def test_a_worker_survives_a_failure_that_is_not_its_actors_death(two_workers, monkeypatch):
    from modules.workers import placement

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(placement, "place", fail)
    _, outcome = run(two_workers.queue, spec(seed=8, send_images=True))
    assert outcome.error is None and outcome.value["saved_files"] == [] and outcome.value["images"]
    monkeypatch.undo()

    original = two_workers.queue.finisher
    monkeypatch.setattr(two_workers.queue, "finisher", lambda job_id: (_ for _ in ()).throw(RuntimeError("store")))
    _, outcome = run(two_workers.queue, spec(seed=9))
    assert outcome.record.state == "failed" and "RuntimeError: store" in outcome.record.error["message"]
    monkeypatch.setattr(two_workers.queue, "finisher", original)
    assert all(worker.alive for worker in two_workers.workers)
    for seed in (10, 11):
        assert run(two_workers.queue, spec(seed=seed))[1].error is None


def test_an_actor_that_died_while_idle_does_not_cost_the_next_job_an_attempt(two_workers):
    jobs = two_workers.queue
    wait_until(lambda: all(worker.state == "idle" for worker in two_workers.workers), "idle")
    for worker in two_workers.workers:
        os.kill(worker.describe()["pid"], signal.SIGKILL)
    _, outcome = run(jobs, spec(seed=12))
    assert outcome.error is None and outcome.record.attempts == 1
    wait_until(lambda: all(worker.state == "idle" for worker in two_workers.workers), "restarted")


def test_a_checkpoint_added_after_the_workers_started_is_found_and_one_they_lack_is_refused_not_replaced(
        two_workers, data_dir, monkeypatch):
    from modules import sd_models
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    added = os.path.join(data_dir, "models", "Stable-diffusion", "added-later.safetensors")
    make_tiny_checkpoint("sd15", added, seed=9)
    sd_models.list_models()  # the server knows it; the running workers listed their checkpoints before it existed
    try:
        _, outcome = run(two_workers.queue, spec("added-later.safetensors", seed=13))
    finally:
        os.remove(added)
        sd_models.list_models()
    assert outcome.error is None, outcome.error
    assert "Model: added-later," in outcome.value["infotexts"][0]

    monkeypatch.setattr(two_workers.queue, "checkpoint_name", lambda requested: requested)  # a server-only file
    _, outcome = run(two_workers.queue, spec("only-on-the-server.safetensors", seed=13))
    assert outcome.record.state == "failed"
    assert outcome.record.error["field"] == "override_settings.sd_model_checkpoint"
    assert "only-on-the-server.safetensors" in outcome.record.error["message"]


def test_a_worker_starts_with_the_servers_engine_flags(cluster, data_dir, tmp_path):
    from modules import cmd_args
    from modules.workers import engine_flags
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    elsewhere = tmp_path / "more-checkpoints"
    make_tiny_checkpoint("sd15", str(elsewhere / "from-ckpt-dir.safetensors"), seed=11)
    relative = os.path.relpath(elsewhere)  # from the server's working directory, which the worker starts in
    flags = engine_flags.for_worker(cmd_args.parser, cmd_args.parser.parse_args(["--ckpt-dir", relative]))
    started = ray_service(data_dir, 1, {"second_node": 1}, tmp_path, engine_flags=flags)
    try:
        (worker,) = started.workers
        worker.jobs.checkpoint_name = lambda requested: requested  # the server here has no --ckpt-dir
        _, outcome = run(started.queue, spec("from-ckpt-dir.safetensors", seed=14))
        assert outcome.error is None, outcome.error
        assert worker.loaded_checkpoints() == ["from-ckpt-dir.safetensors"]
    finally:
        started.stop()
