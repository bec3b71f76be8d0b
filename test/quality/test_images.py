import datetime
import os
from types import SimpleNamespace

import pytest
from PIL import Image

from modules import images, shared


@pytest.fixture(autouse=True)
def saving_options(monkeypatch):
    values = {
        "samples_format": "png", "save_to_dirs": True, "grid_save_to_dirs": False,
        "directories_filename_pattern": "[date]", "samples_filename_pattern": "", "save_images_add_number": True,
        "enable_pnginfo": True, "save_txt": False, "jpeg_quality": 80, "webp_lossless": False,
        "export_for_4chan": False, "img_downscale_threshold": 4.0, "target_side_length": 4000,
        "directories_max_prompt_words": 8, "n_rows": -1, "grid_prevent_empty_spots": False,
        "save_images_replace_action": "Replace", "grid_background_color": "#ffffff",
    }
    for key, value in values.items():
        monkeypatch.setitem(shared.opts.data, key, value)


def make_p(**fields):
    defaults = dict(
        seed=1234, all_seeds=[1234, 1235], steps=20, cfg_scale=7.5, width=64, height=32, styles=[],
        sampler_name="Euler a", scheduler="Automatic", prompt="a cat, on a mat", negative_prompt="ugly",
        sd_model_hash="0123456789", sd_model_name="demo model", denoising_strength=None, clip_skip=2,
        job_timestamp="20240102030405", batch_size=1, batch_index=0, n_iter=1, iteration=0,
    )
    return SimpleNamespace(**{**defaults, **fields})


def red(size=(64, 32), mode="RGB"):
    return Image.new(mode, size, "red")


def save(folder, image, **kwargs):
    """save_image into folder itself (no [date] sub-folder)."""
    return images.save_image(image, str(folder), "", save_to_dirs=False, **kwargs)


def test_sequence_numbers_and_default_names_in_date_folder(tmp_path):
    first, txt = images.save_image(red(), str(tmp_path), "", seed=1234, prompt="a cat", info="a cat\nSteps: 20")
    second, _ = images.save_image(red(), str(tmp_path), "", seed=99, prompt="a cat")

    folder = tmp_path / datetime.date.today().isoformat()
    assert (first, second) == (str(folder / "00000-1234.png"), str(folder / "00001-99.png"))
    assert txt is None
    assert sorted(os.listdir(folder)) == ["00000-1234.png", "00001-99.png"]


def test_default_name_carries_prompt_without_date_folders(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "save_to_dirs", False)
    fullfn, _ = save(tmp_path, red(), seed=7, prompt="a cat: black")
    assert fullfn == str(tmp_path / "00000-7-a cat_ black.png")


def test_sequence_number_follows_largest_existing(tmp_path):
    for name in ("00007-1.png", "00002-5.jpg", "notes.txt", "grid-0003.png"):
        (tmp_path / name).touch()
    assert images.get_next_sequence_number(str(tmp_path), "") == 8
    assert images.get_next_sequence_number(str(tmp_path), "grid") == 4
    assert images.get_next_sequence_number(str(tmp_path / "absent"), "") == 0


def test_grid_basename_and_short_filename(tmp_path):
    fullfn, _ = images.save_image(red(), str(tmp_path), "grid", seed=1, prompt="p", short_filename=True, grid=True)
    assert os.path.basename(fullfn) == "grid-0000.png"


def test_directory_pattern_and_grid_folders(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "directories_filename_pattern", "[model_name]/[seed]")
    fullfn, _ = images.save_image(red(), str(tmp_path), "", seed=5, prompt="p", p=make_p())
    assert fullfn == str(tmp_path / "demo model" / "5" / "00000-5.png")
    grid, _ = images.save_image(red(), str(tmp_path), "grid", seed=5, grid=True, short_filename=True)
    assert grid == str(tmp_path / "grid-0000.png")


def test_relative_path_goes_under_data_dir(tmp_path, monkeypatch):
    from modules import paths_internal

    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path))
    fullfn, _ = images.save_image(red(), "outputs/txt2img-images", "", seed=5, prompt="p", save_to_dirs=False)
    assert fullfn == str(tmp_path / "outputs" / "txt2img-images" / "00000-5.png")


