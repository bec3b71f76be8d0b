"""Jobs on a Ray cluster. Each worker is a Ray actor (ray_actor.GenerationActor) that runs the server's headless
start-up and one job at a time; the server's queue stays the source of truth: a proxy thread here claims jobs for
its actor (preferring those for checkpoints it holds), follows their progress and preview, forwards cancels (read
by the job's step callback: Ray's own cancel does not stop a running actor method), and places the files the actor
saved where a local run would have. An actor that dies (its process killed, its node lost) leaves its job
interrupted: queued again by the store while attempts remain; Ray restarts the actor."""

import logging
import threading
import time

import ray
from ray import exceptions as ray_errors

from modules.jobs import failures, live
from modules.jobs.queue import JobQueue
from modules.jobs.spec import GenerationSpec
from modules.jobs.store import JobRecord
from modules.workers import placement
from modules.workers.ray_actor import RemoteGenerationActor

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 0.25
CALL_TIMEOUT_S = 30
START_TIMEOUT_S = 600
ACTOR_DIED = (ray_errors.RayActorError, ray_errors.ActorUnavailableError)


def connect(address: str, repo_root: str, env: dict[str, str] | None = None) -> None:
    """Joins the cluster at address (auto, HOST:PORT) or starts a private one (local); the workers import the
    server's code from repo_root (each machine holds a checkout at the same path)."""
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": {"PYTHONPATH": repo_root, "HF_HUB_OFFLINE": "1", **(env or {})}}
    ray.init(address=None if address == "local" else address, runtime_env=runtime_env, include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=True)


def start_actor(data_dir: str, threads: int = 0, gpus: float = 0, resources: dict | None = None, cpus: float = 1):
    return RemoteGenerationActor.options(
        num_cpus=cpus, num_gpus=gpus, resources=resources or {}, max_restarts=-1, max_task_retries=0,
        max_concurrency=4, runtime_env={"env_vars": {"SERENA_DATA_DIR": data_dir}},
    ).remote(data_dir, threads)


