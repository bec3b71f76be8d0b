"""A remote worker's side of a job: the engine started as the server starts it (options, extensions, scripts, the
checkpoint list), the job's checkpoint made current (a few loaded ones kept, least recently used dropped first),
the job run as the server's own worker runs it, and the files it saved, written to a staging folder, sent back
with the result for the server to place."""

import collections
import os
import shutil
import tempfile
import threading

from modules import devices, initialize, output_paths, sd_models, shared
from modules.jobs import failures, live, worker
from modules.jobs.spec import GenerationSpec
from modules.runtime import job_state


class LoadedCheckpoints:
    """Loaded models by checkpoint title, the one a job needs made shared.sd_model. At most limit() of them (the
    server's sd_checkpoints_limit), and the least recently used ones are dropped first when the device's free memory
    (free_memory()) would not hold MEMORY_MARGIN times the next checkpoint's file."""

    MEMORY_MARGIN = 2

    def __init__(self, limit=lambda: shared.opts.sd_checkpoints_limit, free_memory=devices.free_memory_bytes):
        self.limit, self.free_memory = limit, free_memory
        self.models: collections.OrderedDict[str, object] = collections.OrderedDict()

    def titles(self) -> list[str]:
        return list(self.models)

    def use(self, title: str) -> None:
        if title in self.models:
            self.models.move_to_end(title)
            if shared.sd_model is not self.models[title]:
                shared.sd_model = self.models[title]
                sd_models.load_embeddings(shared.sd_model)
            return
        info = sd_models.get_closet_checkpoint_match(title)
        if info is None:
            return  # the job reports the unknown checkpoint itself
        needed = self.MEMORY_MARGIN * os.path.getsize(info.filename)
        while self.models and (len(self.models) >= max(1, self.limit()) or self.free_memory() < needed):
            self.models.popitem(last=False)
            devices.release_memory()
        self.models[info.title] = sd_models.load_model(info)


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
        self._interrupted: set[str] = set()

    def run(self, job_id: str, spec_json: str, options: dict, checkpoint: str | None, finisher=None) -> dict:
        """{"result", "value", "files"} (the result's saved_files relative to the staging folder, as files' paths),
        or {"failure": ...} when the job failed."""
        staging = tempfile.mkdtemp(prefix="serena-staged-")
        token = output_paths.staging_root.set(staging)
        spec = None
        try:
            spec = GenerationSpec.from_json(spec_json)
            shared.opts.data.update(options)  # this worker's settings are the server's
            if checkpoint:
                self.checkpoints.use(checkpoint)
            result, value = worker.execute(job_id, spec, self.environment, finisher,
                                           cancelled=lambda: job_id in self._interrupted)
            result["saved_files"] = [os.path.relpath(path, staging).replace(os.sep, "/")
                                     for path in result["saved_files"]]
            return {"result": result, "value": value if finisher is not None else None,
                    "files": staged_files(staging)}
        except Exception as e:  # the job's failure, reported to the server as the local worker reports it
            return {"failure": failures.describe(e, spec).as_dict()} if spec is not None else \
                {"failure": failures.Failure(422, "spec", f"the stored request cannot be read: {e}",
                                             type(e).__name__).as_dict()}
        finally:
            output_paths.staging_root.reset(token)
            shutil.rmtree(staging, ignore_errors=True)
            self._interrupted.discard(job_id)

    def interrupt(self, job_id: str) -> None:
        self._interrupted.add(job_id)
        state = job_state.running(job_id)
        if state is not None:
            state.interrupt()

    def progress(self, job_id: str) -> dict | None:
        return live.progress(job_id)

    def preview(self, job_id: str) -> tuple[int, bytes] | None:
        number = live.preview_id(job_id)
        return (number, live.preview_png(job_id)) if number is not None else None

    def describe(self) -> dict:
        return {"pid": os.getpid(), "device": str(shared.device), "checkpoints": self.checkpoints.titles()}
