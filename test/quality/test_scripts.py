"""The script system in-process: loading, argument layout, hooks in A1111's order, errors, callbacks, extensions."""

import json
import os
import shutil
import subprocess

import gradio as gr
import numpy as np
import pytest

from modules import extensions, paths_internal, processing, script_callbacks, scripts, shared
from test.api_client import job_service
from test.extension_fixtures import FIXTURES, TEST_EXTENSION
from test.generation_job import runner_with

SMALL = {"prompt": "a red circle", "seed": 7, "sampler_name": "Euler", "width": 64, "height": 64, "steps": 2,
         "do_not_save_samples": True, "do_not_save_grid": True}


@pytest.fixture
def installed_test_extension():
    """The fixture extension copied into the data dir's extensions/, with every script loaded."""
    target = os.path.join(paths_internal.extensions_dir, TEST_EXTENSION)
    shutil.copytree(os.path.join(FIXTURES, TEST_EXTENSION), target)
    extensions.list_extensions()
    scripts.initialize_scripts()
    yield target
    shutil.rmtree(target)
    extensions.list_extensions()
    scripts.initialize_scripts()


class RecordingScript(scripts.Script):
    """Always-on: records the hooks in the order they run, with the arguments it got."""

    calls: list

    def title(self):
        return "Recorder"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def setup(self, p, *args):
        self.calls.append(("setup", args))

    def before_process(self, p, *args):
        self.calls.append(("before_process", args))

    def process(self, p, *args):
        self.calls.append(("process", args))

    def before_process_batch(self, p, *args, **kwargs):
        self.calls.append(("before_process_batch", args, kwargs["batch_number"]))

    def process_batch(self, p, *args, **kwargs):
        self.calls.append(("process_batch", args, kwargs["batch_number"]))

    def post_sample(self, p, ps, *args):
        self.calls.append(("post_sample", args, tuple(ps.samples.shape)))

    def postprocess_batch(self, p, *args, **kwargs):
        self.calls.append(("postprocess_batch", args, len(kwargs["images"])))

    def postprocess_batch_list(self, p, pp, *args, **kwargs):
        self.calls.append(("postprocess_batch_list", args, len(pp.images)))

    def postprocess_image(self, p, pp, *args):
        self.calls.append(("postprocess_image", args, pp.image.size))

    def postprocess(self, p, processed, *args):
        self.calls.append(("postprocess", args, len(processed.images)))


class FailingScript(scripts.Script):
    def title(self):
        return "Failing"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p, *args):
        raise RuntimeError("broken extension")


class InvertingScript(scripts.Script):
    """Always-on: inverts each image in postprocess_image (replacing pp.image must reach the result)."""

    def title(self):
        return "Inverter"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def postprocess_image(self, p, pp, *args):
        from PIL import ImageOps

        pp.image = ImageOps.invert(pp.image)


class SelectableFailing(scripts.Script):
    def title(self):
        return "Selectable Failing"

    def run(self, p, *args):
        raise RuntimeError("cannot run")


def test_alwayson_hooks_run_in_a1111_order(sd_model):
    runner = runner_with(RecordingScript)
    recorder = runner.alwayson_scripts[0]
    recorder.calls = []
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL, n_iter=2)
    p.scripts = runner
    p.script_args = (0,)
    processing.process_images(p)
    order = [call[0] for call in recorder.calls]
    per_batch = ["before_process_batch", "process_batch", "post_sample", "postprocess_batch",
                 "postprocess_batch_list", "postprocess_image"]
    assert order == ["setup", "before_process", "process", *per_batch, *per_batch, "postprocess"]
    assert [c[2] for c in recorder.calls if c[0] == "before_process_batch"] == [0, 1]
    latent_side = 64 // sd_model.vae_scale_factor
    assert ("post_sample", (), (1, sd_model.latent_channels, latent_side, latent_side)) in recorder.calls
    assert recorder.calls[-1] == ("postprocess", (), 2)


