"""Jobs on a Ray cluster. Each worker is a Ray actor (ray_actor.GenerationActor) that runs the server's headless
start-up (with the server's engine flags) and one job at a time; the server's queue stays the source of truth: a
proxy thread here claims jobs for its actor (preferring those for checkpoints it holds), lists each as running here
through a RemoteState (its progress and preview mirrored, interrupt/skip/cancel forwarded: Ray's own cancel does not
stop a running actor method), and places the files the actor saved where a local run would have. An actor that dies
(its process killed, its node lost) leaves its job interrupted: queued again by the store while attempts remain; Ray
restarts the actor and the proxy waits for it."""

import logging
import os
import threading
import time

import ray
from ray import exceptions as ray_errors

from modules.jobs import failures, worker
from modules.jobs.queue import JobQueue
from modules.jobs.spec import GenerationSpec
from modules.jobs.store import JobRecord
from modules.runtime import job_state
from modules.workers import placement
from modules.workers.ray_actor import RemoteGenerationActor
from modules.workers.remote_state import RemoteState

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 0.25
CALL_TIMEOUT_S = 30
DESCRIBE_AFTER_RUN_S = 2
"""How long a job's end waits for the worker to say what it holds now."""
STILL_STARTING_WARNING_S = 120
PREVIEW_INTEREST_S = 5
"""A live preview is fetched from the worker while someone read one within this long."""
ACTOR_LOST = (ray_errors.RayActorError, ray_errors.ObjectLostError)
"""The actor died (or its node went), or the run's result went with it: the run must be done again."""


def connect(address: str, repo_root: str, env: dict[str, str] | None = None) -> None:
    """Joins the cluster at address (auto, HOST:PORT) or starts a private one (local); the workers import the
    server's code from repo_root (each machine holds a checkout at the same path)."""
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": {"PYTHONPATH": repo_root, "HF_HUB_OFFLINE": "1", **(env or {})}}
    ray.init(address=None if address == "local" else address, runtime_env=runtime_env, include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=True)


def start_actor(data_dir: str, threads: int = 0, gpus: float = 0, resources: dict | None = None, cpus: float = 1,
                engine_flags: list[str] = ()):
    return RemoteGenerationActor.options(
        num_cpus=cpus, num_gpus=gpus, resources=resources or {}, max_restarts=-1, max_task_retries=0,
        max_concurrency=4, runtime_env={"env_vars": {"SERENA_DATA_DIR": data_dir}},
    ).remote(data_dir, threads, list(engine_flags), os.getcwd())


