"""The txt2img/img2img size and prompt placeholder that follow the checkpoint's stated native resolution and example
prompt (modules/sd_models_metadata.py, modules/ui_model_defaults.py)."""

import json
import os

import gradio as gr
import pytest
import safetensors.torch
import torch

from modules import sd_models, sd_models_metadata
from modules.ui_model_defaults import ModelUiDefaults, follow_checkpoint, ui_defaults
from modules.ui_toprow import KEYS_HINT, PROMPT_PLACEHOLDER
from test.api_client import job_service
from tools.demo_model.evaluate import DEFAULT_CHECKPOINT

DEMO_EXAMPLE_PROMPT = "a red circle on a black background"


def write_checkpoint(folder, name: str, metadata: dict[str, str]) -> sd_models.CheckpointInfo:
    path = os.path.join(folder, f"{name}.safetensors")
    safetensors.torch.save_file({"weight": torch.zeros(2)}, path, metadata=metadata)
    return sd_models.CheckpointInfo(path)


@pytest.mark.parametrize(("text", "resolution"), [
    ("512x512", (512, 512)), ("32x32", (32, 32)), ("1024 x 576", (1024, 576)), ("768X512", (768, 512)),
    ("512", None), ("large", None), ("", None), (None, None), ("x512", None),
])
def test_parse_resolution(text, resolution):
    assert sd_models_metadata.parse_resolution(text) == resolution


def test_demo_checkpoint_defaults_to_its_native_size_and_example_prompt():
    defaults = ui_defaults(sd_models.CheckpointInfo(DEFAULT_CHECKPOINT))
    assert (defaults.width, defaults.height) == (32, 32)
    assert defaults.prompt_placeholder == f"{DEMO_EXAMPLE_PROMPT}\n{KEYS_HINT}"
    assert defaults.example_prompt == DEMO_EXAMPLE_PROMPT


def test_modelspec_resolution_and_usage_hint_are_honoured(tmp_path):
    info = write_checkpoint(tmp_path, "spec", {"modelspec.resolution": "768x512",
                                               "modelspec.usage_hint": " a photo of a cat "})
    assert ui_defaults(info) == ModelUiDefaults(768, 512, f"a photo of a cat\n{KEYS_HINT}", "a photo of a cat")


def test_checkpoint_stating_nothing_keeps_a1111s_defaults(tmp_path):
    plain = ui_defaults(write_checkpoint(tmp_path, "plain", {}))
    assert (plain.width, plain.height, plain.prompt_placeholder, plain.example_prompt) == (
        512, 512, PROMPT_PLACEHOLDER, "")
    assert ui_defaults(None) == plain


@pytest.mark.parametrize("resolution", ["16x16", "4096x4096", "100x100", "512 by 512"])
def test_resolution_the_sliders_cannot_hold_is_not_used(tmp_path, resolution):
    info = write_checkpoint(tmp_path, "odd", {"modelspec.resolution": resolution})
    assert (ui_defaults(info).width, ui_defaults(info).height) == (512, 512)


def test_serena_keys_come_before_modelspec_and_the_file_before_its_config_folder(tmp_path):
    both = {"serena.native_resolution": "32x32", "modelspec.resolution": "512x512",
            "modelspec.usage_hint": "a modelspec hint"}
    os.makedirs(tmp_path / "described.config")
    (tmp_path / "described.config" / "metadata.json").write_text(json.dumps({
        "serena.example_prompt": "the folder's prompt", "serena.native_resolution": "64x64"}))
    info = write_checkpoint(tmp_path, "described", both)
    assert info.native_resolution == (32, 32)
    assert info.example_prompt == "the folder's prompt"

    own_prompt = write_checkpoint(tmp_path, "described", {**both, "serena.example_prompt": "the file's prompt"})
    assert own_prompt.example_prompt == "the file's prompt"


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """The demo checkpoint and one stating nothing, as the only known checkpoints."""
    monkeypatch.setattr(sd_models, "checkpoints_list", {})
    monkeypatch.setattr(sd_models, "checkpoint_aliases", {})
    demo = sd_models.CheckpointInfo(DEFAULT_CHECKPOINT)
    plain = write_checkpoint(tmp_path, "plain", {})
    demo.register()
    plain.register()
    return demo, plain


def test_switching_checkpoints_moves_only_sliders_still_at_the_old_default(registered):
    demo, plain = registered
    shown = ui_defaults(plain)
    new, updates = follow_checkpoint(demo.title, shown, [512, 512, 640, 512])
    assert new == ui_defaults(demo)
    assert updates == [32, 32, gr.skip(), 32]

    back, updates = follow_checkpoint(plain.title, new, [32, 32, 640, 48])
    assert back == shown
    assert updates == [512, 512, gr.skip(), gr.skip()]


def test_the_prompt_takes_the_new_example_only_while_empty_or_still_the_old_example(registered):
    from modules.ui_model_defaults import prompt_update

    demo, plain = (ui_defaults(info) for info in registered)
    assert prompt_update("", plain, demo) == gr.update(placeholder=demo.prompt_placeholder, value=DEMO_EXAMPLE_PROMPT)
    assert prompt_update(DEMO_EXAMPLE_PROMPT, demo, plain) == gr.update(placeholder=plain.prompt_placeholder, value="")
    assert prompt_update("my own words", demo, plain) == gr.update(placeholder=plain.prompt_placeholder)


def components_by_elem_id(blocks: gr.Blocks) -> dict:
    return {block.elem_id: block for block in blocks.blocks.values() if getattr(block, "elem_id", None)}


@pytest.mark.parametrize("selected", ["demo", "plain"])
def test_built_ui_starts_with_the_selected_checkpoints_defaults(registered, monkeypatch, selected):
    from modules import shared, ui

    monkeypatch.setattr(shared, "demo", shared.demo)
    monkeypatch.setattr(shared, "tab_names", shared.tab_names)
    info = dict(zip(("demo", "plain"), registered))[selected]
    monkeypatch.setattr(sd_models, "select_checkpoint", lambda: info)
    expected = ui_defaults(info)
    components = components_by_elem_id(ui.create_ui(job_service().queue))
    for tab in ("txt2img", "img2img"):
        assert components[f"{tab}_width"].value == expected.width
        assert components[f"{tab}_height"].value == expected.height
        assert components[f"{tab}_width"].minimum == 32
        assert components[f"{tab}_prompt"].placeholder == expected.prompt_placeholder
        assert components[f"{tab}_prompt"].value == expected.example_prompt
