"""M12: a bad file in the checkpoint folder (truncated, hostile) is listed as skipped with why, never stops the
listing, the start-up or the server; choosing one is a 422 naming the file and the reason, in plain words, and the
model loaded before stays."""

import os
import shutil

import pytest
import torch

from modules import initialize, paths_internal, safe, sd_models, shared
from test.api_client import in_process_api
from tools.make_tiny_checkpoint import make_tiny_checkpoint


class _RunsACommand:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def bad_folder(sd_model, tiny_arch_checkpoints, tmp_path, monkeypatch):
    """A --ckpt-dir holding, in name order, a hostile .ckpt, a truncated .safetensors and a good checkpoint."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    hostile = make_tiny_checkpoint("sd15", str(folder / "a-hostile.ckpt"), seed=2, fmt="ckpt")
    contents = torch.load(hostile, weights_only=True)
    contents["payload"] = _RunsACommand(str(tmp_path / "pwned"))
    torch.save(contents, hostile)
    good = folder / "c-good.safetensors"
    shutil.copy(tiny_arch_checkpoints["sd15"], good)
    shutil.copytree(os.path.splitext(tiny_arch_checkpoints["sd15"])[0] + ".config", folder / "c-good.config")
    with open(good, "rb") as source, open(folder / "b-truncated.safetensors", "wb") as truncated:
        truncated.write(source.read(1000))
    monkeypatch.setattr(shared.cmd_opts, "ckpt_dir", str(folder))
    sd_models.list_models()
    yield folder
    monkeypatch.undo()
    sd_models.list_models()
    assert not (tmp_path / "pwned").exists(), "the hostile pickle never ran"


def test_a_truncated_file_is_skipped_with_why_and_the_rest_listed(bad_folder):
    names = [info.name for info in sd_models.checkpoints_list.values()]
    assert "c-good.safetensors" in names and "a-hostile.ckpt" in names
    assert list(sd_models.skipped_checkpoints) == [str(bad_folder / "b-truncated.safetensors")]
    assert sd_models.skipped_checkpoints[str(bad_folder / "b-truncated.safetensors")]


def test_refresh_checkpoints_answers_the_skipped_files_and_the_server_still_generates(bad_folder):
    client = in_process_api()
    refreshed = client.post("/sdapi/v1/refresh-checkpoints")
    assert refreshed.status_code == 200
    assert list(refreshed.json()["skipped"]) == [str(bad_folder / "b-truncated.safetensors")]
    assert client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64}).status_code \
        == 200


def test_start_up_passes_over_a_hostile_first_checkpoint_to_one_that_loads(bad_folder, monkeypatch):
    hostile = sd_models.get_closet_checkpoint_match("a-hostile.ckpt")
    monkeypatch.setitem(shared.opts.data, "sd_model_checkpoint", hostile.title)
    sd_models.unload_model_weights()
    initialize.load_first_model()
    assert shared.sd_model is not None and shared.sd_model.sd_checkpoint_info.name != "a-hostile.ckpt"


def plain_reason(detail: str) -> bool:
    return "weights_only" not in detail and "\x1b" not in detail and "system, which a checkpoint may not" in detail


@pytest.fixture
def model_options_load(monkeypatch):
    """The checkpoint and VAE options load what they name, as start-up registers them."""
    for key in ("sd_model_checkpoint", "sd_vae"):
        monkeypatch.setattr(shared.opts.data_labels[key], "onchange", shared.opts.data_labels[key].onchange)
    initialize.register_model_options()


def test_selecting_a_hostile_checkpoint_is_a_422_and_the_model_stays(bad_folder, model_options_load, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setattr(shared, "config_filename", str(tmp_path / "config.json"))
    before_model, before_option = shared.sd_model.sd_checkpoint_info.filename, shared.opts.sd_model_checkpoint
    hostile = sd_models.get_closet_checkpoint_match("a-hostile.ckpt")
    response = in_process_api().post("/sdapi/v1/options", json={"sd_model_checkpoint": hostile.title})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("sd_model_checkpoint:") and "a-hostile.ckpt" in detail and plain_reason(detail)
    assert shared.sd_model.sd_checkpoint_info.filename == before_model
    assert shared.opts.sd_model_checkpoint == before_option


def test_overriding_with_a_hostile_checkpoint_is_a_422_and_the_model_stays(bad_folder):
    before_model = shared.sd_model.sd_checkpoint_info.filename
    response = in_process_api().post("/sdapi/v1/txt2img", json={
        "prompt": "x", "steps": 1, "width": 64, "height": 64,
        "override_settings": {"sd_model_checkpoint": "a-hostile.ckpt"}})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("override_settings.sd_model_checkpoint:") and plain_reason(detail)
    assert shared.sd_model.sd_checkpoint_info.filename == before_model


def test_the_reason_drops_colour_codes_and_torchs_advice():
    error = RuntimeError("\x1b[31mWeights only load failed.\x1b[0m\n\t(1) Re-running `torch.load` with `weights_only` "
                         "set to `False` will likely succeed\n\tWeightsUnpickler error: Unsupported global: GLOBAL "
                         "posix.system was not an allowed global by default.")
    assert safe.reason(error) == "it calls for posix.system, which a checkpoint may not hold (refused, never run)"
    assert safe.reason(ValueError("\x1b[1mheader too short\x1b[0m")) == "header too short"
    advice_first = RuntimeError("(1) Re-running `torch.load` with `weights_only` set to `False` will likely succeed\n"
                                "UnpicklingError: invalid load key, 'x'.")
    assert safe.reason(advice_first) == "UnpicklingError: invalid load key, 'x'."


@pytest.fixture
def empty_folder(sd_model, tmp_path, monkeypatch):
    """No checkpoint anywhere, and none loaded: a fresh install before its first download."""
    monkeypatch.setattr(paths_internal, "models_path", str(tmp_path / "models"))
    monkeypatch.setattr(paths_internal, "embedded_models_path", str(tmp_path / "embedded"))
    monkeypatch.setattr(shared.cmd_opts, "ckpt_dir", None)
    monkeypatch.setattr(shared.cmd_opts, "ckpt", None)
    sd_models.list_models()
    sd_models.unload_model_weights()
    yield sd_models.checkpoint_search_dirs()[0]
    monkeypatch.undo()
    sd_models.list_models()


def test_generating_with_no_checkpoint_at_all_is_a_503_saying_where_to_put_one(empty_folder):
    client = in_process_api()
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "no checkpoint found" in detail and empty_folder in detail
    assert client.get("/sdapi/v1/sd-models").json() == []


def test_a_previous_model_that_cannot_load_again_is_named_beside_the_first_failure(bad_folder, tmp_path):
    good = sd_models.get_closet_checkpoint_match("c-good.safetensors")
    sd_models.reload_model_weights(info=good)
    os.remove(good.filename)
    hostile = sd_models.get_closet_checkpoint_match("a-hostile.ckpt")
    with pytest.raises(safe.CheckpointLoadError) as failure:
        sd_models.reload_model_weights(info=hostile)
    message = str(failure.value)
    assert message.startswith(f"{hostile.filename}: refused to load this pickle") and "did not load again either" in message
    assert good.filename in message.split("did not load again either")[1]
