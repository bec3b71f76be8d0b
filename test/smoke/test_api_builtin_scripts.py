"""The built-in scripts through the API: X/Y/Z plot over Seed x Steps returns a labelled grid plus the cells."""

import json

import pytest

from test.smoke.api_helpers import TINY, ApiClient, from_base64

# A1111's script_args order: x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown, z_type,
# z_values, z_values_dropdown, draw_legend, include_lone_images (the rest take their defaults)
SEED_BY_STEPS = [1, "11, 12", [], 4, "1, 2", [], 0, "", [], True, True]


@pytest.fixture(scope="module")
def api(base_url) -> ApiClient:
    return ApiClient(base_url)


def test_builtin_scripts_are_listed_by_lower_case_title(api):
    listing = api.ok("GET", "scripts")
    builtin = {"x/y/z plot", "prompt matrix", "prompts from file or textbox"}
    assert builtin <= set(listing["txt2img"]) and "sd upscale" not in listing["txt2img"]
    assert builtin | {"sd upscale"} <= set(listing["img2img"])
    xyz = next(s for s in api.ok("GET", "script-info") if s["name"] == "x/y/z plot" and not s["is_img2img"])
    assert [a["label"] for a in xyz["args"]][:4] == ["X type", "X values", "X values", "Y type"]
    assert len(xyz["args"]) == 18


def test_xyz_plot_over_seed_and_steps_returns_a_labelled_grid_then_the_cells(api):
    result = api.ok("POST", "txt2img", {**TINY, "prompt": "a red circle", "script_name": "X/Y/Z plot",
                                        "script_args": SEED_BY_STEPS})
    info = json.loads(result["info"])
    assert len(result["images"]) == 5 and len(info["infotexts"]) == 5
    grid, *cells = [from_base64(encoded) for encoded in result["images"]]
    assert all(cell.size == (64, 64) for cell in cells)
    assert grid.width > 2 * 64 and grid.height > 2 * 64
    for text, (seed, steps) in zip(info["infotexts"][1:], [(11, 1), (12, 1), (11, 2), (12, 2)]):
        assert f"Seed: {seed}," in text and f"Steps: {steps}," in text
    assert "Script: X/Y/Z plot" in info["infotexts"][0] and "X Type: Seed" in info["infotexts"][0]
    assert grid.info["parameters"] == info["infotexts"][0]


def test_xyz_plot_takes_axis_types_by_label(api):
    args = ["Steps", "1, 2", [], "Nothing", "", [], "Nothing", "", [], False, False]
    result = api.ok("POST", "txt2img", {**TINY, "prompt": "x", "script_name": "x/y/z plot", "script_args": args})
    assert len(result["images"]) == 1
    assert from_base64(result["images"][0]).size == (128, 64)


@pytest.mark.parametrize(("script_args", "named"), [
    ([1, "11, 12", [], 4, "1, abc"], "'abc'"),
    (["Colour", "red"], "'Colour'"),
    ([9, "Euler, No Such Sampler"], "'No Such Sampler'"),
])
def test_bad_axis_values_are_422_naming_script_args(api, script_args, named):
    response = api.post("txt2img", {**TINY, "prompt": "x", "script_name": "X/Y/Z plot", "script_args": script_args})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("script_args") and named in detail
