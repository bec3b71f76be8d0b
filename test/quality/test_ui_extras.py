"""The Extras tab's function through modules.postprocessing: upscale by a factor or to a size, saved into the extras
folder with the source's infotext and a "postprocessing" text; refusals are shown, not raised."""

import threading

import pytest
from PIL import Image

from modules import paths_internal, shared, ui_extras, upscaler


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


UPSCALE = ("Scale by", 2.0, 64, 64, True, "Lanczos", "None", 0.0)


def test_batch_process_upscales_each_uploaded_image_and_saves_it_under_its_own_name(extras_folder, tmp_path):
    uploads = []
    for name, color in (("first.png", "red"), ("second.jpg", "blue")):
        Image.new("RGB", (20, 10), color).save(tmp_path / name)
        uploads.append(str(tmp_path / name))
    shown, info, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_BATCH, None, uploads, "", "", False,
                                         *UPSCALE)
    assert log == "" and [image.size for image in shown] == [(40, 20), (40, 20)]
    assert "Postprocess upscaler: Lanczos" in info
    assert sorted(path.name for path in extras_folder.iterdir()) == ["first.png", "second.png"]

    Image.new("RGB", (20, 10)).save(tmp_path / "third.png")
    (tmp_path / "notes.png").write_text("not an image")
    shown, _, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_BATCH, None,
                                      [str(tmp_path / "third.png"), str(tmp_path / "notes.png")], "", "", False,
                                      *UPSCALE)
    assert shown == [] and "notes.png: not an image" in log
    assert "third.png" not in [path.name for path in extras_folder.iterdir()]  # nothing of a refused batch saved


def test_batch_from_directory_writes_into_an_output_folder_in_the_data_dir_and_nowhere_else(extras_folder, tmp_path,
                                                                                            monkeypatch):
    source = tmp_path / "in"
    source.mkdir()
    for name in ("b.png", "a.png"):
        Image.new("RGB", (20, 10)).save(source / name)
    (source / "readme.txt").write_text("skipped: not an image file")
    data_dir = tmp_path / "data"
    monkeypatch.setattr(paths_internal, "data_path", str(data_dir))
    shown, _, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_DIRECTORY, None, None, str(source), "upscaled",
                                      False, *UPSCALE)
    assert log == "" and shown == []  # "Show result images" off
    assert sorted(path.name for path in (data_dir / "upscaled").iterdir()) == ["a.png", "b.png"]
    shown, _, _ = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_DIRECTORY, None, None, str(source), "", True,
                                    *UPSCALE)
    assert len(shown) == 2 and sorted(path.name for path in extras_folder.iterdir()) == ["a.png", "b.png"]

    for outside in (str(tmp_path / "elsewhere"), "../elsewhere"):
        _, _, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_DIRECTORY, None, None, str(source), outside,
                                      True, *UPSCALE)
        assert "Output directory" in log and "outside the data folder" in log
    assert not (tmp_path / "elsewhere").exists()
    _, _, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_DIRECTORY, None, None, str(tmp_path / "none"), "",
                                  True, *UPSCALE)
    assert "Input directory" in log and "is not a folder" in log
    monkeypatch.setattr(shared.cmd_opts, "hide_ui_dir_config", True)
    _, _, log = ui_extras.run_tab(threading.Lock(), ui_extras.MODE_DIRECTORY, None, None, str(source), "", True,
                                  *UPSCALE)
    assert "--hide-ui-dir-config" in log
