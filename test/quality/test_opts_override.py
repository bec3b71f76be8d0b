"""temporary_opts: overrides hold for the run, in the caller's context only (an options layer, M11), and are gone
however it ends; the model the options name is loaded on entering, nothing on leaving; process_images applies
p.override_settings through it, on the tiny real models."""

import pytest

from modules import cmd_args, processing, runtime_utils, sd_models, sd_vae, shared
from modules.sd_samplers_diffusers import InterruptedException
from test.api_client import in_process_api
from test.generation_job import process_as_a_job
from tools.golden.cases import save_checkpoint_vae

SMALL = {"width": 64, "height": 64, "steps": 3, "sampler_name": "Euler", "do_not_save_samples": True,
         "do_not_save_grid": True}


class ProcessHook:
    """A script runner stand-in whose process() hook calls `on_process` and keeps what it returns in `seen`; every
    other hook does nothing."""

    def __init__(self, on_process):
        self.on_process, self.seen = on_process, []

    def process(self, p):
        self.seen.append(self.on_process())

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def txt2img(hook: ProcessHook | None = None, **kwargs) -> processing.StableDiffusionProcessingTxt2Img:
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a red circle", seed=7, **SMALL, **kwargs)
    if hook is not None:
        p.scripts = hook
    return p


def options_now() -> dict:
    return {key: getattr(shared.opts, key) for key in shared.opts.data_labels}


@pytest.fixture(autouse=True)
def baseline_options(monkeypatch):
    """Known values for the options these tests override (and, by monkeypatch, the previous values back after
    each test), so every test starts from values that differ from its overrides."""
    for key, value in {"CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0, "samples_format": "png",
                       "sd_vae": "Automatic"}.items():
        monkeypatch.setitem(shared.opts.data, key, value)


@pytest.fixture
def reload_calls(monkeypatch):
    """Records checkpoint/VAE reloads instead of doing them (for the tests that need no model)."""
    calls = []
    monkeypatch.setattr(sd_models, "reload_model_weights", lambda *a, **k: calls.append("checkpoint"))
    monkeypatch.setattr(sd_vae, "reload_vae_weights", lambda *a, **k: calls.append("vae"))
    return calls


# --- the context manager --------------------------------------------------------------------------------------

