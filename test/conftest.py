"""Test set-up: a throw-away data dir (set before any module import) and tiny real checkpoints."""

import os
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

_DATA_DIR = tempfile.mkdtemp(prefix="serena-test-data-")
os.environ.setdefault("SERENA_DATA_DIR", _DATA_DIR)
os.environ["HF_HUB_OFFLINE"] = "1"
# Tiny models on a 2-core machine: one intra-op thread per process beats oversubscription (servers inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"

TINY_DEFAULT = "tiny-sd15"


@pytest.fixture(scope="session")
def data_dir() -> str:
    from modules import paths_internal

    return paths_internal.data_path


@pytest.fixture(scope="session")
def tiny_checkpoint(data_dir) -> str:
    """The default tiny SD1 checkpoint, in the data dir's models/Stable-diffusion (what list_models finds)."""
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    folder = os.path.join(data_dir, "models", "Stable-diffusion")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{TINY_DEFAULT}.safetensors")
    if not os.path.exists(path):
        make_tiny_checkpoint("sd15", path, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_arch_checkpoints(tmp_path_factory) -> dict[str, str]:
    """One tiny checkpoint per supported architecture, outside the models folder."""
    from modules.sd_models_detect import ARCHITECTURES
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    folder = tmp_path_factory.mktemp("tiny-archs")
    return {arch: make_tiny_checkpoint(arch, str(folder / f"tiny-{arch}.safetensors"), seed=1)
            for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def engine_ready(tiny_checkpoint):
    """Devices chosen (shared.device too, as start-up sets it) and the checkpoint list read once per session."""
    from modules import devices, sd_models, shared

    shared.device = devices.init(shared.cmd_opts)
    sd_models.list_models()


@pytest.fixture
def sd_model(engine_ready, tiny_checkpoint):
    """The tiny SD1 checkpoint as shared.sd_model and as the selected checkpoint (opts.sd_model_checkpoint), both
    re-selected when another test switched models."""
    from modules import sd_models, shared

    if sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint)) is None:
        sd_models.list_models()
    info = sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint))
    model = sd_models.reload_model_weights(info=info)
    shared.opts.set("sd_model_checkpoint", info.title, run_callbacks=False)
    return model


@pytest.fixture
def second_checkpoint(sd_model, tiny_arch_checkpoints, tmp_path):
    """Another SD1 checkpoint (different weights) registered under its own name; unregistered afterwards."""
    from modules import sd_models

    source = tiny_arch_checkpoints["sd15"]
    path = tmp_path / "other-sd15.safetensors"
    shutil.copy(source, path)
    if os.path.isdir(os.path.splitext(source)[0] + ".config"):
        shutil.copytree(os.path.splitext(source)[0] + ".config", tmp_path / "other-sd15.config")
    sd_models.CheckpointInfo(str(path)).register()
    yield sd_models.get_closet_checkpoint_match("other-sd15.safetensors")
    sd_models.list_models()


@pytest.fixture
def config_on_disk(monkeypatch, tmp_path):
    """shared.config_filename pointed at a config.json in tmp_path, holding the current base options."""
    from modules import shared

    path = tmp_path / "config.json"
    monkeypatch.setattr(shared, "config_filename", str(path))
    shared.opts.save(str(path))
    return path


@pytest.fixture
def clean_callbacks():
    """The script callbacks registered now, put back afterwards (a test may add, or take off, any)."""
    from modules import script_callbacks

    saved = {name: list(callbacks) for name, callbacks in script_callbacks.callback_map.items()}
    yield
    for name, callbacks in script_callbacks.callback_map.items():
        callbacks[:] = saved[name]
