"""Smoke-test servers: the real `python webui.py` in a subprocess, with a tiny real checkpoint.

`base_url` is the shared API-only server; `server_factory(extra_args, nowebui=True, files=None)` starts another one
(own data dir, own port) that is stopped at the end of the session, or earlier with `.stop()`."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from test.conftest import REPO_ROOT

STARTUP_TIMEOUT_S = 300
POLL_INTERVAL_S = 0.5
READY_PATH = "/sdapi/v1/sd-models"
# the test process's own settings must not leak into the server
PRIVATE_ENV = ("IGNORE_CMD_ARGS_ERRORS", "SERENA_DATA_DIR")
TEST_STYLES_CSV = 'name,prompt,negative_prompt\n"smoke style","{prompt}, smoke style text","smoke negative"\n'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, process: subprocess.Popen, url: str, data_dir: str, log_path: str, args: list[str]):
        self.process = process
        self.url = url
        self.data_dir = data_dir
        self.log_path = log_path
        self.args = args

    def log(self) -> str:
        with open(self.log_path, encoding="utf8", errors="replace") as file:
            return file.read()

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.is_running():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def _server_env() -> dict:
    env = {key: value for key, value in os.environ.items() if key not in PRIVATE_ENV}
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_files(data_dir: str, files: dict[str, str] | None) -> None:
    for relative_path, content in (files or {}).items():
        path = os.path.join(data_dir, relative_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf8") as file:
            file.write(content)


def wait_until_ready(server: ServerProcess, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Any HTTP answer (401 included) means start-up, model load included, is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.is_running():
            pytest.fail(f"server exited with {server.process.returncode}:\n{server.log()[-5000:]}")
        try:
            requests.get(server.url + READY_PATH, timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(POLL_INTERVAL_S)
    server.stop()
    pytest.fail(f"server not ready after {timeout} s:\n{server.log()[-5000:]}")


def start_server(checkpoint: str, data_dir: str, extra_args=(), nowebui: bool = True,
                 files: dict[str, str] | None = None) -> ServerProcess:
    """Starts webui.py on a free port with `data_dir` as --data-dir and waits until it answers."""
    os.makedirs(data_dir, exist_ok=True)
    _write_files(data_dir, files)
    port = free_port()
    args = [sys.executable, "webui.py", "--port", str(port), "--data-dir", data_dir, "--ckpt", checkpoint,
            *(["--nowebui"] if nowebui else []), *extra_args]
    return spawn_server(args, REPO_ROOT, port, data_dir, "server.log")


def spawn_server(args: list[str], cwd: str, port: int, data_dir: str, log_name: str) -> ServerProcess:
    """Runs args (a server command listening on port) with its output in data_dir/log_name; waits until it answers."""
    log_path = os.path.join(data_dir, log_name)
    with open(log_path, "w", encoding="utf8") as log:
        process = subprocess.Popen(args, cwd=cwd, env=_server_env(), stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir, log_path, args)
    wait_until_ready(server)
    return server


@pytest.fixture(scope="session")
def server_factory(tiny_checkpoint, tmp_path_factory):
    started: list[ServerProcess] = []

    def start(extra_args=(), nowebui: bool = True, files: dict[str, str] | None = None) -> ServerProcess:
        data_dir = str(tmp_path_factory.mktemp("server-data"))
        server = start_server(tiny_checkpoint, data_dir, extra_args, nowebui=nowebui, files=files)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def live_server(server_factory) -> ServerProcess:
    """The shared API-only server (with one prompt style in its styles.csv)."""
    return server_factory(files={"styles.csv": TEST_STYLES_CSV})


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url