def test_png_parameters_chunk_round_trip(tmp_path):
    info = 'a cat, "quoted"\nNegative prompt: ugly\nSteps: 20, Seed: 1234, Lora hashes: "a: 1, b: 2"'
    fullfn, _ = save(tmp_path, red(), seed=1234, info=info, existing_info={"extra": "x"})
    with Image.open(fullfn) as image:
        geninfo, items = images.read_info_from_image(image)
    assert geninfo == info
    assert items == {"extra": "x"}


def test_no_png_chunk_when_pnginfo_disabled(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "enable_pnginfo", False)
    fullfn, _ = save(tmp_path, red(), seed=1, info="a cat\nSteps: 20")
    with Image.open(fullfn) as image:
        assert images.read_info_from_image(image) == (None, {})


@pytest.mark.parametrize("extension", ["jpg", "webp"])
def test_exif_user_comment_round_trip(tmp_path, extension):
    info = "ein Kätzchen, 猫\nSteps: 20, Seed: 1"
    fullfn, _ = save(tmp_path, red(mode="RGBA"), seed=1, extension=extension, info=info)
    assert fullfn.endswith(f".{extension}")
    with Image.open(fullfn) as image:
        geninfo, items = images.read_info_from_image(image)
        assert image.mode == "RGB"
    assert geninfo == info
    assert "exif" not in items


def test_jpeg_quality_option_changes_file(tmp_path, monkeypatch):
    noise = Image.effect_noise((128, 128), 64).convert("RGB")
    monkeypatch.setitem(shared.opts.data, "jpeg_quality", 95)
    high, _ = save(tmp_path, noise, seed=1, extension="jpg")
    monkeypatch.setitem(shared.opts.data, "jpeg_quality", 20)
    low, _ = save(tmp_path, noise, seed=2, extension="jpg")
    assert os.path.getsize(low) < os.path.getsize(high)


def test_txt_sidecar(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "save_txt", True)
    fullfn, txt = save(tmp_path, red(), seed=3, info="a cat\nSteps: 20")
    assert txt == fullfn[: -len(".png")] + ".txt"
    with open(txt, encoding="utf8") as file:
        assert file.read() == "a cat\nSteps: 20\n"

    _, no_txt = save(tmp_path, red(), seed=4)
    assert no_txt is None


def test_no_temporary_files_left(tmp_path):
    save(tmp_path, red(), seed=1, info="x")
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(images, "save_image_with_geninfo", broken_save)
    with pytest.raises(OSError):
        save(tmp_path, red(), seed=1)
    assert os.listdir(tmp_path) == []


def test_samples_filename_pattern(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "samples_filename_pattern", "[seed]-[steps]-[cfg]-[sampler]-[model_name]")
    p = make_p()
    fullfn, _ = save(tmp_path, red(), seed=p.seed, prompt=p.prompt, p=p)
    assert os.path.basename(fullfn) == "00000-1234-20-7.5-Euler a-demo model.png"


def test_pattern_without_number(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "samples_filename_pattern", "[prompt_words]")
    monkeypatch.setitem(shared.opts.data, "save_images_add_number", False)
    fullfn, _ = save(tmp_path, red(), seed=1, prompt="a big, red: cat!", p=make_p())
    assert os.path.basename(fullfn) == "a big red cat.png"


def test_override_settings_pattern_and_forced_filename(tmp_path):
    p = make_p(override_settings={"samples_filename_pattern": "[width]x[height]"})
    fullfn, _ = save(tmp_path, red(), seed=1, p=p, suffix="-mask")
    assert os.path.basename(fullfn) == "00000-64x32-mask.png"
    forced, _ = save(tmp_path, red(), seed=1, forced_filename="exact", extension="jpg")
    assert os.path.basename(forced) == "exact.jpg"


def generate(pattern, p=None, seed=1234, prompt="a cat, on a mat", image=None):
    return images.FilenameGenerator(p, seed, prompt, image or red()).apply(pattern)


