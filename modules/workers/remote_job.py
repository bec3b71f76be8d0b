"""A remote worker's side of a job: the engine started as the server starts it (options, extensions, scripts, the
checkpoint list), the job's checkpoint resolved by its name, the job run as the server's own worker runs it, and the
files it saved, written to a staging folder, sent back with the result for the server to place."""

import collections
import dataclasses
import logging
import os
import shutil
import tempfile
import threading

from modules import devices, initialize, output_paths, safe, sd_models, shared
from modules.jobs import failures, live, worker
from modules.jobs.spec import GenerationSpec
from modules.runtime import job_state
from modules.workers import remote_state

log = logging.getLogger(__name__)


def _name_of(model) -> str | None:
    info = getattr(model, "sd_checkpoint_info", None)
    return info.name if info is not None else None


class LoadedCheckpoints:
    """The loaded model (shared.sd_model) and up to limit() - 1 others kept loaded beside it (the server's
    sd_checkpoints_limit), by checkpoint name, least recently used dropped first; none is kept while the device's
    free memory (free_memory()) would not also hold MEMORY_MARGIN times the next checkpoint's file. A checkpoint
    that is not kept is loaded by the job's processing, as on the server."""

    MEMORY_MARGIN = 2

    def __init__(self, limit=lambda: shared.opts.sd_checkpoints_limit, free_memory=devices.free_memory_bytes):
        self.limit, self.free_memory = limit, free_memory
        self.kept: collections.OrderedDict[str, object] = collections.OrderedDict()

    def names(self) -> list[str]:
        """The loaded checkpoints' names, the current one first, then the most recently used."""
        current = _name_of(shared.sd_model)
        return ([current] if current else []) + [name for name in reversed(self.kept) if name != current]

    def use(self, info: sd_models.CheckpointInfo) -> None:
        """Before a job for info: its model made current when it is kept, the current one kept in its place while
        the limit and the memory allow (else released when the next one loads)."""
        current = shared.sd_model
        self.kept.pop(_name_of(current), None)  # a copy the job's processing loaded again
        if _name_of(current) == info.name:
            return
        model = self.kept.pop(info.name, None)
        self._keep(current, needed=0 if model is not None else self.MEMORY_MARGIN * _file_size(info.filename))
        if model is not None:
            shared.sd_model = model
            sd_models.load_embeddings(model)

    def _keep(self, model, needed: int) -> None:
        if model is None:
            return
        room = max(1, self.limit()) - 1
        while self.kept and (len(self.kept) >= room or self.free_memory() < needed):
            self.kept.popitem(last=False)
            devices.release_memory()
        if len(self.kept) < room and self.free_memory() >= needed:
            self.kept[_name_of(model)] = model


def _named(name: str) -> sd_models.CheckpointInfo | None:
    info = sd_models.checkpoint_aliases.get(name)
    return info if info is not None and info.name == name else None


def _file_size(path: str) -> int:
    """0 for a file that is gone: the job's processing then fails to load it as it would on the server."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def resolve_checkpoint(name: str) -> sd_models.CheckpointInfo:
    """The checkpoint the server named (CheckpointInfo.name), looked for again in the models folders when it was
    not there at start-up; CheckpointLoadError when this worker has none of that name (another --ckpt-dir, a file
    missing on this machine): never another one in its place."""
    info = _named(name)
    if info is None:
        sd_models.list_models()
        info = _named(name)
    if info is None:
        raise safe.CheckpointLoadError(f"{name}: this worker has no checkpoint of that name (its models folders: "
                                       f"{', '.join(sd_models.checkpoint_search_dirs())})")
    return info


def with_checkpoint(spec: GenerationSpec, options: dict, info: sd_models.CheckpointInfo) -> GenerationSpec:
    """The job's checkpoint named as this worker knows it, in the override that names it or else in its options."""
    if spec.requested_checkpoint() is None:
        options["sd_model_checkpoint"] = info.title
        return spec
    overrides = spec.params["override_settings"]
    return dataclasses.replace(spec, params={**spec.params,
                                             "override_settings": {**overrides, "sd_model_checkpoint": info.name}})


