"""M08 and M11: options changed in the middle of a generation change no pixel, infotext, saved file or live preview,
whether another request changes the base options (M11: the job runs on its own copy) or code inside the job changes
its own options layer (M08: the generation reads the snapshot it took).
"""

import contextvars
import json
import os

import numpy as np
import pytest
from PIL import Image

from modules import processing, shared
from test.generation_job import Hooks, process_as_a_job

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


def generate(p, changes: dict | None, monkeypatch, when: str = "first step", where: str = "job"):
    """Runs p as a job with a recording preview decoder, polling the live preview after every step as progress
    requests do; with changes, sets them in the scripts' process hook (right after the snapshot) or from the step
    callback at the first step: in the job's own options (where="job"), or in the base options as another request
    would (where="base")."""
    recorder = PreviewRecorder()
    monkeypatch.setattr(shared.state, "preview_decoder", recorder)
    real_callback = processing.sampling_progress_callback

    def set_them():
        for key, value in (changes or {}).items():
            monkeypatch.setitem(shared.opts.data, key, value)

    def change_the_options():
        if where == "base":
            contextvars.Context().run(set_them)  # outside the job, as a request handler runs
        else:
            set_them()
            assert not changes or shared.opts.CLIP_stop_at_last_layers == 2, "the job's own options changed"

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


_PLAIN_OUTCOMES: dict[tuple, dict] = {}


def plain_outcome(make, monkeypatch, tmp_path) -> dict:
    """The undisturbed run of make, generated once per model and base options and shared by the tests below (each
    ~5 s run is deterministic: the same model and options make the same outcome, whatever its folder; any other
    options or model, e.g. state another test leaked, get a run of their own)."""
    key = (make.__name__, shared.sd_model.sd_checkpoint_info.filename,
           json.dumps(shared.opts.data, sort_keys=True, default=repr))
    if key not in _PLAIN_OUTCOMES:
        _PLAIN_OUTCOMES[key] = outcome(*generate(make(tmp_path / "plain"), None, monkeypatch), tmp_path / "plain")
    return _PLAIN_OUTCOMES[key]


def txt2img(folder):
    """48x48, 72x72 after the hires pass: the size decides nothing here, and the hires pass's attention costs 2.5 times
    less than at 64x64 (96x96)."""
    return processing.StableDiffusionProcessingTxt2Img(
        prompt="a red (circle:1.2) [on:under:0.5] a blue square", negative_prompt="green", seed=5, subseed=6, width=48,
        height=48, steps=4, sampler_name="Euler a", batch_size=2, n_iter=2, enable_hr=True, hr_scale=1.5,
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


@pytest.mark.parametrize("where", ["job", "base"])
@pytest.mark.parametrize("when", ["first step", "process hook"])
@pytest.mark.parametrize("make", [txt2img, inpainting], ids=["txt2img_hires_batches", "inpainting_only_masked"])
def test_options_changed_mid_generation_change_nothing_it_makes(sd_model, undisturbed_options, monkeypatch,
                                                                  tmp_path, make, when, where):
    plain = plain_outcome(make, monkeypatch, tmp_path)
    disturbed = outcome(*generate(make(tmp_path / "disturbed"), ALL_CHANGES, monkeypatch, when, where),
                        tmp_path / "disturbed")
    assert (shared.opts.CLIP_stop_at_last_layers == 2) == (where == "base"), "only a change to the base outlives the job"
    assert plain["previews"], "live previews ran"
    assert len(plain["files"]) >= 3, "images and the grid were saved"
    for key in plain:
        assert disturbed[key] == plain[key], f"{key} changed when the options changed mid-generation"


@pytest.mark.parametrize("group", list(CHANGES))
def test_each_group_of_options_does_change_a_generation_that_starts_with_it(sd_model, undisturbed_options,
                                                                            monkeypatch, tmp_path, group):
    """So the test above could fail: starting with each group of the changed options changes what is made."""
    make = inpainting if group == "img2img_and_inpainting" else txt2img
    plain = plain_outcome(make, monkeypatch, tmp_path)
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
