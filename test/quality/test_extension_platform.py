"""A1111's extension surfaces outside the UI: preload.py adds flags before the command line is read, install.py finds
launch's helpers, script modules are importable by their name, and the module names extensions import exist."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from modules import script_loading
from test.api_client import job_service

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRINT_FLAGS = ("from modules import shared_cmd_options as s; "
               "print('flags:', getattr(s.cmd_opts, 'ext_greeting', None), getattr(s.cmd_opts, 'ext_other', None))")


def write_extension(data_dir, name: str, files: dict[str, str]) -> str:
    folder = os.path.join(data_dir, "extensions", name)
    for relative, text in files.items():
        path = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf8") as file:
            file.write(textwrap.dedent(text))
    return folder


def run_webui_python(data_dir, code: str, *argv: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter started as the server starts: its own data dir, argv parsed strictly."""
    env = {**os.environ, "SERENA_DATA_DIR": str(data_dir), "PYTHONPATH": REPO_ROOT}
    env.pop("IGNORE_CMD_ARGS_ERRORS", None)
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def preload_extensions(tmp_path):
    write_extension(tmp_path, "greeter", {"preload.py": """
        def preload(parser):
            parser.add_argument("--ext-greeting", type=str, default="none")
    """})
    write_extension(tmp_path, "broken", {"preload.py": """
        def preload(parser):
            raise RuntimeError("this preload is broken")
    """})
    write_extension(tmp_path, "other", {"preload.py": """
        def preload(parser):
            parser.add_argument("--ext-other", action="store_true")
    """})
    return tmp_path


def test_preload_flags_are_known_when_the_command_line_is_read(preload_extensions):
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-greeting", "hello", "--ext-other")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "flags: hello True" in finished.stdout
    assert "Error running preload() for" in finished.stdout and "broken" in finished.stdout, "reported, then skipped"


def test_a_disabled_extension_is_not_preloaded(preload_extensions):
    (preload_extensions / "config.json").write_text(json.dumps({"disabled_extensions": ["other"]}))
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-greeting", "hi")
    assert "flags: hi None" in finished.stdout, finished.stderr[-2000:]
    refused = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-other")
    assert refused.returncode != 0 and "unrecognized arguments: --ext-other" in refused.stderr


def test_with_all_extensions_disabled_none_is_preloaded(preload_extensions):
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--disable-all-extensions")
    assert "flags: None None" in finished.stdout and "broken" not in finished.stdout, finished.stderr[-2000:]


def test_a_script_module_is_importable_by_its_name_and_a_failing_one_is_not(tmp_path):
    good = tmp_path / "ext_button_script.py"
    good.write_text("class FancyButton:\n    pass\n")
    module = script_loading.load_module(str(good))
    try:
        assert sys.modules[module.FancyButton.__module__] is module
    finally:
        del sys.modules["ext_button_script.py"]
    bad = tmp_path / "ext_broken_script.py"
    bad.write_text("raise ValueError('broken at import')\n")
    with pytest.raises(ValueError):
        script_loading.load_module(str(bad))
    assert "ext_broken_script.py" not in sys.modules


INSTALL_PY = """
    import json, os, sys
    import launch
    report = {
        "numpy": launch.is_installed("numpy"),
        "missing": launch.is_installed("no-such-package-serena"),
        "python": launch.python == sys.executable,
        "repo_dir": launch.repo_dir("some-repo"),
        "commit": launch.commit_hash(),
        "tag": launch.git_tag(),
        "run": launch.run(f'"{launch.python}" -c "print(6 * 7)"', "running", "run failed").strip(),
        "pip": "already satisfied" in launch.run_pip("install --no-index --no-deps numpy", "numpy").lower(),
        "index_url": launch.index_url,
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.json"), "w") as file:
        json.dump(report, file)
"""


def test_install_py_finds_launchs_helpers(data_dir):
    from modules import extensions

    folder = write_extension(data_dir, "installer-ext", {"install.py": INSTALL_PY})
    try:
        extensions.run_extension_installers()
        with open(os.path.join(folder, "report.json"), encoding="utf8") as file:
            report = json.load(file)
    finally:
        shutil.rmtree(folder)
        extensions.list_extensions()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert report == {"numpy": True, "missing": False, "python": True,
                      "repo_dir": os.path.join(REPO_ROOT, "repositories", "some-repo"), "commit": commit,
                      "tag": report["tag"], "run": "42", "pip": True, "index_url": ""}
    assert report["tag"]


