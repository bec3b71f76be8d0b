"""M08: once process_images_inner has taken p.opts_snapshot, the generation reads its options from it. Options
changed from a step callback in the middle of a generation change no pixel, infotext, saved file or live preview;
and the only option reads left on the generation path are the allow-listed ones (tools/invariants/opts_reads.py).
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from modules import processing, shared
from test.generation_job import Hooks, process_as_a_job
from tools.invariants import opts_reads

# Generation-relevant options by what they decide, each with a value other than the one the undisturbed run uses.
CHANGES = {
    "noise_and_conditioning": {  # the next batch's and the hires pass's
        "eta_noise_seed_delta": 31337,
        "randn_source": "CPU",
        "CLIP_stop_at_last_layers": 2,
        "emphasis": "No norm",
        "comma_padding_backtrack": 0,
        "use_old_scheduling": True,
    },
    "saving": {
        "samples_format": "jpg",
        "samples_filename_pattern": "[seed]-[cfg]",
        "directories_max_prompt_words": 1,
        "save_images_add_number": False,
        "save_to_dirs": False,
        "grid_save_to_dirs": False,
        "directories_filename_pattern": "[clip_skip]",
        "save_txt": True,
        "jpeg_quality": 10,
        "target_side_length": 8,
        "grid_format": "jpg",
        "grid_extended_filename": True,
    },
    "what_is_saved_and_returned": {
        "samples_save": False,
        "grid_save": False,
        "return_grid": False,
        "grid_only_if_multiple": False,
    },
    "grid_layout": {
        "n_rows": 1,
        "grid_background_color": "#ff0000",
    },
    "infotext": {
        "enable_pnginfo": False,
        "add_model_hash_to_info": False,
        "add_model_name_to_info": False,
        "add_version_to_infotext": False,
        "add_vae_name_to_info": False,
    },
    "live_preview": {
        "show_progress_every_n_steps": 1,
        "show_progress_type": "Full",
        "live_previews_image_format": "jpeg",
    },
    "img2img_and_inpainting": {
        "upscaler_for_img2img": "Nearest",
        "img2img_background_color": "#000000",
        "overlay_inpaint": False,
        "return_mask": True,
        "return_mask_composite": True,
        "inpainting_mask_weight": 0.5,
    },
}
ALL_CHANGES = {key: value for group in CHANGES.values() for key, value in group.items()}
UNDISTURBED = {"show_progress_every_n_steps": 2, "show_progress_type": "Approx cheap", "return_mask": False,
               "return_mask_composite": False, "add_version_to_infotext": True,
               "samples_filename_pattern": "[seed]-[clip_skip]-[prompt_words]",
               "directories_filename_pattern": "[prompt_words]"}  # no [date]: both runs save into the same names


class PreviewRecorder:
    """A live-preview decoder that records which step it ran at and the preview method the options gave it."""

    def __init__(self):
        self.calls = []

    def __call__(self, latent, options):
        self.calls.append((shared.state.job_no, shared.state.sampling_step, options.show_progress_type))
        return Image.new("RGBA", (8, 8))


@pytest.fixture
def undisturbed_options(monkeypatch):
    for key, value in UNDISTURBED.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    for key in ALL_CHANGES:
        assert getattr(shared.opts, key) != ALL_CHANGES[key], f"{key} must change"


@pytest.fixture(autouse=True)
def live_preview_state_put_back(monkeypatch):
    for name in ("current_image", "current_latent", "id_live_preview", "current_image_sampling_step",
                 "preview_decoder", "job_options"):
        monkeypatch.setattr(shared.state, name, getattr(shared.state, name))


def generate(p, changes: dict | None, monkeypatch, when: str = "first step"):
    """Runs p as a job with a recording preview decoder, polling the live preview after every step as progress
    requests do; with changes, sets them in shared.opts in the scripts' process hook (right after the snapshot)
    or from the step callback at the first step."""
    recorder = PreviewRecorder()
    monkeypatch.setattr(shared.state, "preview_decoder", recorder)
    real_callback = processing.sampling_progress_callback

    def change_the_options():
        for key, value in (changes or {}).items():
            monkeypatch.setitem(shared.opts.data, key, value)

    def changing_callback(step, total, latent):
        if when == "first step" and shared.state.job_no == 0 and step == 0 and not shared.state.sampling_step:
            change_the_options()
        real_callback(step, total, latent)
        shared.state.set_current_image()

    if when == "process hook":
        p.scripts = Hooks(process=lambda p: change_the_options())
    monkeypatch.setattr(processing, "sampling_progress_callback", changing_callback)
    result = process_as_a_job(p)
    monkeypatch.setattr(processing, "sampling_progress_callback", real_callback)
    return result, recorder.calls, getattr(shared.state.current_image, "mode", None)


def saved_files(folder) -> dict[str, bytes]:
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, folder)] = file.read()
    return files


def outcome(result, previews, preview_mode, folder) -> dict:
    return {
        "pixels": [np.asarray(image).tolist() for image in result.images],
        "sizes": [image.size for image in result.images],
        "embedded": [image.info.get("parameters") for image in result.images],
        "infotexts": result.infotexts,
        "js": {key: value for key, value in json.loads(result.js()).items() if key != "job_timestamp"},
        "files": saved_files(folder),
        "previews": previews,
        "preview_mode": preview_mode,
    }


def txt2img(folder):
    return processing.StableDiffusionProcessingTxt2Img(
        prompt="a red (circle:1.2) [on:under:0.5] a blue square", negative_prompt="green", seed=5, subseed=6, width=64,
        height=64, steps=4, sampler_name="Euler a", batch_size=2, n_iter=2, enable_hr=True, hr_scale=1.5,
        hr_upscaler="Latent", denoising_strength=0.6, outpath_samples=str(folder), outpath_grids=str(folder))


def inpainting(folder):
    source = Image.new("RGB", (96, 96), "white")
    source.paste(Image.new("RGB", (40, 40), "blue"), (10, 10))
    mask = Image.new("L", (96, 96), 0)
    mask.paste(Image.new("L", (30, 20), 255), (30, 40))
    return processing.StableDiffusionProcessingImg2Img(
        prompt="a red circle", seed=9, subseed=10, width=64, height=64, steps=6, sampler_name="Euler a", init_images=[source],
        mask=mask, denoising_strength=0.8, inpaint_full_res=True, inpaint_full_res_padding=4, mask_blur=2,
        batch_size=1, n_iter=2, outpath_samples=str(folder), outpath_grids=str(folder))


@pytest.mark.parametrize("when", ["first step", "process hook"])
@pytest.mark.parametrize("make", [txt2img, inpainting], ids=["txt2img_hires_batches", "inpainting_only_masked"])
def test_options_changed_mid_generation_change_nothing_it_makes(sd_model, undisturbed_options, monkeypatch,
                                                                  tmp_path, make, when):
    plain = outcome(*generate(make(tmp_path / "plain"), None, monkeypatch), tmp_path / "plain")
    disturbed = outcome(*generate(make(tmp_path / "disturbed"), ALL_CHANGES, monkeypatch, when),
                        tmp_path / "disturbed")
    assert shared.opts.CLIP_stop_at_last_layers == 2, "the options were changed during the second run"
    assert plain["previews"], "live previews ran"
    assert len(plain["files"]) >= 3, "images and the grid were saved"
    for key in plain:
        assert disturbed[key] == plain[key], f"{key} changed when the options changed mid-generation"


@pytest.mark.parametrize("group", list(CHANGES))
def test_each_group_of_options_does_change_a_generation_that_starts_with_it(sd_model, undisturbed_options,
                                                                            monkeypatch, tmp_path, group):
    """So the test above could fail: starting with each group of the changed options changes what is made."""
    make = inpainting if group == "img2img_and_inpainting" else txt2img
    plain = outcome(*generate(make(tmp_path / "plain"), None, monkeypatch), tmp_path / "plain")
    for key, value in CHANGES[group].items():
        monkeypatch.setitem(shared.opts.data, key, value)
    changed = outcome(*generate(make(tmp_path / "changed"), None, monkeypatch), tmp_path / "changed")
    expected = {
        "noise_and_conditioning": {"pixels", "infotexts", "embedded", "js", "files"},
        "saving": {"files"},
        "what_is_saved_and_returned": {"pixels", "files"},
        "grid_layout": {"pixels", "sizes", "files"},
        "infotext": {"infotexts", "embedded", "js", "files"},
        "live_preview": {"previews", "preview_mode"},
        "img2img_and_inpainting": {"pixels", "infotexts", "embedded", "js", "files"},
    }[group]
    assert {key for key in plain if changed[key] != plain[key]} >= expected


def test_the_snapshot_is_what_the_generation_reads(sd_model, monkeypatch, tmp_path):
    """A snapshot holding other values than shared.opts makes what shared.opts holding those values makes."""
    other_values = {"eta_noise_seed_delta": 4242, "CLIP_stop_at_last_layers": 2, "samples_format": "webp",
                    "add_model_name_to_info": False, "grid_format": "jpg"}
    real_create = processing.create_opts_snapshot

    def snapshot_of_other_values(opts):
        values = real_create(opts).as_dict()
        values.update(other_values)
        return processing.OptsSnapshot(values)

    monkeypatch.setattr(processing, "create_opts_snapshot", snapshot_of_other_values)
    from_snapshot = outcome(*generate(txt2img(tmp_path / "snapshot"), None, monkeypatch), tmp_path / "snapshot")
    monkeypatch.setattr(processing, "create_opts_snapshot", real_create)
    for key, value in other_values.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    from_options = outcome(*generate(txt2img(tmp_path / "options"), None, monkeypatch), tmp_path / "options")
    assert from_snapshot == from_options
    assert any(name.endswith(".webp") for name in from_snapshot["files"])


def test_a_used_again_p_starts_without_its_last_snapshot(sd_model, monkeypatch):
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a red circle", seed=3, width=64, height=64, steps=2,
                                                    do_not_save_samples=True, do_not_save_grid=True)
    process_as_a_job(p)
    first = p.opts_snapshot
    seen = []
    p.scripts = Hooks(before_process=lambda p: seen.append(p.opts_snapshot))
    process_as_a_job(p)
    assert seen == [None]
    assert p.opts_snapshot is not None and p.opts_snapshot is not first


def test_extension_calls_without_a_snapshot_read_the_live_options(sd_model, monkeypatch):
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a red circle", seed=3, width=64, height=64, steps=2,
                                                    do_not_save_samples=True, do_not_save_grid=True)
    process_as_a_job(p)
    monkeypatch.setitem(shared.opts.data, "add_model_name_to_info", False)
    assert "Model: " in processing.create_infotext(p, p.all_prompts, p.all_seeds, p.all_subseeds), \
        "a generated p describes its own generation"
    p.opts_snapshot = None
    assert "Model: " not in processing.create_infotext(p, p.all_prompts, p.all_seeds, p.all_subseeds)


# --- the static check -----------------------------------------------------------------------------------------

def test_only_allow_listed_option_reads_are_left_on_the_generation_path():
    path = opts_reads.generation_path(opts_reads.load(os.path.join(opts_reads.REPO_ROOT, "modules")))
    unlisted, stale = opts_reads.differences(path.reads, opts_reads.allow_list())
    assert not unlisted, f"option reads the allow-list in docs/architecture/invariants.md lacks: {unlisted}"
    assert not stale, f"allow-list rows no read matches any more: {stale}"
    assert not path.missing_arguments, f"calls after the snapshot that fall back to the live options: " \
                                       f"{path.missing_arguments}"
    assert {phase for phase, *_ in path.reads} == {"before", "after"}


SYNTHETIC = {
    "shared.py": "opts = None\n",
    "processing.py": '''
import pkg.shared
from pkg import helpers
from pkg.shared import opts


def process_images(p):
    helpers.prepare()
    dispatch(p, "second")
    return process_images_inner(p)


def process_images_inner(p: helpers.Annotated):
    early = opts.early
    helpers.both()
    p.opts_snapshot = make_snapshot(opts)
    helpers.Saver().save(p)
    helpers.both()
    p.callback = helpers.on_step
    helpers.grid(p, options=p.opts_snapshot)
    helpers.grid(p)
    helpers.grid(p, p.opts_snapshot)
    dispatch(p, "first")
    return getattr(opts, "late"), pkg.shared.opts.qualified, early


def dispatch(p, hook):
    getattr(p.hooks, hook)(p)


def make_snapshot(options):
    return dict(options.values)


def never_called():
    return opts.never
''',
    "helpers.py": '''
from pkg import shared as sh


def prepare():
    return sh.opts.prepared


def both():
    return sh.opts


def on_step():
    from pkg.shared import opts as live

    return live.step_option


def grid(p, options=None):
    return options


class Annotated:
    def __init__(self):
        self.value = sh.opts.only_in_an_annotation


class Saver:
    table = {"format": lambda self: sh.opts.from_a_table}

    def save(self, p):
        p.hook = self.hand_on
        return self.fmt, self.lookup("format")

    def lookup(self, name):
        return self.table[name](self)

    def hand_on(self):
        return sh.opts.handed_on

    @property
    def fmt(self):
        return sh.opts.samples_format


class Hooks:
    def first(self, p):
        return sh.opts.dispatched_after

    def second(self, p):
        return sh.opts.not_dispatched_after


class Unrelated:
    def save(self):
        return sh.opts.unrelated_save_is_reached_by_name

    def unused(self):
        return sh.opts.unused
''',
}


def write_package(folder, files: dict) -> opts_reads.Codebase:
    package = folder / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in files.items():
        (package / name).write_text(text)
    return opts_reads.load(str(package))


@pytest.fixture
def synthetic_package(tmp_path):
    return write_package(tmp_path, SYNTHETIC)


def with_processing_changed(folder, old: str, new: str) -> opts_reads.Codebase:
    assert old in SYNTHETIC["processing.py"]
    return write_package(folder, {**SYNTHETIC, "processing.py": SYNTHETIC["processing.py"].replace(old, new)})


def synthetic_path(code, **overrides):
    arguments = {"dynamic_calls": {"helpers.Saver.lookup": ["helpers.Saver.*"]},
                 "required_arguments": {"helpers.grid": "options"},
                 "dispatchers": {"processing.dispatch": ("helpers.Hooks", 1)}, **overrides}
    return opts_reads.generation_path(code, **arguments)


def test_the_check_follows_calls_references_properties_and_tables_and_splits_at_the_snapshot(synthetic_package):
    found = {row[:3] for row in synthetic_path(synthetic_package).reads}
    assert found == {
        ("before", "processing.process_images_inner", "early"),
        ("before", "processing.process_images_inner", "*"),
        ("before", "helpers.prepare", "prepared"),
        ("after", "helpers.both", "*"),
        ("after", "helpers.on_step", "step_option"),
        ("after", "helpers.Saver.fmt", "samples_format"),
        ("after", f"helpers.Saver.{opts_reads.CLASS_BODY}", "from_a_table"),
        ("after", "helpers.Saver.hand_on", "handed_on"),
        ("before", "helpers.Hooks.second", "not_dispatched_after"),  # only the hook each call names
        ("after", "helpers.Hooks.first", "dispatched_after"),
        ("after", "processing.process_images_inner", "late"),
        ("after", "processing.process_images_inner", "qualified"),
        ("after", "helpers.Unrelated.save", "unrelated_save_is_reached_by_name"),  # x.save() may be any save
    }


@pytest.mark.parametrize("unreadable", ["dispatch(p, p.hook_name)", "p.on_hook = dispatch"])
def test_a_dispatch_the_check_cannot_read_is_followed_to_every_method(tmp_path, unreadable):
    code = with_processing_changed(tmp_path, 'dispatch(p, "first")', unreadable)
    found = {row[:3] for row in synthetic_path(code).reads}
    assert {("after", "helpers.Hooks.first", "dispatched_after"),
            ("after", "helpers.Hooks.second", "not_dispatched_after")} <= found


def test_a_dispatch_to_a_method_the_class_lacks_is_refused(tmp_path):
    code = with_processing_changed(tmp_path, 'dispatch(p, "first")', 'dispatch(p, "third")')
    with pytest.raises(LookupError, match=r"processing.dispatch \(line \d+\) names helpers.Hooks.third"):
        synthetic_path(code)


def test_an_entry_that_does_not_reach_the_snapshot_taker_is_refused(tmp_path):
    code = with_processing_changed(tmp_path, "return process_images_inner(p)", "return None")
    with pytest.raises(LookupError, match="processing.process_images does not reach processing.process_images_inner"):
        synthetic_path(code)


def test_calls_after_the_snapshot_must_pass_the_required_argument(synthetic_package):
    missing = synthetic_path(synthetic_package).missing_arguments
    assert [(caller, called, argument) for caller, called, argument, _ in missing] == [
        ("processing.process_images_inner", "helpers.grid", "options")]


def test_a_dynamic_call_to_nothing_is_refused(synthetic_package):
    with pytest.raises(LookupError, match="helpers.Gone"):
        synthetic_path(synthetic_package, dynamic_calls={"helpers.Saver.lookup": ["helpers.Gone.*"]})
    with pytest.raises(LookupError, match="helpers.gone"):
        synthetic_path(synthetic_package, required_arguments={"helpers.gone": "options"})
    with pytest.raises(LookupError, match="DISPATCHERS names helpers.Gone"):
        synthetic_path(synthetic_package, dispatchers={"processing.dispatch": ("helpers.Gone", 1)})
    with pytest.raises(LookupError, match="DISPATCHERS names processing.gone"):
        synthetic_path(synthetic_package, dispatchers={"processing.gone": ("helpers.Hooks", 1)})


def test_differences_name_unlisted_reads_and_stale_rows(synthetic_package):
    found = synthetic_path(synthetic_package).reads
    allowed = {row[:3] for row in found} - {("after", "helpers.on_step", "step_option")}
    allowed.add(("after", "helpers.gone", "x"))
    unlisted, stale = opts_reads.differences(found, allowed)
    assert [row[:3] for row in unlisted] == [("after", "helpers.on_step", "step_option")]
    assert stale == [("after", "helpers.gone", "x")]


def test_an_allow_list_row_without_a_reason_is_refused(tmp_path):
    page = tmp_path / "invariants.md"
    page.write_text(f"{opts_reads.ALLOW_LIST_HEADING}\n\n| Phase | Function | Option | Why |\n|---|---|---|---|\n"
                    "| after | `images.image_grid` | `*` | |\n")
    with pytest.raises(ValueError, match="images.image_grid"):
        opts_reads.allow_list(str(page))