def test_filename_tags():
    p = make_p(styles=["None", "Anime", "Oil"], denoising_strength=0.5)
    assert generate("[seed]_[steps]_[cfg]_[width]x[height]", p) == "1234_20_7.5_64x32"
    assert generate("[styles]|[model_hash]|[clip_skip]|[denoising]", p) == "Anime, Oil|0123456789|2|0.5"
    assert generate("[prompt]", p) == "a_cat,_on_a_mat"
    assert generate("[prompt_spaces]", p) == "a cat, on a mat"
    assert generate("[prompt_words]", p) == "a cat on a mat"
    assert generate("[negative_prompt]", p) == "ugly"
    assert generate("[job_timestamp]", p) == "20240102030405"
    assert generate("[none]", p) == ""
    assert generate("[date]", p) == datetime.date.today().isoformat()


def test_prompt_hash_is_sha256_prefix():
    import hashlib

    assert generate("[prompt_hash]") == hashlib.sha256(b"a cat, on a mat").hexdigest()[:8]
    assert generate("[prompt_hash<12>]") == hashlib.sha256(b"a cat, on a mat").hexdigest()[:12]


def test_datetime_formats():
    before = datetime.datetime.now().strftime("%Y%m%d")
    assert generate("[datetime]").startswith(before)
    assert len(generate("[datetime]")) == 14
    assert generate("[datetime<%Y>]") == str(datetime.datetime.now().year)
    assert generate("[datetime<%H><UTC>]") == datetime.datetime.now(datetime.UTC).strftime("%H")
    assert generate("[datetime<%Y-%m/%d>]") == datetime.datetime.now().strftime("%Y-%m_%d")


def test_unknown_tags_and_missing_p_stay_as_text():
    assert generate("[seed]-[unknown_tag]") == "1234-[unknown_tag]"
    assert generate("[steps]-[model_name]", p=None) == "[steps]-[model_name]"


def test_batch_tags_skip_preceding_text():
    single = make_p()
    assert generate("[seed]-[batch_number]-[seed_last]", single) == "1234"
    batch = make_p(batch_size=2, batch_index=1, n_iter=3, iteration=2)
    assert generate("[seed_first]-[seed_last]-[batch_number]-[generation_number]", batch) == "1234-1235-2-6"
    assert generate("x-[denoising]-y", make_p()) == "-y"


def test_hasprompt():
    p = make_p()
    assert generate("[hasprompt<cat><dog|nodog>]", p) == "catnodog"


def test_prompt_no_styles(monkeypatch):
    style_db = SimpleNamespace(get_style_prompts=lambda names: ["masterpiece, {prompt}", "oil painting"])
    monkeypatch.setattr(shared, "prompt_styles", style_db)
    p = make_p(styles=["a", "b"])
    assert generate("[prompt_no_styles]", p, prompt="masterpiece, a cat, oil painting") == "a cat"


def test_sanitize_filename_part():
    assert images.sanitize_filename_part('a b<c>:"d/e\\f|g?h*i\n') == "a_b_c___d_e_f_g_h_i_"
    assert images.sanitize_filename_part(" lead and trail. ", replace_spaces=False) == "lead and trail"
    assert len(images.sanitize_filename_part("x" * 300)) == 128
    assert images.sanitize_filename_part(None) is None


def test_long_prompt_name_is_limited(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "samples_filename_pattern", "[seed]-[prompt_spaces]")
    fullfn, _ = save(tmp_path, red(), seed=1, prompt="word " * 200, p=make_p())
    assert os.path.exists(fullfn)
    assert len(os.path.basename(fullfn)) <= 255


@pytest.mark.parametrize(
    ("count", "n_rows", "prevent_empty", "batch_size", "expected"),
    [
        (4, -1, False, 1, (2, 2)),
        (5, -1, False, 1, (3, 2)),
        (6, -1, False, 1, (3, 2)),
        (6, -1, True, 1, (3, 2)),
        (5, -1, True, 1, (5, 1)),
        (8, -1, True, 1, (4, 2)),
        (6, 0, False, 3, (2, 3)),
        (6, 3, False, 1, (2, 3)),
        (2, 5, False, 1, (1, 2)),
    ],
)
def test_grid_shape(monkeypatch, count, n_rows, prevent_empty, batch_size, expected):
    monkeypatch.setitem(shared.opts.data, "n_rows", n_rows)
    monkeypatch.setitem(shared.opts.data, "grid_prevent_empty_spots", prevent_empty)
    grid = images.image_grid([red((10, 20))] * count, batch_size=batch_size)
    cols, rows = expected
    assert grid.size == (cols * 10, rows * 20)