class RayWorker:
    kind = "ray"

    def __init__(self, jobs: JobQueue, actor, name: str, data_path: str, options: callable):
        self.jobs, self.actor, self.name, self.data_path, self.options = jobs, actor, name, data_path, options
        self.current_job: str | None = None
        self.state = "starting"
        self._described: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._loop, name=f"ray worker {self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None):
        """Stops taking jobs and ends the actor; a job it was running is interrupted (queued again)."""
        self._stop.set()
        self.jobs.wake()
        ray.kill(self.actor, no_restart=True)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.state in ("idle", "busy")

    def loaded_checkpoints(self) -> list[str]:
        return list(self._described.get("checkpoints", []))

    def interrupt(self, job_id: str) -> None:
        self.actor.interrupt.remote(job_id)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "alive": self.alive, "state": self.state,
                "job": self.current_job, "node": self._described.get("node"), "pid": self._described.get("pid"),
                "device": self._described.get("device"), "checkpoints": self.loaded_checkpoints()}

    def _wait_until_up(self) -> bool:
        """Waits for the actor (its start-up, or its restart after it died); False when it did not come up."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self._described = ray.get(self.actor.describe.remote(), timeout=CALL_TIMEOUT_S)
                self.state = "idle"
                return True
            except ray_errors.RayActorError as e:
                if e.actor_init_failed:  # its start-up raised: it would only fail again
                    log.error("Worker %s could not start: %s", self.name, e)
                    break
                self._stop.wait(1.0)
            except ray_errors.GetTimeoutError:
                self._stop.wait(1.0)
        self.state = "dead"
        return False

    def _loop(self):
        if not self._wait_until_up():
            return
        while not self._stop.is_set():
            try:
                job = self.jobs.claim(self._stop, worker=self)
            except Exception:  # the store failed: try again, the worker must not die
                log.exception("Could not take the next job")
                self._stop.wait(1.0)
                continue
            if job is not None and not self.run(job):
                self.state = "restarting"
                if not self._wait_until_up():
                    return

    def run(self, job: JobRecord) -> bool:
        """Runs the job on the actor and records how it ended; False when the actor died under it (the job is then
        interrupted: queued again, or failed with no attempts left)."""
        self.current_job, self.state = job.id, "busy"
        try:
            ending = self._generate(job)
        except ACTOR_DIED as e:
            log.warning("Worker %s died running job %s: %s", self.name, job.id, e)
            self.interrupt(job.id)  # an actor only unreachable for a while must not go on with it
            self.jobs.interrupted(job.id, f"worker {self.name} died while it ran ({type(e).__name__})")
            return False
        finally:
            live.forget_remote(job.id)
            self.current_job = None
        try:
            self.jobs.finish(job.id, **ending)
        except Exception as e:
            log.exception("Could not record the end of job %s", job.id)
            self.jobs.abandon(job.id, e)
        self.state = "idle"
        return True

    def _generate(self, job: JobRecord) -> dict:
        spec_json = self.jobs.store.spec(job.id)
        try:
            spec = GenerationSpec.from_json(spec_json)
        except Exception as e:  # a stored spec this version cannot read
            failure = failures.Failure(422, "spec", f"the stored request cannot be read: {e}", type(e).__name__)
            return {"error": failure.as_dict(), "exception": e}
        finisher = self.jobs.finisher(job.id)
        run = self.actor.run.remote(job.id, spec_json, self.options(), self.jobs.checkpoint_of(spec), finisher)
        if self.jobs.cancel_requested(job.id):
            self.interrupt(job.id)
        self._follow(job.id, run)
        outcome = ray.get(run)
        self._described = self._describe_or_keep()
        if "failure" in outcome:
            failure = failures.Failure(**outcome["failure"])
            return {"error": failure.as_dict(), "exception": failures.RemoteFailure(failure)}
        placed = placement.place(outcome["files"], self.data_path)
        result = outcome["result"]
        result["saved_files"] = [placed.get(path, path) for path in result["saved_files"]]
        return {"result": result, "value": outcome["value"] if finisher is not None else result}

    def _follow(self, job_id: str, run) -> None:
        """Until the run ends: its progress (and, while someone listens, its preview) reported and announced."""
        last_progress, last_preview = None, None
        while not ray.wait([run], timeout=MONITOR_INTERVAL_S)[0]:
            try:
                numbers = ray.get(self.actor.progress.remote(job_id), timeout=CALL_TIMEOUT_S)
                if numbers is not None and numbers != last_progress:
                    last_progress = numbers
                    live.report_remote(job_id, progress=numbers)
                    self.jobs.events.publish("job.progress", job_id, progress=numbers)
                if self.jobs.events.listener_count():
                    preview = ray.get(self.actor.preview.remote(job_id), timeout=CALL_TIMEOUT_S)
                    if preview is not None and preview[0] != last_preview:
                        last_preview = preview[0]
                        live.report_remote(job_id, preview=tuple(preview))
                        self.jobs.events.publish("job.preview", job_id, id_live_preview=preview[0])
            except ray_errors.GetTimeoutError:
                continue
            except ACTOR_DIED:
                return  # ray.get(run) raises it

    def _describe_or_keep(self) -> dict:
        try:
            return ray.get(self.actor.describe.remote(), timeout=CALL_TIMEOUT_S)
        except (ray_errors.GetTimeoutError, *ACTOR_DIED):
            return self._described


def workers(jobs: JobQueue, address: str, count: int, gpus_per_worker: float, data_path: str, repo_root: str,
            options: callable, threads: int = 0) -> list[RayWorker]:
    """count workers on the cluster at address, each an actor of its own."""
    connect(address, repo_root)
    return [RayWorker(jobs, start_actor(data_path, threads, gpus_per_worker), f"ray-{number}", data_path, options)
            for number in range(1, count + 1)]
