"""M18 item 4: refiner_checkpoint and refiner_switch_at switch the generation to the refiner at that part of the
sampling (by timestep, or by steps with refiner_switch_by_sample_steps), as A1111 does: the model each sampling step
ran on is recorded through A1111's on_cfg_denoiser callback; the infotext names the refiner; the selected checkpoint
does not change; the next batch starts on the job's own checkpoint; with hires fix, hires_fix_refiner_pass picks the
pass; an unknown refiner is refused naming the field."""

import gc
import weakref

import pytest

from modules import processing, script_callbacks, sd_models, shared
from test.api_client import in_process_api
from test.generation_job import process_as_a_job
from test.quality.test_lora import lora_extension, tiny_lora  # noqa: F401 (fixtures)

SMALL = {"width": 64, "height": 64, "steps": 6, "sampler_name": "Euler", "do_not_save_samples": True,
         "do_not_save_grid": True}


class StepRecord(list):
    selected_during: list


@pytest.fixture
def models_by_step():
    """(step, timestep, checkpoint name) of each sampling step of the generations the test runs; .selected_during:
    the selected checkpoint (opts.sd_model_checkpoint) the generation saw at each step."""
    seen, selected_during = StepRecord(), []

    def record(params):
        seen.append((params.sampling_step, float(params.sigma),
                     params.denoiser.model.sd_checkpoint_info.name_for_extra))
        selected_during.append(shared.opts.sd_model_checkpoint)

    script_callbacks.on_cfg_denoiser(record)
    seen.selected_during = selected_during
    try:
        yield seen
    finally:
        script_callbacks.remove_callbacks_for_function(record)


def txt2img(**fields) -> processing.StableDiffusionProcessingTxt2Img:
    return processing.StableDiffusionProcessingTxt2Img(prompt="a red circle", seed=7, **{**SMALL, **fields})


def test_the_refiner_takes_over_at_its_share_of_the_timesteps_and_the_selected_checkpoint_stays(
        sd_model, second_checkpoint, models_by_step):
    base = sd_model.sd_checkpoint_info.name_for_extra
    selected = shared.opts.sd_model_checkpoint
    plain = process_as_a_job(txt2img())
    models_by_step.clear()
    models_by_step.selected_during.clear()
    refined = process_as_a_job(txt2img(refiner_checkpoint=second_checkpoint.title, refiner_switch_at=0.35))
    on_base = [t for _, t, name in models_by_step if name == base]
    on_refiner = [t for _, t, name in models_by_step if name == "other-sd15"]
    assert [name for *_, name in models_by_step] == [base] * len(on_base) + ["other-sd15"] * len(on_refiner)
    # A1111 counts by timestep (999 first): 999, 799, 599 -> 0.0, 0.2, 0.4 done; by steps step 2 would be 0.33
    assert len(on_base) == 2 and len(on_refiner) == SMALL["steps"] - 2
    assert all((999 - round(t)) / 1000 < 0.35 for t in on_base) and (999 - round(on_refiner[0])) / 1000 >= 0.35
    assert f"Model: {base}," in refined.infotexts[0]
    assert f"Refiner: {second_checkpoint.short_title}, Refiner switch at: 0.35" in refined.infotexts[0]
    assert set(models_by_step.selected_during) == {selected}  # the refiner never became the selected checkpoint
    assert refined.images[0].tobytes() != plain.images[0].tobytes()
    assert shared.opts.sd_model_checkpoint == selected

    again = process_as_a_job(txt2img())  # the next generation runs on the selected checkpoint again
    assert again.images[0].tobytes() == plain.images[0].tobytes() and "Refiner" not in again.infotexts[0]


def test_by_sampling_steps_the_switch_comes_at_that_share_of_the_steps_and_each_batch_starts_on_its_own_model(
        sd_model, second_checkpoint, models_by_step, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "refiner_switch_by_sample_steps", True)
    base = sd_model.sd_checkpoint_info.name_for_extra
    refined = process_as_a_job(txt2img(refiner_checkpoint=second_checkpoint.name, refiner_switch_at=0.5, n_iter=2))
    names = [name for *_, name in models_by_step]
    assert names == ([base] * 3 + ["other-sd15"] * 3) * 2
    assert all("Refiner switch by sampling steps: True" in text for text in refined.infotexts)


def test_the_refiners_vae_decodes_what_the_refiner_finished(sd_model, second_checkpoint, monkeypatch):
    decoded_by = []
    decode = processing.decode_latent_batch

    def recording(model, *args, **kwargs):
        decoded_by.append(model.sd_checkpoint_info.name_for_extra)
        return decode(model, *args, **kwargs)

    monkeypatch.setattr(processing, "decode_latent_batch", recording)
    process_as_a_job(txt2img(refiner_checkpoint=second_checkpoint.title, refiner_switch_at=0.5))
    assert decoded_by == ["other-sd15"]  # as A1111, whose p.sd_model is the loaded model