class RayWorker:
    kind = "ray"

    def __init__(self, jobs: JobQueue, actor, name: str, data_path: str, options: callable, live_options):
        """options(): the server's settings (each job runs with them); live_options: the server's shared.opts (what
        live previews follow here)."""
        self.jobs, self.actor, self.name, self.data_path = jobs, actor, name, data_path
        self.options, self.live_options = options, live_options
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
        return self._thread is not None and self._thread.is_alive() and self.state in ("idle", "busy")

    def loaded_checkpoints(self) -> list[str]:
        return list(self._described.get("checkpoints", [])) if self.alive else []

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "alive": self.alive, "state": self.state,
                "job": self.current_job, "node": self._described.get("node"), "pid": self._described.get("pid"),
                "device": self._described.get("device"), "checkpoints": self.loaded_checkpoints()}

    def _signal(self, job_id: str, attempt: int, action: str) -> None:
        try:
            self.actor.signal.remote(job_id, attempt, action)
        except Exception:  # the actor is gone: its run ends with it
            log.debug("Could not send %s to worker %s", action, self.name, exc_info=True)

    def _describe(self, timeout: float = CALL_TIMEOUT_S) -> None:
        self._described = ray.get(self.actor.describe.remote(), timeout=timeout)

    def _reachable(self, timeout: float = CALL_TIMEOUT_S) -> bool:
        try:
            self._describe(timeout)
            return True
        except Exception:  # dead, restarting, slow, or the cluster unreachable: nothing is sent to it now
            log.debug("Worker %s is not reachable", self.name, exc_info=True)
            return False

    def _wait_until_up(self) -> bool:
        """Waits for the actor (its start-up, or its restart after it died, however long Ray takes); False when its
        start-up failed or the worker was stopped."""
        waiting_since, warned = time.monotonic(), False
        while not self._stop.is_set():
            try:
                self._describe()
                self.state = "idle"
                return True
            except ray_errors.RayActorError as e:
                if e.actor_init_failed:  # its start-up raised: it would only fail again
                    log.error("Worker %s could not start: %s", self.name, e)
                    break
            except Exception:  # a timeout, or the cluster unreachable for a while
                log.debug("Worker %s is not up yet", self.name, exc_info=True)
            if not warned and time.monotonic() - waiting_since > STILL_STARTING_WARNING_S:
                warned = True
                log.warning("Worker %s is still not up after %d s; waiting for Ray to start it", self.name,
                            STILL_STARTING_WARNING_S)
            self._stop.wait(1.0)
        self.state = "dead"
        return False

    def _loop(self):
        if not self._wait_until_up():
            return
        while not self._stop.is_set():
            try:
                job = self.jobs.claim(self._stop, worker=self)
                if job is not None and not self.run(job):
                    self.state = "restarting"
                    if not self._wait_until_up():
                        return
            except Exception:  # the store failed, or anything else: the worker must not die with a job running
                log.exception("Worker %s could not take or run a job", self.name)
                self._stop.wait(1.0)

    def run(self, job: JobRecord) -> bool:
        """Runs the job on the actor and records how it ended; False when the actor is down: it died under the job
        (the job is then interrupted: queued again, or failed with no attempts left) or before the job reached it
        (the job is queued again as it was)."""
        self.current_job, self.state = job.id, "busy"
        try:
            if not self._reachable():
                self.jobs.unclaim(job.id)
                return False
            ending = self._generate(job)
        except ACTOR_LOST as e:
            log.warning("Worker %s died running job %s: %s", self.name, job.id, e)
            self._signal(job.id, job.attempts, "interrupt")  # an actor only unreachable for a while must stop it
            self.jobs.interrupted(job.id, f"worker {self.name} died while it ran ({type(e).__name__})")
            return False
        except Exception as e:
            log.exception("Worker %s could not run job %s", self.name, job.id)
            self._signal(job.id, job.attempts, "interrupt")  # the actor must not go on with a job ended here
            ending = {"error": failures.unexpected(e).as_dict(), "exception": e}
        finally:
            self.current_job = None
        self._reachable(DESCRIBE_AFTER_RUN_S)  # what it holds now, for whoever reads the job's end
        self.jobs.end(job.id, **ending)
        self.state = "idle"
        return True

    def _generate(self, job: JobRecord) -> dict:
        spec_json = self.jobs.store.spec(job.id)
        try:
            spec = GenerationSpec.from_json(spec_json)
        except Exception as e:  # a stored spec this version cannot read
            return {"error": failures.unreadable_spec(e).as_dict(), "exception": e}
        finisher = self.jobs.finisher(job.id)
        mirror = RemoteState(self.live_options, lambda action: self._signal(job.id, job.attempts, action))
        with job_state.listed(job.id, mirror, f"scripts_{spec.mode}"):
            run = self.actor.run.remote(job.id, job.attempts, spec_json, self.options(),
                                        self.jobs.checkpoint_for(spec), finisher)
            if self.jobs.cancel_requested(job.id):
                mirror.interrupt()
            self._follow(job.id, run, mirror)
            outcome = ray.get(run)
            self.jobs.finishing(job.id)
        if "failure" in outcome:
            failure = failures.Failure(**outcome["failure"])
            return {"error": failure.as_dict(), "exception": failures.RemoteFailure(failure)}
        result = outcome["result"]
        result["saved_files"] = self._place(job.id, outcome["files"], outcome["numbered"], result["saved_files"])
        return {"result": result, "value": outcome["value"] if finisher is not None else result}

    def _place(self, job_id: str, files: list, numbered: dict, saved: list[str]) -> list[str]:
        """The files written where a local run would have saved them; their paths, in the order saved. When that
        fails the job still ends with its images (as when saving fails in a local run) and the files written before
        it failed."""
        try:
            placed = placement.place(files, numbered, self.data_path)
        except placement.PlacementFailed as e:
            log.exception("Could not save all the files of job %s", job_id)
            placed = e.placed
        except (OSError, placement.UnsafeStagedPath):
            log.exception("Could not save the files of job %s", job_id)
            return []
        return [placed[path] for path in saved if path in placed]

    def _follow(self, job_id: str, run, mirror: RemoteState) -> None:
        """Until the run ends: its progress mirrored and announced, its preview fetched while someone reads it."""
        announcer = worker.ProgressAnnouncer(job_id, self.jobs.events)
        while not ray.wait([run], timeout=MONITOR_INTERVAL_S)[0]:
            try:
                numbers = ray.get(self.actor.progress.remote(job_id), timeout=CALL_TIMEOUT_S)
                if numbers is not None:
                    mirror.mirror(numbers)
                if mirror.preview_wanted(PREVIEW_INTEREST_S):
                    preview = ray.get(self.actor.preview.remote(job_id, mirror.id_live_preview),
                                      timeout=CALL_TIMEOUT_S)
                    if preview is not None:
                        mirror.show_preview(*preview)
                announcer.step()
            except ACTOR_LOST:  # gone for a moment, or for good: then the run ends (ray.get(run) raises it)
                log.debug("Worker %s did not answer for job %s", self.name, job_id, exc_info=True)
            except Exception:  # a slow answer or a bad preview: the next round tries again
                log.debug("Following job %s failed", job_id, exc_info=True)


def workers(jobs: JobQueue, address: str, count: int, gpus_per_worker: float, data_path: str, repo_root: str,
            options: callable, live_options, engine_flags: list[str] = (), threads: int = 0) -> list[RayWorker]:
    """count workers on the cluster at address, each an actor of its own started with engine_flags."""
    connect(address, repo_root)
    return [RayWorker(jobs, start_actor(data_path, threads, gpus_per_worker, engine_flags=engine_flags),
                      f"ray-{number}", data_path, options, live_options)
            for number in range(1, count + 1)]