def test_grid_places_images_in_rows_and_centres_small_ones():
    blue, small = Image.new("RGB", (10, 10), "blue"), Image.new("RGB", (4, 4), "lime")
    grid = images.image_grid([blue, blue, small], rows=2)
    assert grid.size == (20, 20)
    assert grid.getpixel((15, 5)) == (0, 0, 255)
    assert grid.getpixel((5, 15)) == (0, 255, 0)
    assert grid.getpixel((1, 11)) == (255, 255, 255)
    assert grid.getpixel((15, 15)) == (255, 255, 255)


def stripes():
    """100x50: left half red, right half blue, top row green."""
    image = Image.new("RGB", (100, 50), "red")
    image.paste(Image.new("RGB", (50, 50), "blue"), (50, 0))
    image.paste(Image.new("RGB", (100, 1), "lime"), (0, 0))
    return image


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_resize_modes_output_size(mode):
    assert images.resize_image(mode, stripes(), 64, 80).size == (64, 80)


def test_just_resize_stretches():
    res = images.resize_image(0, stripes(), 50, 50)
    assert res.getpixel((5, 25)) == (255, 0, 0)
    assert res.getpixel((45, 25)) == (0, 0, 255)


def test_crop_and_resize_keeps_centre():
    res = images.resize_image(1, stripes(), 50, 50, upscaler_name="Nearest")
    assert res.getpixel((0, 25)) == (255, 0, 0)
    assert res.getpixel((49, 25)) == (0, 0, 255)
    assert res.getpixel((24, 10)) == (255, 0, 0)
    assert res.getpixel((26, 10)) == (0, 0, 255)


def test_resize_and_fill_stretches_edges():
    res = images.resize_image(2, stripes(), 100, 100, upscaler_name="Nearest")
    assert res.getpixel((10, 10)) == (0, 255, 0)
    assert res.getpixel((10, 90)) == (255, 0, 0)
    assert res.getpixel((90, 90)) == (0, 0, 255)
    tall = stripes().transpose(Image.Transpose.ROTATE_90)
    res = images.resize_image(2, tall, 100, 100, upscaler_name="Nearest")
    assert res.getpixel((10, 50)) == (0, 255, 0)


def test_resize_keeps_mask_mode():
    assert images.resize_image(1, Image.new("L", (30, 10), 255), 20, 20).mode == "L"


def test_flatten_and_fix_image():
    transparent = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert images.flatten(transparent, "#ffffff").getpixel((0, 0)) == (255, 255, 255)

    rotated = red((4, 2))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.info["exif"] = exif.tobytes()
    assert images.fix_image(rotated).size == (2, 4)
    assert images.fix_image(None) is None


def test_image_data(tmp_path):
    fullfn, _ = save(tmp_path, red(), seed=1, info="a cat\nSteps: 20")
    with open(fullfn, "rb") as file:
        assert images.image_data(file.read()) == ("a cat\nSteps: 20", None)
    assert images.image_data(b"plain infotext") == ("plain infotext", None)
    assert images.image_data(b"\xff\xfe\x00bad") == (None, None)


def test_export_for_4chan_adds_small_jpg(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "export_for_4chan", True)
    monkeypatch.setitem(shared.opts.data, "target_side_length", 16)
    fullfn, _ = save(tmp_path, red(), seed=1, info="a cat\nSteps: 20")
    with Image.open(fullfn[: -len(".png")] + ".jpg") as small:
        assert small.size == (16, 8)
        assert images.read_info_from_image(small)[0] == "a cat\nSteps: 20"
    with Image.open(fullfn) as original:
        assert original.size == (64, 32)


def test_replace_action_add_number_suffix_keeps_existing_file(tmp_path, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "save_images_replace_action", "Add number suffix")
    first, _ = save(tmp_path, red(), forced_filename="same")
    second, _ = save(tmp_path, red(), forced_filename="same")
    assert (os.path.basename(first), os.path.basename(second)) == ("same.png", "same-1.png")