def test_a_failing_run_names_the_command_and_its_output():
    from modules import launch_utils

    with pytest.raises(RuntimeError, match=r"(?s)no luck.*Command: exit 3.*Exit code: 3"):
        launch_utils.run("exit 3", errdesc="no luck")


def test_create_binary_mask_reads_alpha_as_a1111():
    from PIL import Image

    from modules import processing

    rgba = Image.new("RGBA", (4, 1), (10, 20, 30, 255))
    for x, alpha in enumerate((0, 100, 129, 255)):
        rgba.putpixel((x, 0), (10, 20, 30, alpha))
    assert list(processing.create_binary_mask(rgba).getdata()) == [0, 0, 255, 255]
    assert list(processing.create_binary_mask(rgba, round=False).getdata()) == [0, 100, 129, 255]
    opaque = Image.new("RGB", (2, 1), (255, 255, 255))
    assert processing.create_binary_mask(opaque).mode == "L" and list(processing.create_binary_mask(opaque).getdata()) \
        == [255, 255]


def test_shared_lists_checkpoints_samplers_and_infotext_names(sd_model, tmp_path, monkeypatch):
    from modules import sd_models, shared, shared_items
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    assert shared.list_checkpoint_tiles() == sd_models.checkpoint_tiles()
    assert shared.list_checkpoint_tiles(True) == [info.short_title for info in sd_models.checkpoints_list.values()]
    make_tiny_checkpoint("sd15", str(tmp_path / "new-one.safetensors"), seed=9)
    monkeypatch.setattr(shared.cmd_opts, "ckpt_dir", str(tmp_path))
    shared.refresh_checkpoints()
    assert any(title.startswith("new-one.safetensors") for title in shared.list_checkpoint_tiles())
    monkeypatch.undo()
    shared.refresh_checkpoints()
    assert "Euler a" in [sampler.name for sampler in shared.list_samplers()]
    assert "Clip skip" in shared_items.get_infotext_names()
    assert shared.batch_cond_uncond is True


def test_wrap_gradio_call_reports_a_failure_in_the_outputs(capsys):
    from modules import call_queue

    def fails(prompt):
        raise ValueError(f"no <{prompt}>")

    assert call_queue.wrap_gradio_call(fails)("cat") == (None, "", "<div class='error'>ValueError: no &lt;cat&gt;</div>")
    assert "Error completing request (fails)" in capsys.readouterr().out
    timed = call_queue.wrap_gradio_call(lambda: ["image", "<p>info</p>"], add_stats=True)()
    assert timed[0] == "image" and timed[1].startswith("<p>info</p><div class='performance'><p class='time'>Time taken:")