def test_postprocess_image_replacement_reaches_the_result(sd_model):
    plain = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL))
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL)
    p.scripts = runner_with(InvertingScript)
    p.script_args = (0,)
    inverted = processing.process_images(p)
    assert np.array_equal(255 - np.asarray(plain.images[0]), np.asarray(inverted.images[0]))


def test_a_failing_alwayson_hook_is_reported_with_its_file_and_the_generation_goes_on(sd_model, capsys):
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL)
    p.scripts = runner_with(FailingScript)
    p.script_args = (0,)
    result = processing.process_images(p)
    assert len(result.images) == 1
    assert "Error running process: /fake/FailingScript.py" in capsys.readouterr().out


def test_a_failing_selectable_script_fails_with_its_title_and_file(sd_model):
    runner = runner_with(SelectableFailing)
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL)
    p.scripts = runner
    p.script_args = (1,)
    with pytest.raises(scripts.ScriptError, match=r"'Selectable Failing' \(/fake/SelectableFailing.py\)"):
        processing.process_images_with_scripts(p)


def test_index_zero_runs_no_selectable_script(sd_model):
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL)
    p.scripts = runner_with(SelectableFailing)
    p.script_args = (0,)
    assert len(processing.process_images_with_scripts(p).images) == 1


def test_loading_lays_out_arguments_as_a1111(installed_test_extension):
    runner = scripts.scripts_txt2img
    runner.ensure_args_layout()
    titles = [s.title() for s in runner.scripts]
    assert "Test Extension" in titles and "Test Repeat" in titles
    extension_script = runner.find_script("TEST EXTENSION")
    assert extension_script.alwayson and extension_script.filename.startswith(installed_test_extension)
    repeat = runner.find_script("test repeat")
    assert runner.selectable_index("Test Repeat") == runner.selectable_scripts.index(repeat) + 1
    assert runner.default_args[0] == 0
    assert runner.default_args[extension_script.args_from:extension_script.args_to] == [False, "hello"]
    assert runner.default_args[repeat.args_from:repeat.args_to] == [2]
    assert extension_script.args_to <= repeat.args_from  # always-on scripts come first


def test_ui_runner_runs_the_extension_with_its_ui_arguments(installed_test_extension, sd_model, monkeypatch):
    from modules import txt2img

    runner = scripts.scripts_txt2img
    with gr.Blocks():
        inputs = runner.setup_ui()
    assert len(inputs) == len(runner.default_args)
    args = list(runner.default_args)
    extension_script = runner.find_script("Test Extension")
    args[extension_script.args_from:extension_script.args_to] = [True, "ui"]
    monkeypatch.setitem(shared.opts.data, "CLIP_stop_at_last_layers", 2)
    log_path = os.path.join(paths_internal.data_path, "test-extension-saved.jsonl")
    if os.path.exists(log_path):
        os.remove(log_path)
    images, info_js, _, _ = txt2img.txt2img("task(test)", script_args=args, prompt="a blue square", steps=2,
                                            width=64, height=64, seed=3, sampler_name="Euler")
    info = json.loads(info_js)
    assert info["extra_generation_params"]["Test extension"] == "ui clip 2"
    assert "Test extension: ui clip 2" in images[0].info["parameters"]
    with open(log_path, encoding="utf8") as file:
        saved = [json.loads(line) for line in file]
    assert saved and all("Test extension: ui clip 2" in record["infotext"] for record in saved)
    assert all(os.path.isfile(record["filename"]) for record in saved)


def test_a_script_file_that_fails_to_import_is_reported_and_the_others_load(installed_test_extension, capsys):
    broken = os.path.join(installed_test_extension, "scripts", "broken.py")
    with open(broken, "w", encoding="utf8") as file:
        file.write("raise ImportError('missing dependency')\n")
    scripts.initialize_scripts()
    assert f"Error loading script: {broken}" in capsys.readouterr().out
    assert scripts.scripts_txt2img.find_script("Test Extension") is not None


