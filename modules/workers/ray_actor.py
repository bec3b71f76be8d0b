"""The Ray actor a worker is: imported by Ray's worker processes, so it imports nothing of the engine until the
actor starts (the engine reads its command line and data dir when first imported)."""

import os
import socket
import sys

import ray


class GenerationActor:
    def __init__(self, data_dir: str, threads: int, engine_flags: list[str] = (), server_directory: str | None = None):
        """engine_flags: the server's command-line flags that shape the engine (engine_flags.for_worker);
        server_directory: the server's working directory, where relative paths in those flags start (when this
        machine has it)."""
        try:
            self._start(data_dir, threads, engine_flags, server_directory)
        except SystemExit as e:  # a flag the engine refused: a failed start for Ray, not a crash to restart from
            raise RuntimeError(f"the worker's engine did not start (exit {e.code}) with the flags "
                               f"{' '.join(engine_flags)}") from e

    def _start(self, data_dir: str, threads: int, engine_flags: list[str], server_directory: str | None):
        if server_directory and os.path.isdir(server_directory):
            os.chdir(server_directory)
        os.environ["SERENA_DATA_DIR"] = data_dir
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        sys.argv = ["webui.py", *engine_flags, "--data-dir", data_dir, "--disable-console-progressbars"]
        if threads:
            import torch

            torch.set_num_threads(threads)
        from modules import gradio_import

        gradio_import.skip_stub_writing()
        from modules.workers.remote_job import Engine

        self.engine = Engine()

    def describe(self) -> dict:
        return {**self.engine.describe(), "node": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname()}

    def run(self, job_id: str, attempt: int, spec_json: str, options: dict, checkpoint: str | None,
            finisher=None) -> dict:
        return self.engine.run(job_id, attempt, spec_json, options, checkpoint, finisher)

    def progress(self, job_id: str):
        return self.engine.progress(job_id)

    def preview(self, job_id: str, known: int):
        return self.engine.preview(job_id, known)

    def signal(self, job_id: str, attempt: int, action: str) -> None:
        self.engine.signal(job_id, attempt, action)


RemoteGenerationActor = ray.remote(GenerationActor)