def test_override_settings_from_infotext_pairs():
    from modules import generation_parameters_copypaste, infotext_utils

    assert generation_parameters_copypaste.create_override_settings_dict is infotext_utils.create_override_settings_dict
    assert infotext_utils.create_override_settings_dict(["Clip skip: 2", "ENSD: 31337", "Not an option: x"]) == \
        {"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337}


def test_old_model_hash_and_model_data(sd_model, tmp_path):
    import hashlib

    from modules import sd_models, shared

    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 8192
    path.write_bytes(data)
    assert sd_models.model_hash(str(path)) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    assert sd_models.model_hash(str(tmp_path / "missing")) == "NOFILE"
    assert sd_models.model_data.sd_model is shared.sd_model is sd_models.model_data.get_sd_model()
    assert sd_models.model_data.loaded_sd_models == [shared.sd_model]


def test_an_upscalers_scaler_upscales_as_a1111():
    from PIL import Image

    from modules import upscaler

    lanczos, none = upscaler.find_upscaler("Lanczos"), upscaler.find_upscaler("None")
    image = Image.new("RGB", (30, 20), "red")
    assert lanczos.scaler.upscale(image, 2.0, lanczos.data_path).size == (56, 40), "rounded down to a multiple of 8"
    assert none.scaler.upscale(image, 1.0, none.data_path).size == (24, 16)
    assert lanczos.data_path is None and lanczos.scaler.name == "Lanczos"


def test_sd_hijack_counts_prompt_tokens_and_patches_nothing(sd_model):
    from modules import sd_hijack

    hijack = sd_hijack.model_hijack
    assert hijack.get_prompt_lengths("a red circle") == (3, 75)
    assert hijack.get_prompt_lengths("word " * 80) == (80, 150)
    before = {key: value.clone() for key, value in sd_model.unet.state_dict().items()}
    hijack.hijack(sd_model)
    hijack.undo_hijack(sd_model)
    assert all(value.equal(before[key]) for key, value in sd_model.unet.state_dict().items())


def test_token_counter_counts_the_longest_scheduled_text_without_network_tags(sd_model, monkeypatch):
    from modules import script_callbacks, ui_token_counter

    count = ui_token_counter.update_token_counter
    assert count("a red circle", 20, []) == "<span class='gr-box gr-text-input'>3/75</span>"
    assert count("a red circle <lora:tiny:1>", 20, []) == count("a red circle", 20, [])
    assert count("[a cat:a red circle on a black table:0.5]", 20, []).endswith(">7/75</span>")
    assert count("word " * 80, 20, [], is_positive=False).endswith(">80/150</span>")
    seen = []
    monkeypatch.setitem(script_callbacks.callback_map, "callbacks_before_token_counter", [])
    script_callbacks.on_before_token_counter(lambda params: seen.append((params.prompt, params.is_positive)))
    count("blue", 20, [], is_positive=False)
    assert seen == [("blue", False)]


def test_the_page_has_a1111s_element_ids(sd_model, monkeypatch):
    from modules import shared, ui

    monkeypatch.setattr(shared, "demo", shared.demo)
    monkeypatch.setattr(shared, "tab_names", shared.tab_names)
    demo = ui.create_ui(job_service().queue)
    ids = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    for tab in ("txt2img", "img2img"):
        for suffix in ("token_counter", "negative_token_counter", "token_button", "negative_token_button",
                       "generation_info_button", "interrupt", "skip"):
            assert f"{tab}_{suffix}" in ids, f"{tab}_{suffix}"
        assert ids[f"{tab}_interrupt"].visible == "hidden", "in the page, out of sight"
        assert ids[f"generation_info_{tab}"].visible == "hidden"
        assert f"save_{tab}" in ids and f"save_zip_{tab}" in ids and f"download_files_{tab}" in ids
    for mode_id in ("img2img_sketch", "inpaint_sketch", "img_inpaint_base", "img_inpaint_mask", "img2img_mask_alpha",
                    "img2img_img2img_sketch_tab", "img2img_inpaint_sketch_tab", "img2img_inpaint_upload_tab"):
        assert mode_id in ids, mode_id  # A1111's img2img modes
        for item in ("enable", "checkpoint", "switch_at"):  # A1111's Refiner accordion
            assert f"script_{tab}_refiner_{item}" in ids, f"script_{tab}_refiner_{item}"
        for name in ("styles_edit_button", "style_apply", "styles_dialog", "styles_edit_select", "style_copy",
                     "edit_style_prompt", "edit_style_neg_prompt", "edit_style_save", "edit_style_delete",
                     "edit_style_close"):  # A1111's style editor
            assert f"{tab}_{name}" in ids, f"{tab}_{name}"


def test_the_save_and_zip_buttons_save_the_gallery_with_a_log_line(sd_model, monkeypatch):
    import csv
    import zipfile

    from modules import paths_internal, processing, shared, ui_common

    result = processing.process_images(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", negative_prompt="blue", seed=5, steps=1, width=64, height=64, batch_size=2,
        do_not_save_samples=True, do_not_save_grid=True))
    assert len(result.images) == 2 and result.index_of_first_image == 0
    folder = os.path.join(paths_internal.data_path, "log", "save-test")
    monkeypatch.setitem(shared.opts.data, "outdir_save", "log/save-test")
    gallery = [(image, None) for image in result.images]

    files, message = ui_common.save_files(result.js(), gallery, False, None)
    saved = files["value"]
    assert len(saved) == 2 and all(os.path.dirname(path) == folder for path in saved)
    assert message.startswith("<p>Saved: ")
    with open(os.path.join(folder, "log.csv"), encoding="utf8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ui_common.LOG_FIELDS
    assert rows[1][:2] == ["a red circle", "5"] and rows[1][8] == "blue" and rows[1][7] == os.path.basename(saved[0])

    files, _ = ui_common.save_files(result.js(), gallery, True, 1)
    archive, image = files["value"]
    assert archive.endswith(".zip") and os.path.dirname(image) == folder, "the selected image only, and its zip"
    with zipfile.ZipFile(archive) as opened:
        assert opened.namelist() == [os.path.basename(image)]

    monkeypatch.setitem(shared.opts.data, "outdir_save", "/tmp/outside-the-data-dir")
    with pytest.raises(ValueError, match="outside the data folder"):
        ui_common.save_files(result.js(), gallery, False, None)