def test_a_script_that_needs_the_ldm_model_internals_gets_one_line_naming_what_is_missing(installed_test_extension,
                                                                                         capsys, caplog):
    patcher = os.path.join(installed_test_extension, "scripts", "patches_ldm.py")
    with open(patcher, "w", encoding="utf8") as file:
        file.write("import ldm.modules.attention\n")
    scripts.initialize_scripts()
    printed = [line for line in capsys.readouterr().out.splitlines() if "patches_ldm.py" in line]
    assert printed == [f"Error loading script: {patcher}: it imports ldm (A1111's LDM model code), "
                       "which this webui does not have: it runs diffusers, so extensions that patch the model "
                       f"internals cannot work here (extension {TEST_EXTENSION})"]
    assert "Traceback" not in caplog.text
    assert scripts.scripts_txt2img.find_script("Test Extension") is not None


def test_disabled_extensions_are_listed_but_not_loaded(installed_test_extension, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "disabled_extensions", [TEST_EXTENSION])
    extensions.list_extensions()
    scripts.initialize_scripts()
    assert extensions.find(TEST_EXTENSION).enabled is False
    assert scripts.scripts_txt2img.find_script("Test Extension") is None


@pytest.mark.parametrize(("mode", "flag", "extra_enabled", "builtin_enabled"), [
    ("extra", None, False, True),
    ("all", None, False, False),
    ("none", "disable_extra_extensions", False, True),
    ("none", "disable_all_extensions", False, False),
    ("none", None, True, True),
])
def test_disable_modes(installed_test_extension, monkeypatch, mode, flag, extra_enabled, builtin_enabled):
    builtin = os.path.join(paths_internal.extensions_builtin_dir, "serena-test-builtin")
    os.makedirs(builtin)
    try:
        monkeypatch.setitem(shared.opts.data, "disable_all_extensions", mode)
        if flag:
            monkeypatch.setattr(shared.cmd_opts, flag, True)
        extensions.list_extensions()
        assert extensions.find(TEST_EXTENSION).enabled is extra_enabled
        assert extensions.find("serena-test-builtin").enabled is builtin_enabled
    finally:
        os.rmdir(builtin)


def test_install_py_runs_at_start_up_with_the_webui_importable(installed_test_extension):
    marker = os.path.join(paths_internal.data_path, "test-extension-installed.txt")
    if os.path.exists(marker):
        os.remove(marker)
    extensions.run_extension_installers()
    with open(marker, encoding="utf8") as file:
        assert file.read() == "installed\n"


def _local_git_repo(tmp_path) -> str:
    repo = tmp_path / "sd-webui-example"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "example.py").write_text("VALUE = 1\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
    return str(repo)


def test_install_from_url_is_refused_on_a_listening_server(monkeypatch, tmp_path):
    monkeypatch.setattr(shared.cmd_opts, "listen", True)
    with pytest.raises(extensions.InstallRefused, match="--enable-insecure-extension-access"):
        extensions.install_from_url(_local_git_repo(tmp_path))
    assert not os.path.exists(os.path.join(paths_internal.extensions_dir, "sd-webui-example"))


def test_install_from_url_clones_when_allowed(monkeypatch, tmp_path):
    monkeypatch.setattr(shared.cmd_opts, "listen", True)
    monkeypatch.setattr(shared.cmd_opts, "enable_insecure_extension_access", True)
    target = extensions.install_from_url(_local_git_repo(tmp_path))
    try:
        assert os.path.isfile(os.path.join(target, "scripts", "example.py"))
        assert extensions.find("sd-webui-example").git_info().commit_hash
    finally:
        shutil.rmtree(target)
        extensions.list_extensions()


def test_callbacks_run_in_order_and_a_failing_one_does_not_stop_the_rest(clean_callbacks, capsys):
    seen = []

    def failing(params):
        raise ValueError("bad callback")

    script_callbacks.on_image_saved(failing)
    script_callbacks.on_image_saved(lambda params: seen.append(params.filename))
    script_callbacks.image_saved_callback(script_callbacks.ImageSaveParams(None, None, "x.png", {}))
    assert seen == ["x.png"]
    assert "Error executing callback callbacks_image_saved" in capsys.readouterr().out


def test_callbacks_of_a_script_file_are_removed_on_reload(clean_callbacks):
    def callback(sd_model):
        return None

    script_callbacks.current_script_file = "/ext/scripts/a.py"
    try:
        script_callbacks.on_model_loaded(callback)
    finally:
        script_callbacks.current_script_file = None
    assert any(c.callback is callback for c in script_callbacks.callback_map["callbacks_model_loaded"])
    script_callbacks.remove_callbacks_for_script("/ext/scripts/a.py")
    assert not any(c.callback is callback for c in script_callbacks.callback_map["callbacks_model_loaded"])


def test_reload_tells_scripts_they_are_unloaded_and_drops_their_callbacks(installed_test_extension, clean_callbacks):
    unloaded = []
    script_callbacks.on_script_unloaded(lambda: unloaded.append(True))
    saved_callbacks = script_callbacks.callback_map["callbacks_image_saved"]
    assert len(saved_callbacks) == 1  # the test extension's, loaded once
    scripts.reload_scripts()
    assert unloaded == [True]
    assert len(script_callbacks.callback_map["callbacks_image_saved"]) == 1


def test_cfg_denoiser_callbacks_see_every_step_and_can_change_the_result(sd_model, clean_callbacks):
    steps_seen = []
    script_callbacks.on_cfg_denoiser(lambda params: steps_seen.append(params.sampling_step))
    plain = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL, n_iter=1))
    assert steps_seen == [0, 1]

    def zero_guidance(params):
        params.x = params.x * 0

    script_callbacks.on_cfg_denoised(zero_guidance)
    changed = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL))
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(changed.images[0]))