def staged_files(root: str) -> list[tuple[str, bytes]]:
    files = []
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                files.append((os.path.relpath(path, root).replace(os.sep, "/"), file.read()))
    return files


class Engine:
    def __init__(self):
        initialize.initialize(load_model=False)
        initialize.register_options_without_ui()
        self.environment = initialize.job_environment(threading.Lock())
        self.checkpoints = LoadedCheckpoints()
        self._interrupted: set[tuple[str, int]] = set()
        """(job id, attempt) of the runs to stop: a cancel that may come before its run starts"""
        self._running: set[tuple[str, int]] = set()
        """(job id, attempt) of the runs under way (an earlier run the server gave up on may still be ending)"""

    def run(self, job_id: str, attempt: int, spec_json: str, options: dict, checkpoint: str | None,
            finisher=None) -> dict:
        """{"result", "value", "files", "numbered"} (the result's saved_files relative to the staging folder, as
        files' paths), or {"failure": ...} when the job failed."""
        staging = output_paths.Staging(tempfile.mkdtemp(prefix="serena-staged-"))
        token = output_paths.staging.set(staging)
        spec = None
        try:
            spec = GenerationSpec.from_json(spec_json)
            options = dict(options)
            info = resolve_checkpoint(checkpoint) if checkpoint else None
            if info is not None:
                spec = with_checkpoint(spec, options, info)

            def prepare():  # under the generation lock: a run the server gave up on may still be generating
                shared.opts.data.update(options)  # this worker's settings are the server's
                if info is not None:
                    self.checkpoints.use(info)

            self._running.add((job_id, attempt))
            result, value = worker.execute(job_id, spec, self.environment, finisher,
                                           cancelled=lambda: (job_id, attempt) in self._interrupted, prepare=prepare)
            result["saved_files"] = [os.path.relpath(path, staging.root).replace(os.sep, "/")
                                     for path in result["saved_files"]]
            return {"result": result, "value": value if finisher is not None else None,
                    "files": staged_files(staging.root), "numbered": staging.numbered}
        except Exception as e:  # the job's failure, reported to the server as the local worker reports it
            if spec is None:
                return {"failure": failures.unreadable_spec(e).as_dict()}
            failure = failures.describe(e, spec)
            if failure.status >= 500:
                log.exception("Job %s failed", job_id)
            return {"failure": failure.as_dict()}
        finally:
            self._running.discard((job_id, attempt))
            output_paths.staging.reset(token)
            shutil.rmtree(staging.root, ignore_errors=True)
            self._interrupted = {key for key in self._interrupted if key[0] != job_id or key[1] > attempt}

    def signal(self, job_id: str, attempt: int, action: str) -> None:
        """interrupt, skip or stop_generating for that run of the job (a late one for an earlier run is ignored)."""
        if action not in remote_state.SIGNALS:
            raise ValueError(f"unknown signal {action!r}")
        if action == "interrupt":
            self._interrupted.add((job_id, attempt))
        state = job_state.running(job_id)
        if state is not None and (job_id, attempt) in self._running:
            getattr(state, action)()

    def progress(self, job_id: str) -> dict | None:
        state = job_state.running(job_id)
        return remote_state.snapshot(state) if state is not None else None

    def preview(self, job_id: str, known: int) -> tuple[int, bytes] | None:
        """The job's latest live preview (number, PNG) when it is not the one numbered known."""
        number = live.preview_id(job_id)
        if number is None or number == known:
            return None
        png = live.preview_png(job_id)
        return (number, png) if png is not None else None

    def describe(self) -> dict:
        return {"pid": os.getpid(), "device": str(shared.device), "checkpoints": self.checkpoints.names()}
