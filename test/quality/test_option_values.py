"""M12: every option value is checked where it changes: a finite number inside its slider's range, one of its
choices, an image format the server can write."""

import pytest

from modules import option_values, paths_internal, shared


def check(key, value):
    option_values.check(key, shared.opts.data_labels[key], value, paths_internal.data_path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("CLIP_stop_at_last_layers", 13, "outside 1..12"), ("CLIP_stop_at_last_layers", -5, "outside 1..12"),
    ("jpeg_quality", 1000, "outside 1..100"), ("eta_noise_seed_delta", float("nan"), "not a finite number"),
    ("s_noise", float("inf"), "not a finite number"), ("samples_format", "psd", "not an image format"),
    ("grid_format", "exe", "not an image format"), ("live_previews_image_format", "gif", "is not one of"),
])
def test_a_value_the_option_cannot_hold_is_refused(key, value, message):
    with pytest.raises(option_values.BadOptionValue, match=message):
        check(key, value)


@pytest.mark.parametrize(("key", "value"), [
    ("CLIP_stop_at_last_layers", 12), ("jpeg_quality", 1), ("samples_format", "webp"), ("grid_format", "JPG"),
    ("live_previews_image_format", "jpeg"), ("eta_noise_seed_delta", 31337), ("sd_vae", "whatever.safetensors"),
    ("upscaler_for_img2img", None),
])
def test_a_value_the_option_can_hold_passes(key, value):
    check(key, value)


def test_opts_set_refuses_it_on_every_surface_and_keeps_the_value(monkeypatch):
    monkeypatch.setitem(shared.opts.data, "CLIP_stop_at_last_layers", 1)
    with pytest.raises(option_values.BadOptionValue):
        shared.opts.set("CLIP_stop_at_last_layers", 13)
    assert shared.opts.CLIP_stop_at_last_layers == 1