def test_model_loaded_callback_gets_the_model(tiny_arch_checkpoints, engine_ready, clean_callbacks, sd_model):
    from modules import sd_models

    loaded = []
    script_callbacks.on_model_loaded(lambda model: loaded.append(model.sd_checkpoint_info.filename))
    info = sd_models.CheckpointInfo(tiny_arch_checkpoints["sd15"])
    try:
        sd_models.reload_model_weights(info=info)
    finally:
        sd_models.list_models()  # loading registered the file under the default checkpoint's name
    assert loaded == [tiny_arch_checkpoints["sd15"]]


def test_component_callbacks_see_the_ui_being_built(clean_callbacks, engine_ready):
    from modules import ui

    created = []
    script_callbacks.on_after_component(lambda component, **kwargs: created.append(kwargs.get("elem_id")))
    ui.create_ui(job_service().queue)
    assert "txt2img_prompt" in created and "img2img_prompt" in created


def test_script_modules_are_named_by_file_name_as_a1111_names_them(installed_test_extension):
    modules_by_file = {os.path.basename(data.path): data.module for data in scripts.scripts_data}
    assert modules_by_file["xyz_grid.py"].__name__ == "xyz_grid.py"
    assert modules_by_file["test_extension.py"].__name__ == "test_extension.py"


def test_infotext_pasted_callbacks_can_edit_what_is_pasted(clean_callbacks):
    from modules import ui_paste

    seen = []

    def rename_sampler(infotext, params):
        seen.append(infotext)
        params["Sampler"] = "DDIM"

    script_callbacks.on_infotext_pasted(rename_sampler)
    text = "a cat\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"
    assert ui_paste.parse_infotext(text)["Sampler"] == "DDIM"
    assert seen == [text]


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/serena-pwned", "ext::sh -c touch% /tmp/serena-pwned"])
def test_install_from_url_runs_no_command_hidden_in_the_url(url):
    with pytest.raises(RuntimeError, match="git clone failed"):
        extensions.install_from_url(url, dirname="evil")
    assert not os.path.exists("/tmp/serena-pwned")
    assert not os.path.exists(os.path.join(paths_internal.extensions_dir, "evil"))


def _runner_from_classes(tmp_path, source: str) -> scripts.ScriptRunner:
    """A runner for the Script classes defined in source, loaded as the script loader loads a file."""
    path = tmp_path / "inline_script.py"
    path.write_text(source)
    from modules import script_loading

    module = script_loading.load_module(str(path))
    saved = list(scripts.scripts_data)
    try:
        scripts.scripts_data[:] = []
        scripts.register_scripts_from_module(module, str(path))
        runner = scripts.ScriptRunner()
        runner.initialize_scripts(is_img2img=False)
    finally:
        scripts.scripts_data[:] = saved
    return runner


