"""The Extras tab's function through modules.postprocessing: upscale by a factor or to a size, saved into the extras
folder with the source's infotext and a "postprocessing" text; refusals are shown, not raised."""

import threading

import pytest
from PIL import Image

from modules import shared, ui_extras, upscaler


@pytest.fixture
def extras_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(shared, "sd_upscalers", upscaler.sd_upscalers)
    folder = tmp_path / "extras"
    for key, value in {"outdir_samples": "", "outdir_extras_samples": str(folder), "samples_format": "png",
                       "save_to_dirs": False}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    return folder


def source_image() -> Image.Image:
    image = Image.new("RGB", (40, 30), "red")
    image.info["parameters"] = "a red box\nSteps: 3, Seed: 1, Size: 40x30"
    return image


def run(image, **fields):
    values = {"resize_mode": "Scale by", "upscaling_resize": 2.0, "width": 64, "height": 64, "crop": True,
              "upscaler_1": "Lanczos", "upscaler_2": "None", "upscaler_2_visibility": 0.0, **fields}
    return ui_extras.run_postprocessing(threading.Lock(), image, *values.values())


def test_scale_by_upscales_and_saves_with_the_infotexts(extras_folder):
    shown, info, log = run(source_image())
    assert log == "" and shown[0].size == (80, 60)
    assert "Postprocess upscale by: 2" in info and "Postprocess upscaler: Lanczos" in info
    saved = list(extras_folder.glob("*.png"))
    assert len(saved) == 1
    with Image.open(saved[0]) as reloaded:
        assert reloaded.size == (80, 60)
        assert reloaded.info["parameters"].startswith("a red box")
        assert "Postprocess upscaler: Lanczos" in reloaded.info["postprocessing"]


def test_scale_to_with_crop_gives_exactly_that_size(extras_folder):
    shown, _, log = run(source_image(), resize_mode="Scale to", width=64, height=64, crop=True)
    assert log == "" and shown[0].size == (64, 64)


def test_refusals_are_shown_in_the_log(extras_folder, monkeypatch):
    assert "No image" in run(None)[2]
    assert "upscaler_1: upscaler not found" in run(source_image(), upscaler_1="Nope")[2]
    monkeypatch.setitem(shared.opts.data, "img_max_size_mp", 0.001)
    assert "megapixel limit" in run(source_image())[2]
    assert list(extras_folder.glob("*.png")) == []


def test_the_upscaler_choices_are_none_then_the_servers_upscalers(extras_folder):
    assert ui_extras.upscaler_names()[0] == "None" and "Lanczos" in ui_extras.upscaler_names()


