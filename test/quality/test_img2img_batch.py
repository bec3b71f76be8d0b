"""M17 (A1111 module names extensions call): img2img.process_batch runs a processing over a folder of images with the
real model: each result saved under its source's name in an output folder of the data dir, a mask folder, scaling,
the infotext of each image used as A1111 uses it; a folder outside the data dir is refused."""

import os

import pytest
from PIL import Image, PngImagePlugin

from modules import img2img, output_paths, paths_internal, processing, shared
from test.generation_job import process_as_a_job  # noqa: F401 (the job's State the generation runs in)


@pytest.fixture
def folders(tmp_path, monkeypatch, sd_model):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setattr(paths_internal, "data_path", str(data_dir))
    source = tmp_path / "in"
    source.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a blue square\nSteps: 2, Seed: 42, CFG scale: 5, Size: 64x64")
    Image.new("RGB", (64, 64), "red").save(source / "apple.png", pnginfo=info)
    Image.new("RGB", (64, 64), "green").save(source / "pear.png")
    (source / "notes.txt").write_text("not an image")
    return data_dir, source


def img2img_p(**fields) -> processing.StableDiffusionProcessingImg2Img:
    return processing.StableDiffusionProcessingImg2Img(
        prompt="a fruit", seed=7, steps=2, width=64, height=64, denoising_strength=0.5, sampler_name="Euler",
        do_not_save_grid=True, **fields)


def run_batch(p, *args, **kwargs):
    shared.state.begin(job="img2img")
    try:
        return img2img.process_batch(p, *args, **kwargs)
    finally:
        shared.state.end()


def test_each_image_of_the_folder_is_saved_under_its_own_name_in_the_output_folder(folders):
    data_dir, source = folders
    first = run_batch(img2img_p(), str(source), "batch-out", "", ())
    saved = sorted(os.listdir(data_dir / "batch-out"))
    assert [name.endswith(("apple.png", "pear.png")) for name in saved] == [True, True] and len(saved) == 2
    assert "a fruit" in first.infotexts[0] and "Seed: 7" in first.infotexts[0]


def test_scaling_a_mask_folder_and_the_images_infotext_are_used_as_a1111_uses_them(folders, tmp_path):
    data_dir, source = folders
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (64, 64), 255).save(masks / "only.png")  # the only mask: used for every image
    p = img2img_p(inpaint_full_res=False)  # the whole picture: the result has the scaled size
    first = run_batch(p, str(source), "scaled", str(masks), (), to_scale=True, scale_by=0.5, use_png_info=True,
                      png_info_props=["Prompt", "Seed"])
    assert first.images[0].size == (32, 32) and p.image_mask is not None
    assert first.infotexts[0].startswith("a fruit a blue square") and "Seed: 42," in first.infotexts[0]
    assert "CFG scale: 7" in first.infotexts[0]  # not a chosen prop: the tab's value
    with Image.open(sorted((data_dir / "scaled").iterdir())[1]) as pear:  # no infotext: the tab's prompt and seed
        assert pear.info["parameters"].startswith("a fruit\n") and "Seed: 7," in pear.info["parameters"]


def test_an_output_folder_outside_the_data_dir_or_an_unknown_prop_is_refused_before_anything_runs(folders, tmp_path):
    _, source = folders
    with pytest.raises(output_paths.OutsideDataDir, match="output_dir"):
        run_batch(img2img_p(), str(source), str(tmp_path / "elsewhere"), "", ())
    with pytest.raises(ValueError, match="png_info_props"):
        run_batch(img2img_p(), str(source), "out", "", (), use_png_info=True, png_info_props=["Colour"])
    with pytest.raises(ValueError, match="is not a folder"):
        run_batch(img2img_p(), str(tmp_path / "missing"), "out", "", ())
    assert not (tmp_path / "elsewhere").exists()


def test_an_image_without_its_mask_or_a_broken_file_is_skipped_and_the_others_are_done(folders, tmp_path, caplog):
    data_dir, source = folders
    (source / "broken.png").write_bytes(b"not a png")
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("apple.png", "other.png"):  # two masks: an image needs its own
        Image.new("L", (64, 64), 255).save(masks / name)
    first = run_batch(img2img_p(inpaint_full_res=False), str(source), "masked", str(masks), ())
    assert first is not None
    assert [name.endswith("apple.png") for name in os.listdir(data_dir / "masked")] == [True]
    assert "pear.png skipped: no mask of that name" in caplog.text
    unmasked = run_batch(img2img_p(), str(source), "plain", "", ())
    assert unmasked is not None and len(os.listdir(data_dir / "plain")) == 2
    assert "broken.png skipped" in caplog.text