def test_a_script_whose_constructor_fails_is_reported_and_the_others_load(tmp_path, capsys):
    runner = _runner_from_classes(tmp_path, """
from modules import scripts

class Broken(scripts.Script):
    def __init__(self):
        raise RuntimeError("cannot start")
    def title(self):
        return "Broken"

class Fine(scripts.Script):
    def title(self):
        return "Fine"
""")
    assert [s.title() for s in runner.scripts] == ["Fine"]
    assert "inline_script.py/__init__" in capsys.readouterr().out


def test_ui_may_return_one_component_and_a_failing_ui_leaves_no_arguments(tmp_path):
    runner = _runner_from_classes(tmp_path, """
import gradio as gr
from modules import scripts

class One(scripts.Script):
    def title(self):
        return "One"
    def ui(self, is_img2img):
        return gr.Checkbox(label="alone", value=True)

class Failing(scripts.Script):
    def title(self):
        return "Failing UI"
    def ui(self, is_img2img):
        raise ValueError("no ui")
""")
    runner.ensure_args_layout()
    one, failing = runner.find_script("one"), runner.find_script("failing ui")
    assert runner.default_args[one.args_from:one.args_to] == [True]
    assert failing.args_from == failing.args_to


def test_component_callbacks_by_elem_id_and_tabname(tmp_path):
    runner = _runner_from_classes(tmp_path, """
import gradio as gr
from modules import scripts

class Watcher(scripts.Script):
    def __init__(self):
        self.seen = []
        self.on_after_component(lambda c: self.seen.append(("after", c.component.elem_id)), elem_id="watched")
        self.on_before_component(lambda c: self.seen.append(("before", c.component)), elem_id="watched")
    def title(self):
        return "Watcher"
""")
    import gradio as gr

    from modules import gradio_extensions

    gradio_extensions.install()
    scripts.scripts_current = runner
    try:
        with gr.Blocks():
            gr.Textbox(elem_id="other")
            gr.Textbox(elem_id="watched")
    finally:
        scripts.scripts_current = None
    watcher = runner.find_script("watcher")
    assert [kind for kind, _ in watcher.seen] == ["before", "after"]
    assert watcher.seen[1][1] == "watched"
    assert watcher.tabname == "txt2img"


def test_basedir_names_the_extension_folder_while_its_scripts_import(installed_test_extension):
    probe = os.path.join(installed_test_extension, "scripts", "where.py")
    with open(probe, "w", encoding="utf8") as file:
        file.write("from modules import scripts\nBASE = scripts.basedir()\n\n\nclass Where(scripts.Script):\n"
                   "    def title(self):\n        return 'Where'\n")
    scripts.initialize_scripts()
    module = next(d.module for d in scripts.scripts_data if d.path == probe)
    assert module.BASE == installed_test_extension
    assert scripts.basedir() == scripts.script_path  # outside a load: the webui folder
    assert scripts.list_files_with_name("install.py") == [os.path.join(installed_test_extension, "install.py")]


def test_named_callbacks_replace_their_earlier_registration(clean_callbacks):
    calls = []
    script_callbacks.on_before_reload(lambda: calls.append("old"), name="reset")
    script_callbacks.on_before_reload(lambda: calls.append("new"), name="reset")
    script_callbacks.before_reload_callback()
    assert calls == ["new"]


def test_cfg_after_cfg_callback_changes_the_result(sd_model, clean_callbacks):
    plain = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL))
    steps = []

    def halve(params):
        steps.append(params.sampling_step)
        params.x = params.x * 0.5

    script_callbacks.on_cfg_after_cfg(halve)
    changed = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL))
    assert steps == [0, 1]
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(changed.images[0]))


