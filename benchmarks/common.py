"""Shared by the benchmarks: a throw-away data dir with checkpoints, a real server process, and its RSS."""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from unittest import mock

import psutil
import requests

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTUP_TIMEOUT = 300
SMALL_TXT2IMG = {"prompt": "a red cube on a table", "negative_prompt": "blurry", "steps": 4, "width": 64, "height": 64,
                 "cfg_scale": 7, "sampler_name": "Euler", "seed": 1}

# Sizes of the "large" random checkpoint: an SD1 UNet at 320/640 channels (~78 M parameters, ~155 MB in fp16).
LARGE_UNET = {"block_out_channels": [320, 640], "layers_per_block": 1, "norm_num_groups": 32}


def make_data_dir(prefix: str) -> str:
    """A fresh data dir, also made this process's own (set before any `modules` import reads it)."""
    data_dir = tempfile.mkdtemp(prefix=f"serena-bench-{prefix}-")
    os.environ["SERENA_DATA_DIR"] = data_dir
    os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"  # no progress bars from in-process generations
    return data_dir


def checkpoint_folder(data_dir: str) -> str:
    return os.path.join(data_dir, "models", "Stable-diffusion")


def make_checkpoint(data_dir: str, name: str, seed: int = 0, large: bool = False) -> str:
    """A random-weight SD1 checkpoint (tiny, or LARGE_UNET-sized) in <data_dir>/models/Stable-diffusion."""
    from tools import tiny_configs
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    path = os.path.join(checkpoint_folder(data_dir), f"{name}.safetensors")
    with mock.patch.dict(tiny_configs.TINY_UNET_COMMON, LARGE_UNET if large else {}):
        return make_tiny_checkpoint("sd15", path, seed=seed)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python launch.py --skip-prepare-environment --nowebui` on a free port, with its console in a log file."""

    def __init__(self, data_dir: str, *extra: str, threads: int = 0, tree: str = REPO_ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(data_dir, "server.log")
        env = {k: v for k, v in os.environ.items() if k not in ("SERENA_DATA_DIR", "IGNORE_CMD_ARGS_ERRORS")}
        env |= {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        command = [sys.executable, "launch.py", "--skip-prepare-environment", "--nowebui", "--port", str(self.port),
                   "--data-dir", data_dir, *extra]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if requests.get(f"{self.url}/sdapi/v1/sd-models", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        self.close()
        raise RuntimeError(f"the server did not answer within {STARTUP_TIMEOUT}s:\n{self.output()}")

    def output(self) -> str:
        with open(self.log_path, encoding="utf8", errors="replace") as log:
            return log.read()

    # One connection per request, as A1111 clients (webuiapi, scripts using requests.post) make them.
    def get(self, route: str):
        response = requests.get(f"{self.url}/sdapi/v1/{route}", timeout=60)
        response.raise_for_status()
        return response.json()

    def post_response(self, route: str, payload: dict) -> requests.Response:
        response = requests.post(f"{self.url}/sdapi/v1/{route}", json=payload, timeout=600)
        if response.status_code != 200:
            raise RuntimeError(f"POST {route}: {response.status_code} {response.text[:500]}")
        return response

    def post(self, route: str, payload: dict):
        return self.post_response(route, payload).json()

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def server(data_dir: str, *extra: str, threads: int = 0, keep: bool = False, tree: str = REPO_ROOT):
    """A running server of the source tree `tree` over data_dir (threads: torch's CPU threads, 0 = its default);
    data_dir is removed after."""
    running = Server(data_dir, *extra, threads=threads, tree=tree)
    try:
        yield running
    except Exception:
        print(f"--- server log ({running.log_path}) ---\n{running.output()[-4000:]}", file=sys.stderr)
        raise
    finally:
        running.close()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def load_note() -> str:
    """Other processes on the machine skew timings: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
