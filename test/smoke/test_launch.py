"""launch.py as a user runs it: a real server process, its listening socket, and what it writes under --data-dir."""

import glob
import json
import os
import shutil
import subprocess
import sys

import psutil
import pytest
import requests

from test.conftest import REPO_ROOT
from test.smoke.conftest import ServerProcess, _server_env, free_port, spawn_server

NO_CHECKPOINT_MESSAGE = "put a .safetensors file in"
COPIED = ("modules", "launch.py", "webui.py")  # what locates the program folder (script_path) by its own path
NOT_LINKED = {"models", "venv", ".git", "outputs", "config.json", "cache.json", "ui-config.json", "styles.csv"}


@pytest.fixture(scope="module")
def program_folder(tmp_path_factory) -> str:
    """The program as a fresh clone without the shipped demo checkpoint: the code copied, the rest linked, models/
    empty. The server also lists the program's own models/Stable-diffusion, so only this gives it no checkpoint."""
    folder = tmp_path_factory.mktemp("program")
    for name in os.listdir(REPO_ROOT):
        source, target = os.path.join(REPO_ROOT, name), folder / name
        if name in COPIED:
            if os.path.isdir(source):
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        elif name not in NOT_LINKED:
            os.symlink(source, target)
    (folder / "models" / "Stable-diffusion").mkdir(parents=True)
    return str(folder)


def launch(program: str, data_dir: str, *extra: str) -> ServerProcess:
    """`python launch.py --skip-prepare-environment --nowebui` on a free port, as a user would start it."""
    port = free_port()
    args = [sys.executable, "launch.py", "--skip-prepare-environment", "--nowebui", "--port", str(port),
            "--data-dir", data_dir, *extra]
    return spawn_server(args, program, port, data_dir, "launch.log")


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def listening_addresses(server: ServerProcess) -> set[str]:
    connections = psutil.Process(server.process.pid).net_connections(kind="inet")
    return {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port_of(server)}


