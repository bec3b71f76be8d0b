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
from test.generation_job import process_as_a_job
from tools.invariants import opts_reads

# Generation-relevant options, each with a value other than the one the undisturbed run uses.
CHANGED_MID_GENERATION = {
    # noise, text conditioning (the next batch's and the hires pass's)
    "eta_noise_seed_delta": 31337,
    "randn_source": "CPU",
    "CLIP_stop_at_last_layers": 2,
    "emphasis": "No norm",
    "comma_padding_backtrack": 0,
    "use_old_scheduling": True,
    # saving
    "samples_save": False,
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
    # grids
    "grid_save": False,
    "return_grid": False,
    "grid_format": "jpg",
    "grid_extended_filename": True,
    "grid_only_if_multiple": False,
    "n_rows": 1,
    "grid_background_color": "#ff0000",
    # infotext
    "enable_pnginfo": False,
    "add_model_hash_to_info": False,
    "add_model_name_to_info": False,
    "add_version_to_infotext": False,
    "add_vae_name_to_info": False,
    # live preview
    "show_progress_every_n_steps": 1,
    "show_progress_type": "Full",
    "live_previews_image_format": "jpeg",
    # img2img and inpainting
    "upscaler_for_img2img": "Nearest",
    "overlay_inpaint": False,
    "return_mask": True,
    "return_mask_composite": True,
    "inpainting_mask_weight": 0.5,
}
UNDISTURBED = {"show_progress_every_n_steps": 2, "show_progress_type": "Approx cheap", "return_mask": False,
               "return_mask_composite": False, "add_version_to_infotext": True,
               "samples_filename_pattern": "[seed]-[clip_skip]-[prompt_words]"}


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
    for key in CHANGED_MID_GENERATION:
        assert getattr(shared.opts, key) != CHANGED_MID_GENERATION[key], f"{key} must change"


def generate(p, changes: dict | None, monkeypatch):
    """Runs p as a job with a recording preview decoder; with changes, sets them in shared.opts from the step
    callback at the first step (of the first batch)."""
    recorder = PreviewRecorder()
    monkeypatch.setattr(shared.state, "preview_decoder", recorder)
    real_callback = processing.sampling_progress_callback

    def changing_callback(step, total, latent, **kwargs):
        if changes and shared.state.job_no == 0 and step == 0 and not shared.state.sampling_step:
            for key, value in changes.items():
                monkeypatch.setitem(shared.opts.data, key, value)
        real_callback(step, total, latent, **kwargs)

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


@pytest.mark.parametrize("make", [txt2img, inpainting], ids=["txt2img_hires_batches", "inpainting_only_masked"])
def test_options_changed_mid_generation_change_nothing_it_makes(sd_model, undisturbed_options, monkeypatch,
                                                                  tmp_path, make):
    plain = outcome(*generate(make(tmp_path / "plain"), None, monkeypatch), tmp_path / "plain")
    disturbed = outcome(*generate(make(tmp_path / "disturbed"), CHANGED_MID_GENERATION, monkeypatch),
                        tmp_path / "disturbed")
    assert shared.opts.CLIP_stop_at_last_layers == 2, "the options were changed during the second run"
    assert plain["previews"], "live previews ran"
    assert len(plain["files"]) >= 3, "images and the grid were saved"
    for key in plain:
        assert disturbed[key] == plain[key], f"{key} changed when the options changed mid-generation"


def test_a_run_with_the_changed_options_from_the_start_does_differ(sd_model, undisturbed_options, monkeypatch,
                                                                    tmp_path):
    """The options above do change what a generation makes when it starts with them (so the test above could
    fail)."""
    plain = outcome(*generate(txt2img(tmp_path / "plain"), None, monkeypatch), tmp_path / "plain")
    for key, value in CHANGED_MID_GENERATION.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    changed = outcome(*generate(txt2img(tmp_path / "changed"), None, monkeypatch), tmp_path / "changed")
    different = {key for key in plain if changed[key] != plain[key]}
    assert different >= {"pixels", "embedded", "infotexts", "js", "files", "previews", "preview_mode"}


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
    p.scripts = type("BeforeProcess", (), {
        "__getattr__": lambda self, name: (lambda *args, **kwargs: None),
        "before_process": lambda self, p: seen.append(p.opts_snapshot)})()
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
    found = opts_reads.generation_reads(opts_reads.load(os.path.join(opts_reads.REPO_ROOT, "modules")))
    unlisted, stale = opts_reads.differences(found, opts_reads.allow_list())
    assert not unlisted, f"option reads the allow-list in docs/architecture/invariants.md lacks: {unlisted}"
    assert not stale, f"allow-list rows no read matches any more: {stale}"
    assert any(phase == "after" for phase, *_ in found) and any(phase == "before" for phase, *_ in found)


SYNTHETIC = {
    "shared.py": "opts = None\n",
    "processing.py": '''
from pkg import helpers
from pkg.shared import opts


def process_images(p):
    helpers.prepare()
    return process_images_inner(p)


def process_images_inner(p):
    early = opts.early
    helpers.both()
    p.opts_snapshot = make_snapshot(opts)
    helpers.Saver().save(p)
    helpers.both()
    p.callback = helpers.on_step
    return getattr(opts, "late"), early


def make_snapshot(options):
    return dict(options.values)


def never_called():
    return opts.never
''',
    "helpers.py": '''
from pkg import shared


def prepare():
    return shared.opts.prepared


def both():
    return shared.opts


def on_step():
    return shared.opts.step_option


class Saver:
    def save(self, p):
        return self.fmt

    @property
    def fmt(self):
        return shared.opts.samples_format

    def unused(self):
        return shared.opts.unused
''',
}


@pytest.fixture
def synthetic_package(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in SYNTHETIC.items():
        (package / name).write_text(text)
    return opts_reads.load(str(package))


def test_the_check_follows_calls_references_and_properties_and_splits_at_the_snapshot(synthetic_package):
    found = {row[:3] for row in opts_reads.generation_reads(synthetic_package)}
    assert found == {
        ("before", "processing.process_images_inner", "early"),
        ("before", "processing.process_images_inner", "*"),
        ("before", "helpers.prepare", "prepared"),
        ("after", "helpers.both", "*"),
        ("after", "helpers.on_step", "step_option"),
        ("after", "helpers.Saver.fmt", "samples_format"),
        ("after", "processing.process_images_inner", "late"),
    }


def test_differences_name_unlisted_reads_and_stale_rows(synthetic_package):
    found = opts_reads.generation_reads(synthetic_package)
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