def test_a_refiner_that_is_the_running_checkpoint_or_none_changes_nothing(sd_model, models_by_step):
    plain = process_as_a_job(txt2img())
    for name in (sd_model.sd_checkpoint_info.title, "None", ""):
        same = process_as_a_job(txt2img(refiner_checkpoint=name, refiner_switch_at=0.2))
        assert same.images[0].tobytes() == plain.images[0].tobytes() and "Refiner" not in same.infotexts[0]


def test_any_checkpoint_can_refine_any_other_sd1_to_sdxl(sd_model, tiny_arch_checkpoints, models_by_step):
    sdxl = sd_models.CheckpointInfo(tiny_arch_checkpoints["sdxl-base"])
    sdxl.register()
    try:
        refined = process_as_a_job(txt2img(refiner_checkpoint=sdxl.title, refiner_switch_at=0.5))
    finally:
        sd_models.list_models()
    assert models_by_step[-1][2] == "tiny-sdxl-base" and refined.images[0].size == (64, 64)
    assert "Refiner: tiny-sdxl-base" in refined.infotexts[0]


def test_sdxl_base_is_refined_by_the_sdxl_refiner_checkpoint(sd_model, tiny_arch_checkpoints, models_by_step,
                                                             monkeypatch):
    base = sd_models.CheckpointInfo(tiny_arch_checkpoints["sdxl-base"])
    refiner = sd_models.CheckpointInfo(tiny_arch_checkpoints["sdxl-refiner"])
    base.register()
    refiner.register()
    try:
        refined = process_as_a_job(txt2img(override_settings={"sd_model_checkpoint": base.title},
                                           refiner_checkpoint=refiner.title, refiner_switch_at=0.5))
        monkeypatch.setitem(shared.opts.data, "sdxl_refiner_high_aesthetic_score", 9.0)
        scored = process_as_a_job(txt2img(override_settings={"sd_model_checkpoint": base.title},
                                          refiner_checkpoint=refiner.title, refiner_switch_at=0.5))
    finally:
        sd_models.list_models()
    names = [name for *_, name in models_by_step]
    assert names[0] == "tiny-sdxl-base" and names[-1] == "tiny-sdxl-refiner"
    assert "Refiner: tiny-sdxl-refiner" in refined.infotexts[0] and refined.images[0].size == (64, 64)
    assert refined.images[0].tobytes() != scored.images[0].tobytes()  # the refiner reads its aesthetic score


@pytest.mark.parametrize(("refiner_pass", "switched_in_the_first_pass"),
                         [("second pass", False), ("first pass", True), ("both passes", True)])
def test_with_hires_fix_the_refiner_takes_over_in_the_pass_the_option_names(sd_model, second_checkpoint, models_by_step,
                                                                            monkeypatch, refiner_pass,
                                                                            switched_in_the_first_pass):
    """Once switched, the refiner stays for the rest of the generation (A1111: the second pass runs on the loaded
    model)."""
    monkeypatch.setitem(shared.opts.data, "hires_fix_refiner_pass", refiner_pass)
    monkeypatch.setitem(shared.opts.data, "refiner_switch_by_sample_steps", True)
    base = sd_model.sd_checkpoint_info.name_for_extra
    result = process_as_a_job(txt2img(refiner_checkpoint=second_checkpoint.title, refiner_switch_at=0.5,
                                      enable_hr=True, hr_scale=2, hr_upscaler="Latent", hr_second_pass_steps=4,
                                      denoising_strength=0.5, width=32, height=32))
    first = [name for *_, name in models_by_step[:SMALL["steps"]]]
    second = [name for *_, name in models_by_step[SMALL["steps"]:]]
    if switched_in_the_first_pass:
        assert first == [base] * 3 + ["other-sd15"] * 3 and set(second) == {"other-sd15"}
    else:
        assert first == [base] * SMALL["steps"] and second[0] == base and second[-1] == "other-sd15"
    assert ("Hires refiner: " + refiner_pass in result.infotexts[0]) is (refiner_pass != "second pass")
    assert "Refiner: other-sd15" in result.infotexts[0]


def test_the_api_refuses_an_unknown_refiner_naming_the_field_and_runs_a_known_one(sd_model, second_checkpoint):
    client = in_process_api()
    request = {"prompt": "a red circle", "seed": 7, "steps": 4, "width": 64, "height": 64}
    missing = client.post("/sdapi/v1/txt2img", json={**request, "refiner_checkpoint": "nowhere.safetensors"})
    assert missing.status_code == 404 and "refiner_checkpoint" in missing.text and "nowhere" in missing.text
    out_of_range = client.post("/sdapi/v1/txt2img", json={**request, "refiner_checkpoint": second_checkpoint.title,
                                                          "refiner_switch_at": 1.5})
    assert out_of_range.status_code == 422 and "refiner_switch_at" in out_of_range.text
    refined = client.post("/sdapi/v1/txt2img", json={**request, "refiner_checkpoint": second_checkpoint.title,
                                                     "refiner_switch_at": 0.5})
    assert refined.status_code == 200, refined.text
    assert "Refiner: other-sd15" in refined.json()["info"]