@pytest.fixture(scope="module")
def empty_server(program_folder, tmp_path_factory):
    """No checkpoint in the data dir nor in the program folder."""
    server = launch(program_folder, str(tmp_path_factory.mktemp("launch-empty")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server_with_checkpoint(program_folder, tmp_path_factory):
    """A tiny checkpoint in <data-dir>/models/Stable-diffusion, which is where the server must look."""
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    data_dir = str(tmp_path_factory.mktemp("launch-data"))
    make_tiny_checkpoint("sd15", os.path.join(data_dir, "models", "Stable-diffusion", "tiny-launch.safetensors"))
    server = launch(program_folder, data_dir)
    try:
        yield server
    finally:
        server.stop()


def test_no_checkpoint_starts_and_says_where_to_put_one(empty_server):
    assert requests.get(f"{empty_server.url}/sdapi/v1/sd-models", timeout=30).json() == []
    expected_folder = os.path.join(os.path.realpath(empty_server.data_dir), "models", "Stable-diffusion")
    assert f"{NO_CHECKPOINT_MESSAGE} {expected_folder}" in empty_server.log()
    assert os.path.isdir(expected_folder), "the folder the message names is there to put a checkpoint in"


def test_binds_localhost_without_listen(empty_server):
    assert f"Running on http://127.0.0.1:{port_of(empty_server)}" in empty_server.log()
    assert listening_addresses(empty_server) == {"127.0.0.1"}


def test_server_address_follows_flags(monkeypatch):
    import webui
    from modules import shared

    for name, value in {"listen": False, "server_name": None, "port": None, "nowebui": False}.items():
        monkeypatch.setattr(shared.cmd_opts, name, value)
    assert webui.server_address() == ("127.0.0.1", 7860)
    monkeypatch.setattr(shared.cmd_opts, "nowebui", True)
    assert webui.server_address() == ("127.0.0.1", 7861)
    monkeypatch.setattr(shared.cmd_opts, "listen", True)
    monkeypatch.setattr(shared.cmd_opts, "port", 9000)
    assert webui.server_address() == ("0.0.0.0", 9000)
    monkeypatch.setattr(shared.cmd_opts, "server_name", "example.local")
    assert webui.server_address() == ("example.local", 9000)


def test_exit_with_everything_installed_returns_at_once():
    from modules import launch_utils

    assert launch_utils.requirements_met(), "the venv differs from requirements_versions.txt: run pip install -r"
    result = subprocess.run([sys.executable, "launch.py", "--exit"], cwd=REPO_ROOT, env=_server_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Exiting because of --exit argument" in result.stdout
    assert "Installing" not in result.stdout  # the quick check found everything: pip was not run


def test_data_dir_holds_config_cache_and_outputs(server_with_checkpoint, program_folder):
    data_dir, url = server_with_checkpoint.data_dir, server_with_checkpoint.url

    models = requests.get(f"{url}/sdapi/v1/sd-models", timeout=30).json()
    assert [m["model_name"] for m in models] == ["tiny-launch"]
    assert os.path.realpath(models[0]["filename"]).startswith(os.path.realpath(data_dir))

    payload = {"prompt": "a red cube", "steps": 2, "width": 64, "height": 64, "seed": 1, "save_images": True}
    response = requests.post(f"{url}/sdapi/v1/txt2img", json=payload, timeout=300)
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 1
    assert requests.post(f"{url}/sdapi/v1/options", json={"save_txt": False}, timeout=30).status_code == 200

    assert os.path.isfile(os.path.join(data_dir, "config.json"))
    assert os.path.isfile(os.path.join(data_dir, "cache.json"))
    saved = glob.glob(os.path.join(data_dir, "outputs", "txt2img-images", "**", "*.png"), recursive=True)
    assert len(saved) == 1, os.listdir(data_dir)
    assert not [name for name in ("config.json", "cache.json", "outputs") if os.path.lexists(
        os.path.join(program_folder, name))], "written to the program folder instead of the data dir"


def test_requirements_check_reads_includes_pins_and_local_labels(tmp_path, monkeypatch):
    from modules import launch_utils

    installed = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "pillow": "12.3.0", "Pillow": "12.3.0"}
    monkeypatch.setattr(launch_utils, "installed_version", installed.get)
    (tmp_path / "base.txt").write_text("# pinned\ntorch==2.13.0\nnumpy==2.4.6  # arrays\n\nPillow\n")
    (tmp_path / "test.txt").write_text("-r base.txt\npillow==12.3.0\n")
    assert launch_utils.read_requirements(str(tmp_path / "test.txt")) == \
        ["torch==2.13.0", "numpy==2.4.6", "Pillow", "pillow==12.3.0"]
    assert launch_utils.requirements_met(str(tmp_path / "test.txt"))

    for unmet in ("numpy==2.4.5", "missing-package", "numpy>=2", "torch==2.13.0+cu126"):
        (tmp_path / "one.txt").write_text(unmet + "\n")
        assert not launch_utils.requirements_met(str(tmp_path / "one.txt")), unmet


def test_launch_runs_each_enabled_extensions_install_py_once(tmp_path):
    from test.extension_fixtures import TEST_EXTENSION, extension_files

    data_dir = tmp_path / "data"
    for relative_path, text in extension_files().items():
        (data_dir / relative_path).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / relative_path).write_text(text)
    env = {key: value for key, value in _server_env().items() if key != "SERENA_DATA_DIR"}
    marker = data_dir / "test-extension-installed.txt"
    command = [sys.executable, "launch.py", "--exit", "--data-dir", str(data_dir)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker.read_text() == "installed\n"

    (data_dir / "config.json").write_text(json.dumps({"disabled_extensions": [TEST_EXTENSION]}))
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker.read_text() == "installed\n", "a disabled extension's install.py ran"


def test_the_console_never_shows_a_password(program_folder, tmp_path):
    """launch.py prints its arguments at start: the values of --api-auth and --gradio-auth are hidden there and in
    GET /sdapi/v1/cmd-flags."""
    server = launch(program_folder, str(tmp_path), "--api-auth", "alice:api-secret-1",
                    "--gradio-auth=bob:ui-secret-2")
    try:
        flags = requests.get(f"{server.url}/sdapi/v1/cmd-flags", auth=("alice", "api-secret-1"), timeout=30).json()
        assert (flags["api_auth"], flags["gradio_auth"]) == ("********", "********")
        assert "Launching API server with arguments:" in server.log()
        assert "api-secret-1" not in server.log() and "ui-secret-2" not in server.log()
    finally:
        server.stop()