def test_cfg_denoised_sees_the_cond_and_uncond_outputs_stacked(sd_model, clean_callbacks):
    shapes = []
    script_callbacks.on_cfg_denoised(lambda params: shapes.append(tuple(params.x.shape)))
    processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL, batch_size=2))
    side = 64 // sd_model.vae_scale_factor
    assert shapes[0] == (4, sd_model.latent_channels, side, side)


class HiresWatcher(scripts.Script):
    calls: list

    def title(self):
        return "Hires watcher"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p, *args):
        p.all_hr_prompts = ["a blue square"] * len(p.all_prompts)

    def before_hr(self, p, *args):
        self.calls.append(("before_hr", list(p.hr_prompts)))


def test_before_hr_runs_before_the_second_pass_and_all_hr_prompts_are_honoured(sd_model):
    runner = runner_with(HiresWatcher)
    runner.alwayson_scripts[0].calls = []
    p = processing.StableDiffusionProcessingTxt2Img(**SMALL, enable_hr=True, hr_scale=1.5, hr_second_pass_steps=1,
                                                    denoising_strength=0.5, hr_upscaler="Latent")
    p.scripts = runner
    p.script_args = (0,)
    processing.process_images(p)
    assert runner.alwayson_scripts[0].calls == [("before_hr", ["a blue square"])]


class MaskOverlayWatcher(scripts.Script):
    calls: list

    def title(self):
        return "Mask overlay watcher"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def postprocess_maskoverlay(self, p, ppmo, *args):
        self.calls.append((ppmo.index, ppmo.mask_for_overlay is not None, ppmo.overlay_image is not None))
        ppmo.overlay_image = None


def test_postprocess_maskoverlay_can_drop_the_inpainting_overlay(sd_model):
    from PIL import Image, ImageDraw

    init = Image.new("RGB", (64, 64), "white")
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 48, 48), fill=255)

    def inpaint(runner):
        p = processing.StableDiffusionProcessingImg2Img(**SMALL, init_images=[init], mask=mask,
                                                        inpaint_full_res=False, denoising_strength=0.9)
        p.scripts = runner
        p.script_args = (0,)
        return processing.process_images(p)

    runner = runner_with(MaskOverlayWatcher)
    runner.alwayson_scripts[0].calls = []
    without_overlay = inpaint(runner)
    assert runner.alwayson_scripts[0].calls == [(0, True, True)]
    with_overlay = inpaint(runner_with())
    corner = (2, 2)  # outside the mask: the overlay puts the original white back there
    assert with_overlay.images[0].getpixel(corner) == (255, 255, 255)
    assert without_overlay.images[0].getpixel(corner) != (255, 255, 255)


def test_malformed_ui_tabs_entries_are_left_out(caplog):
    from modules import ui

    with gr.Blocks() as good:
        gr.Markdown("tab")
    entries = ui.extension_tab_entries([(good, "Good", "good_tab"), ("not blocks", "Bad", "bad"), None])
    assert entries == [(good, "Good", "good_tab")]
    assert "Ignoring an on_ui_tabs entry" in caplog.text


def test_enabling_extensions_is_refused_on_a_listening_server(monkeypatch):
    monkeypatch.setattr(shared.cmd_opts, "listen", True)
    with pytest.raises(extensions.InstallRefused):
        extensions.set_enabled({TEST_EXTENSION: False})
    assert TEST_EXTENSION not in (shared.opts.disabled_extensions or [])


def test_the_scripts_route_lists_every_script_always_on_ones_without_a_ui_included(tmp_path, monkeypatch):
    from test.api_client import in_process_api

    runner = _runner_from_classes(tmp_path, """
from modules import scripts

class QuietAlwaysOn(scripts.Script):
    def title(self):
        return "Quiet Always On"
    def show(self, is_img2img):
        return scripts.AlwaysVisible

class Selectable(scripts.Script):
    def title(self):
        return "Selectable One"
    def ui(self, is_img2img):
        return []
""")
    monkeypatch.setattr(scripts, "scripts_txt2img", runner)
    listing = in_process_api().get("/sdapi/v1/scripts").json()
    assert "quiet always on" in listing["txt2img"] and "selectable one" in listing["txt2img"]