def test_values_hold_inside_the_block_and_come_back_after_it(reload_calls):
    before = options_now()
    with runtime_utils.temporary_opts({"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337}):
        assert shared.opts.CLIP_stop_at_last_layers == 2
        assert shared.opts.eta_noise_seed_delta == 31337
    assert options_now() == before
    assert reload_calls == ["checkpoint", "vae"], "the model the options name is loaded once, nothing on leaving"


@pytest.mark.parametrize("raised", [RuntimeError("boom"), KeyboardInterrupt(), InterruptedException()],
                         ids=["exception", "keyboard-interrupt", "sampler-interrupt"])
def test_values_come_back_when_the_block_raises(reload_calls, raised):
    before = options_now()
    with pytest.raises(type(raised)) as caught:
        with runtime_utils.temporary_opts({"eta_noise_seed_delta": 5, "samples_format": "jpg"}):
            assert shared.opts.samples_format == "jpg"
            raise raised
    assert caught.value is raised
    assert options_now() == before


def test_restore_afterwards_false_keeps_the_values(reload_calls):
    with runtime_utils.temporary_opts({"eta_noise_seed_delta": 77}, restore_afterwards=False):
        pass
    assert shared.opts.eta_noise_seed_delta == 77


@pytest.mark.parametrize("overrides", [None, {}])
def test_no_overrides_change_nothing(reload_calls, overrides):
    before = dict(shared.opts.data)
    with runtime_utils.temporary_opts(overrides):
        assert shared.opts.data == before
    assert shared.opts.data == before


@pytest.mark.parametrize(("bad", "error", "message"), [
    ({"no_such_option": 1}, KeyError, "unknown option: no_such_option"),
    ({"samples_save": "yes"}, TypeError, "bad value for option samples_save"),
    ({"api_useragent": "spoofed"}, RuntimeError, "api_useragent cannot be changed through the API"),
], ids=["unknown-key", "wrong-type", "restricted"])
def test_a_refused_override_raises_before_the_block_and_undoes_the_ones_set_before_it(reload_calls, bad, error,
                                                                                      message):
    before = options_now()
    entered = []
    with pytest.raises(error, match=message):
        with runtime_utils.temporary_opts({"eta_noise_seed_delta": 9, **bad}):
            entered.append(True)
    assert entered == []
    assert options_now() == before


@pytest.mark.parametrize("checkpoint_first", [True, False], ids=["checkpoint-listed-first", "vae-listed-first"])
def test_the_checkpoint_reloads_before_the_vae_whatever_the_order(reload_calls, checkpoint_first):
    before = options_now()
    overrides = [("sd_model_checkpoint", "other.safetensors"), ("sd_vae", "None")]
    with runtime_utils.temporary_opts(dict(overrides if checkpoint_first else overrides[::-1])):
        assert reload_calls == ["checkpoint", "vae"]
        assert (shared.opts.sd_model_checkpoint, shared.opts.sd_vae) == ("other.safetensors", "None")
    assert reload_calls == ["checkpoint", "vae"], "nothing reloads on leaving: the next generation loads its own"
    assert options_now() == before


# --- process_images on the real model -------------------------------------------------------------------------

def test_process_images_applies_the_overrides_through_temporary_opts(sd_model, monkeypatch):
    calls = []
    real = runtime_utils.temporary_opts

    def recording(overrides, restore_afterwards=True):
        calls.append((dict(overrides), restore_afterwards))
        return real(overrides, restore_afterwards)

    monkeypatch.setattr(runtime_utils, "temporary_opts", recording)
    hook = ProcessHook(lambda: shared.opts.eta_noise_seed_delta)
    process_as_a_job(txt2img(hook, override_settings={"eta_noise_seed_delta": 42},
                             override_settings_restore_afterwards=False))
    assert calls == [({"eta_noise_seed_delta": 42}, False)]
    assert hook.seen == [42]


def test_generation_and_extensions_see_the_override_and_the_option_comes_back(sd_model):
    before = options_now()
    hook = ProcessHook(lambda: shared.opts.CLIP_stop_at_last_layers)
    result = process_as_a_job(txt2img(hook, override_settings={"CLIP_stop_at_last_layers": 2}))
    assert hook.seen == [2]
    assert "Clip skip: 2" in result.info
    assert options_now() == before


def test_an_error_during_generation_restores_the_options(sd_model):
    def fail():
        raise RuntimeError("boom")

    before = options_now()
    with pytest.raises(RuntimeError, match="boom"):
        process_as_a_job(txt2img(ProcessHook(fail), override_settings={"eta_noise_seed_delta": 31337}))
    assert options_now() == before


def test_the_interrupt_button_ends_the_run_early_and_the_options_come_back(sd_model, monkeypatch):
    """Interrupt (state.interrupt(), as the UI button and /sdapi/v1/interrupt do) ends sampling early and the image
    still comes back: the run returns normally and the overrides are undone."""
    before = options_now()
    real_callback = processing.sampling_progress_callback

    def interrupt_after_first_step(step, total, latent):
        shared.state.interrupt()
        real_callback(step, total, latent)

    monkeypatch.setattr(processing, "sampling_progress_callback", interrupt_after_first_step)
    monkeypatch.setattr(shared.state, "interrupted", False)  # and back to False after the test
    hook = ProcessHook(lambda: shared.opts.CLIP_stop_at_last_layers)
    result = process_as_a_job(txt2img(hook, override_settings={"CLIP_stop_at_last_layers": 2}))
    assert shared.state.interrupted
    assert hook.seen == [2]
    assert len(result.images) == 1
    assert options_now() == before


def test_ctrl_c_during_sampling_restores_the_options(sd_model, monkeypatch):
    """A KeyboardInterrupt raised mid-sampling (Ctrl+C in the console) goes through process_images."""
    before = options_now()

    def ctrl_c(step, total, latent):
        raise KeyboardInterrupt

    monkeypatch.setattr(processing, "sampling_progress_callback", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        process_as_a_job(txt2img(override_settings={"eta_noise_seed_delta": 99, "CLIP_stop_at_last_layers": 2}))
    assert options_now() == before


def test_an_unknown_key_fails_the_generation_before_it_starts(sd_model):
    before = options_now()
    hook = ProcessHook(lambda: True)
    with pytest.raises(KeyError, match="no_such_option"):
        process_as_a_job(txt2img(hook, override_settings={"eta_noise_seed_delta": 1, "no_such_option": 1}))
    assert hook.seen == []
    assert options_now() == before


def test_a_checkpoint_override_loads_it_for_the_run_and_the_next_run_loads_the_selected_one(sd_model,
                                                                                           second_checkpoint):
    original_file, original_title = sd_model.sd_checkpoint_info.filename, shared.opts.sd_model_checkpoint
    hook = ProcessHook(lambda: (shared.sd_model.sd_checkpoint_info.filename, shared.opts.sd_model_checkpoint))
    result = process_as_a_job(txt2img(hook, override_settings={"sd_model_checkpoint": second_checkpoint.title}))
    assert hook.seen == [(second_checkpoint.filename, second_checkpoint.title)]
    assert "Model: other-sd15," in result.info
    assert shared.opts.sd_model_checkpoint == original_title
    after = process_as_a_job(txt2img(hook))
    assert hook.seen[-1] == (original_file, original_title)
    assert f"Model: {sd_model.sd_checkpoint_info.name_for_extra}," in after.info


def test_an_unknown_checkpoint_override_is_dropped_and_the_current_model_used(sd_model):
    original_file, original_title = sd_model.sd_checkpoint_info.filename, shared.opts.sd_model_checkpoint
    hook = ProcessHook(lambda: shared.sd_model.sd_checkpoint_info.filename)
    p = txt2img(hook, override_settings={"sd_model_checkpoint": "no-such-model"})
    process_as_a_job(p)
    assert p.override_settings == {}, "dropped, as A1111 drops it"
    assert hook.seen == [original_file]
    assert shared.opts.sd_model_checkpoint == original_title


@pytest.fixture
def vae_folder(tmp_path):
    """A --vae-dir folder; add(checkpoint_file, name) writes that checkpoint's VAE into it as `name`."""
    previous = shared.cmd_opts.vae_dir
    shared.cmd_opts.vae_dir = str(tmp_path)

    def add(checkpoint_file: str, name: str) -> str:
        vae_file = save_checkpoint_vae(checkpoint_file, str(tmp_path / name))
        sd_vae.refresh_vae_list()
        return vae_file

    try:
        yield add
    finally:
        shared.cmd_opts.vae_dir = previous
        sd_vae.refresh_vae_list()


def test_a_vae_override_puts_that_vae_on_for_the_run_and_the_next_run_takes_it_off(sd_model, tiny_arch_checkpoints,
                                                                                   vae_folder):
    """The VAE of another tiny SD1 checkpoint (different weights) changes the image while it is on."""
    other_vae = vae_folder(tiny_arch_checkpoints["sd15"], "other.vae.safetensors")
    plain = process_as_a_job(txt2img())
    hook = ProcessHook(lambda: shared.sd_model.loaded_vae_file)
    with_vae = process_as_a_job(txt2img(hook, override_settings={"sd_vae": "other.vae.safetensors"}))
    assert hook.seen == [other_vae]
    assert "VAE: other.vae.safetensors" in with_vae.info
    assert with_vae.images[0].tobytes() != plain.images[0].tobytes()
    assert process_as_a_job(txt2img(hook)).images[0].tobytes() == plain.images[0].tobytes()
    assert hook.seen[-1] is None and shared.sd_model.loaded_vae_file is None


def test_vae_path_puts_its_file_on_the_model_and_the_vae_settings_then_change_nothing(sd_model, tiny_arch_checkpoints,
                                                                                      tmp_path, vae_folder):
    """A1111's --vae-path: that file on every model, whatever sd_vae or a request's override says."""
    listed = vae_folder(tiny_arch_checkpoints["sd15"], "listed.vae.safetensors")
    chosen = save_checkpoint_vae(tiny_arch_checkpoints["sd15"], str(tmp_path / "elsewhere" / "chosen.vae.safetensors"),
                                 output_bias_shift=0.5)
    plain = process_as_a_job(txt2img())
    hook = ProcessHook(lambda: shared.sd_model.loaded_vae_file)
    shared.cmd_opts.vae_path = cmd_args.vae_file(chosen)
    try:
        sd_vae.reload_vae_weights()  # as the model's load does at start
        with_flag = process_as_a_job(txt2img(hook))
        overridden = process_as_a_job(txt2img(hook, override_settings={"sd_vae": "listed.vae.safetensors"}))
        assert hook.seen == [chosen, chosen]
        assert "VAE: chosen.vae.safetensors" in with_flag.info and "VAE: chosen.vae.safetensors" in overridden.info
        assert with_flag.images[0].tobytes() != plain.images[0].tobytes()
        assert overridden.images[0].tobytes() == with_flag.images[0].tobytes()
    finally:
        shared.cmd_opts.vae_path = None
        sd_vae.reload_vae_weights()
    assert shared.sd_model.loaded_vae_file is None and listed != chosen


@pytest.mark.parametrize("vae_first", [True, False], ids=["vae-listed-first", "checkpoint-listed-first"])
def test_a_vae_that_fits_only_the_overriding_checkpoint_works_in_either_order(sd_model, vae_folder, vae_first):
    """The checkpoint loads before the VAE goes on, and the next run loads the selected checkpoint with its own VAE:
    the demo model's VAE never meets the tiny model it does not fit (before M05 it did, in both orders)."""
    demo = sd_models.get_closet_checkpoint_match("serena-demo-shapes.safetensors")
    demo_vae = vae_folder(demo.filename, "demo.vae.safetensors")
    original_file, before = sd_model.sd_checkpoint_info.filename, options_now()
    overrides = [("sd_vae", "demo.vae.safetensors"), ("sd_model_checkpoint", demo.title)]
    hook = ProcessHook(lambda: (shared.sd_model.sd_checkpoint_info.filename, shared.sd_model.loaded_vae_file))
    result = process_as_a_job(txt2img(hook, override_settings=dict(overrides if vae_first else overrides[::-1])))
    assert hook.seen == [(demo.filename, demo_vae)]
    assert "Model: serena-demo-shapes," in result.info and "VAE: demo.vae.safetensors" in result.info
    assert options_now() == before
    process_as_a_job(txt2img(hook))
    assert hook.seen[-1] == (original_file, None)


# --- the API path ---------------------------------------------------------------------------------------------

@pytest.fixture
def api_client(sd_model):
    return in_process_api()


def test_the_api_path_refuses_a_restricted_override_and_restores_an_accepted_one(api_client):
    """The API checks override_settings before generating (403 naming the field); an accepted override goes
    through process_images, so temporary_opts, and is gone after the response."""
    before = options_now()
    request = {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64}
    refused = api_client.post("/sdapi/v1/txt2img", json={**request, "override_settings": {"api_useragent": "x"}})
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("override_settings.api_useragent:")
    assert options_now() == before
    served = api_client.post("/sdapi/v1/txt2img", json={**request, "override_settings": {"CLIP_stop_at_last_layers": 2}})
    assert served.status_code == 200
    assert "Clip skip: 2" in served.json()["info"]
    assert options_now() == before