def test_the_tabs_refiner_accordion_sends_a_refiner_only_while_it_is_on_and_names_one():
    from modules import img2img, txt2img

    on = {"enable_refiner": True, "refiner_checkpoint": "other-sd15.safetensors [1234567890]", "refiner_switch_at": 0.6}
    assert txt2img.txt2img_params(**on)["refiner_checkpoint"] == on["refiner_checkpoint"]
    assert txt2img.txt2img_params(**on)["refiner_switch_at"] == 0.6
    for off in ({**on, "enable_refiner": False}, {**on, "refiner_checkpoint": "None"}, {**on, "refiner_checkpoint": None}):
        assert {key: txt2img.txt2img_params(**off)[key] for key in ("refiner_checkpoint", "refiner_switch_at")} == \
            {"refiner_checkpoint": None, "refiner_switch_at": None}
    from PIL import Image
    spec = img2img.img2img_spec(init_img=Image.new("RGB", (8, 8)), **on)
    assert (spec.params["refiner_checkpoint"], spec.params["refiner_switch_at"]) == (on["refiner_checkpoint"], 0.6)


def test_a_pasted_refiner_is_found_by_its_short_title(second_checkpoint):
    from modules import ui_params

    assert ui_params._pasted_refiner({"Refiner": second_checkpoint.short_title})["value"] == second_checkpoint.title
    assert ui_params._pasted_refiner({"Refiner": "not-here [0123456789]"}) is None
    assert ui_params._pasted_refiner({}) is None


def test_a_title_whose_checksum_another_machine_wrote_still_finds_the_checkpoint_as_in_a1111(second_checkpoint):
    assert sd_models.get_closet_checkpoint_match("other-sd15.safetensors [ffffffffff]") is second_checkpoint
    assert sd_models.get_closet_checkpoint_match("missing.safetensors [ffffffffff]") is None


def test_an_inpainting_checkpoint_refined_by_a_plain_one_inpaints_without_its_extra_channels(
        sd_model, second_checkpoint, tiny_arch_checkpoints, models_by_step):
    from PIL import Image

    inpaint = sd_models.CheckpointInfo(tiny_arch_checkpoints["sd15-inpaint"])
    inpaint.register()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    try:
        result = process_as_a_job(processing.StableDiffusionProcessingImg2Img(
            prompt="a red circle", seed=7, steps=6, width=64, height=64, sampler_name="Euler",
            init_images=[Image.new("RGB", (64, 64), "red")], mask=mask, denoising_strength=0.8,
            inpaint_full_res=False, do_not_save_samples=True, do_not_save_grid=True,
            override_settings={"sd_model_checkpoint": inpaint.title}, refiner_checkpoint=second_checkpoint.title,
            refiner_switch_at=0.5), "img2img")
    finally:
        sd_models.list_models()
    assert models_by_step[0][2] == "tiny-sd15-inpaint" and models_by_step[-1][2] == "other-sd15"
    assert "Refiner: other-sd15" in result.infotexts[0]


@pytest.mark.usefixtures("lora_extension")
@pytest.mark.parametrize("hires", [{}, {"enable_hr": True, "hr_upscaler": "Latent", "hr_scale": 1.5}],
                         ids=["txt2img", "refiner in the hires pass"])
def test_a_model_the_generation_leaves_is_freed_before_the_next_one_is_built(sd_model, second_checkpoint, monkeypatch,
                                                                             hires):
    """On a GPU two checkpoints need not fit at once: when the refiner takes over, and when the next batch goes back
    to the job's own checkpoint, the model left behind is freed before the next is built (p, its sampler, its
    runtime context and the LoRA applied to it let go of it)."""
    build, built, alive_at_each_build = sd_models.DiffusersStableDiffusion, [], []

    def recording_build(*args, **kwargs):
        gc.collect()
        alive_at_each_build.append([ref().sd_checkpoint_info.name_for_extra for ref in built if ref() is not None])
        model = build(*args, **kwargs)
        built.append(weakref.ref(model))
        return model

    monkeypatch.setattr(sd_models, "DiffusersStableDiffusion", recording_build)
    sd_models.reload_model_weights(info=second_checkpoint)  # the job's own checkpoint; the test keeps no reference
    result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle <lora:tiny:1>", seed=7, refiner_checkpoint=sd_model.sd_checkpoint_info.title,
        refiner_switch_at=0.5, n_iter=2, **SMALL, **hires))
    assert len(result.images) == 2 and "Refiner: " in result.infotexts[0]
    assert alive_at_each_build == [[], [], [], []], "base, refiner, base again, refiner again: none left alive"
