"""M12: the server writes only inside its data dir. Output folders outside it, and file-name patterns with '..',
absolute parts or NUL, are refused on every surface (POST /options, override_settings, the settings page, opts.set:
403 or 422 naming the field, nothing changed); and what a pattern expands to never leads out of its folder."""

import json
import os

import pytest
from PIL import Image

from modules import images, output_paths, paths_internal, shared, ui_settings
from test.api_client import in_process_api

DATA = paths_internal.data_path


@pytest.mark.parametrize(("key", "value"), [
    ("outdir_samples", "/etc"), ("outdir_txt2img_samples", "../elsewhere"), ("temp_dir", "/tmp"),
    ("outdir_grids", os.path.join(DATA, "..", "sibling")),
    ("directories_filename_pattern", "../../[seed]"), ("directories_filename_pattern", "/abs/[seed]"),
    ("samples_filename_pattern", "..\\..\\[seed]"), ("samples_filename_pattern", "a/../../b"),
])
def test_a_value_leading_out_of_the_data_dir_is_refused(key, value):
    with pytest.raises(output_paths.OutsideDataDir, match=key):
        output_paths.check_option(key, value, DATA)


@pytest.mark.parametrize(("key", "value"), [
    ("outdir_samples", ""), ("outdir_samples", "outputs/mine"), ("outdir_grids", os.path.join(DATA, "grids")),
    ("directories_filename_pattern", "[date]/[seed]"), ("samples_filename_pattern", "[seed]-[prompt_spaces]"),
    ("samples_filename_pattern", "..[seed].."), ("jpeg_quality", 80),
])
def test_a_value_inside_the_data_dir_is_accepted(key, value):
    output_paths.check_option(key, value, DATA)


def test_nul_is_not_a_file_name_character():
    with pytest.raises(output_paths.NotAFileName, match="samples_filename_pattern"):
        output_paths.check_option("samples_filename_pattern", "[seed]\0.png", DATA)


@pytest.mark.parametrize(("expanded", "folder"), [("../../etc", "etc"), ("/abs/x", os.path.join("abs", "x")),
                                                  ("a/./b", os.path.join("a", "b")), ("..\\..", ""), ("", ""),
                                                  ("a\0b", "ab")])
def test_an_expanded_folder_pattern_becomes_plain_names(expanded, folder):
    assert output_paths.relative_folder(expanded) == folder


@pytest.mark.parametrize(("expanded", "name"), [("a/b", "a_b"), ("..", "_"), ("x\\..\\y", "x_.._y"), ("a\0", "a_")])
def test_an_expanded_file_name_pattern_becomes_one_name(expanded, name):
    assert output_paths.file_name(expanded) == name


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"outdir_samples": "/etc"}, 403, "outdir_samples"),
    ({"jpeg_quality": 50, "outdir_save": "../../x"}, 403, "outdir_save"),
    ({"directories_filename_pattern": "../../[seed]"}, 403, "directories_filename_pattern"),
    ({"samples_filename_pattern": "[seed]\0"}, 422, "samples_filename_pattern"),
])
def test_post_options_refuses_and_changes_nothing(config_on_disk, body, status, field):
    before_memory, before_disk = dict(shared.opts.data), config_on_disk.read_text()
    response = in_process_api().post("/sdapi/v1/options", json=body)
    assert response.status_code == status
    assert response.json()["detail"].startswith(f"{field}:")
    assert shared.opts.data == before_memory and config_on_disk.read_text() == before_disk


def test_an_override_leading_out_is_refused_before_anything_runs(sd_model):
    response = in_process_api().post("/sdapi/v1/txt2img", json={
        "prompt": "x", "steps": 1, "width": 64, "height": 64,
        "override_settings": {"save_to_dirs": True, "directories_filename_pattern": "../../escaped"}})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("override_settings.directories_filename_pattern:")


def test_the_settings_page_refuses_and_says_why(config_on_disk):
    before_disk = config_on_disk.read_text()
    changed, problems = ui_settings.apply_settings(["outdir_samples"], ["/etc"])
    assert changed == [] and len(problems) == 1 and "outside the data folder" in problems[0]
    assert shared.opts.outdir_samples != "/etc" and config_on_disk.read_text() == before_disk


def test_a_pattern_already_in_the_settings_cannot_lead_a_saved_file_out(tmp_path, monkeypatch):
    """config.json edited by hand (it is read without the checks): the save still stays in its folder."""
    for key, value in {"save_to_dirs": True, "directories_filename_pattern": "../../../escaped-[seed]",
                       "samples_filename_pattern": "../../up-[seed]", "save_images_add_number": False}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    folder = tmp_path / "out"
    saved, _ = images.save_image(Image.new("RGB", (8, 8)), str(folder), "", seed=5, prompt="x", extension="png")
    assert output_paths.is_inside(saved, folder)
    assert os.path.relpath(saved, folder) == os.path.join("escaped-5", ".._.._up-5.png")
    assert json.dumps(sorted(os.listdir(tmp_path))) == '["out"]'


def test_the_settings_page_refuses_what_the_api_refuses(config_on_disk):
    """api_forbid_local_requests and the other API-restricted options change only in config.json."""
    changed, problems = ui_settings.apply_settings(["api_forbid_local_requests"], [False])
    assert changed == [] and "cannot be changed through the API" in problems[0]
    assert shared.opts.api_forbid_local_requests is True
    assert "config.json" in ui_settings.frozen_reason("api_forbid_local_requests")
