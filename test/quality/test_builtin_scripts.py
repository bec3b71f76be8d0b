"""The built-in scripts in scripts/ (X/Y/Z plot, Prompt matrix, Prompts from file or textbox, SD upscale) and the
grid helpers they use, in-process on the tiny real model."""

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules import images, processing, script_loading, scripts, shared, upscaler
from modules.xyz_grid_axes import current_axis_options, find_axis_option
from modules.xyz_grid_values import csv_string_to_list_strip, typed_values
from test.conftest import REPO_ROOT

SMALL = {"width": 64, "height": 64, "steps": 1, "sampler_name": "Euler", "do_not_save_samples": True,
         "do_not_save_grid": True}
XYZ_DEFAULTS = ["Seed", "", [], "Nothing", "", [], "Nothing", "", [], True, False, False, False, False, False, False,
                0, False]


@pytest.fixture(scope="module")
def builtin():
    """The four script files, each imported as the script loader imports it."""
    return {name: script_loading.load_module(os.path.join(REPO_ROOT, "scripts", f"{name}.py"))
            for name in ("xyz_grid", "prompt_matrix", "prompts_from_file", "sd_upscale")}


@pytest.fixture(autouse=True)
def grid_options(monkeypatch):
    values = {"grid_save": False, "samples_save": False, "return_grid": True, "enable_pnginfo": True, "n_rows": -1,
              "grid_prevent_empty_spots": False, "grid_background_color": "#ffffff", "font": "",
              "grid_text_active_color": "#000000", "grid_text_inactive_color": "#999999", "CLIP_stop_at_last_layers": 1}
    for key, value in values.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    monkeypatch.setattr(shared, "sd_upscalers", upscaler.sd_upscalers)


def script(module, is_img2img=False):
    instance = module.Script()
    instance.is_img2img, instance.is_txt2img = is_img2img, not is_img2img
    return instance


def txt2img(**kwargs):
    return processing.StableDiffusionProcessingTxt2Img(**{"prompt": "a red circle", "seed": 1234, **SMALL, **kwargs})


def xyz_args(**changes) -> list:
    names = ["x_type", "x_values", "x_values_dropdown", "y_type", "y_values", "y_values_dropdown", "z_type",
             "z_values", "z_values_dropdown", "draw_legend", "include_lone_images", "include_sub_grids",
             "no_fixed_seeds", "vary_seeds_x", "vary_seeds_y", "vary_seeds_z", "margin_size", "csv_mode"]
    values = dict(zip(names, XYZ_DEFAULTS))
    values.update(changes)
    return [values[name] for name in names]


def pixels(image):
    return np.asarray(image.convert("RGB"), dtype=np.int16)


# --- the runner sees them with A1111's argument layout ------------------------------------------------------------

def test_runner_lays_out_the_builtin_scripts_with_a1111_argument_counts():
    scripts.load_scripts()
    counts = {}
    for is_img2img in (False, True):
        runner = scripts.ScriptRunner()
        runner.initialize_scripts(is_img2img)
        runner.ensure_args_layout()
        counts[is_img2img] = {s.title(): s.args_to - s.args_from for s in runner.selectable_scripts}
        xyz = runner.selectable_scripts[runner.selectable_index("x/y/z PLOT") - 1]
        assert runner.default_args[xyz.args_from] == "Seed"
    builtin_counts = {"X/Y/Z plot": 18, "Prompt matrix": 5, "Prompts from file or textbox": 5}
    assert builtin_counts.items() <= counts[False].items()
    assert "SD upscale" not in counts[False]
    assert {**builtin_counts, "SD upscale": 4}.items() <= counts[True].items()


# --- X/Y/Z plot: axis types and values -----------------------------------------------------------------------------

def test_axis_types_keep_a1111_indices_per_tab():
    txt2img_labels = [o.label for o in current_axis_options(False)]
    assert txt2img_labels[:12] == ["Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "Hires steps", "CFG Scale",
                                   "Prompt S/R", "Prompt order", "Sampler", "Hires sampler", "Checkpoint name"]
    img2img_labels = [o.label for o in current_axis_options(True)]
    assert img2img_labels[4:11] == ["Steps", "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
                                    "Checkpoint name"]
    for label in ("Schedule type", "Clip skip", "Denoising"):
        assert label in txt2img_labels and label in img2img_labels


def test_axis_type_by_index_or_label():
    options = current_axis_options(False)
    assert find_axis_option(options, 4, "X type").label == "Steps"
    assert find_axis_option(options, "4", "X type").label == "Steps"
    assert find_axis_option(options, "cfg scale", "X type").label == "CFG Scale"
    with pytest.raises(ValueError, match="Y type: unknown axis type 'Colour'"):
        find_axis_option(options, "Colour", "Y type")
    with pytest.raises(ValueError, match="unknown axis type 99"):
        find_axis_option(options, 99, "Y type")


@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("1-5", int, [1, 2, 3, 4, 5]),
    ("1-5 (+2)", int, [1, 3, 5]),
    ("10-4 (-3)", int, [10, 7, 4]),
    ("1-10 [5]", int, [1, 3, 5, 7, 10]),
    ("3, 7-8, 20", int, [3, 7, 8, 20]),
    ("-1, 5", int, [-1, 5]),
    ("0.5-1.5 (+0.5)", float, [0.5, 1.0, 1.5]),
    ("1-2 [3]", float, [1.0, 1.5, 2.0]),
    ("7, 9.5", float, [7.0, 9.5]),
])
def test_numeric_values_expand_ranges_as_a1111(text, kind, expected):
    assert typed_values(csv_string_to_list_strip(text), kind, "X axis") == expected


def test_csv_values_keep_quoted_commas():
    assert csv_string_to_list_strip('red, "big, blue", green') == ["red", "big, blue", "green"]


def test_non_numeric_value_names_axis_and_value():
    with pytest.raises(ValueError, match=r"X axis \(Steps\): invalid value 'ten' \(expected an integer\)"):
        typed_values(["5", "ten"], int, "X axis (Steps)")


@pytest.mark.parametrize(("axis_type", "values", "message"), [
    ("Steps", "1, abc", "Y axis (Steps): invalid value 'abc'"),
    ("Sampler", "Euler, No Such Sampler", "Y axis (Sampler): unknown sampler 'No Such Sampler'"),
    ("Checkpoint name", "no-such-model", "Y axis (Checkpoint name): unknown checkpoint 'no-such-model'"),
    ("Schedule type", "Karras, Wobbly", "Y axis (Schedule type): unknown schedule type 'Wobbly'"),
    ("Prompt S/R", "purple, green", "Prompt S/R did not find 'purple'"),
    ("Clip skip", "1, 13", "out of range"),
    ("Size", "64x64, big", "invalid size 'big'"),
    ("Steps", "", "Y axis (Steps): no values given"),
])
def test_invalid_axis_values_fail_before_generating(builtin, engine_ready, monkeypatch, axis_type, values, message):
    calls = []
    monkeypatch.setattr(processing, "process_images", lambda p: calls.append(p))
    with pytest.raises(ValueError) as raised:
        script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_values="1", y_type=axis_type, y_values=values))
    assert message in str(raised.value)
    assert calls == []


@pytest.mark.parametrize(("axis_type", "values", "message"), [
    ("Steps", "1-1000000000", "Y axis (Steps): the range 1-1000000000 (+1) gives 1000000000 values, more than the "
                              "limit of 1000 per axis"),
    ("Steps", "1-10 [5000]", "Y axis (Steps): the range '1-10 [5000]' gives 5000 values"),
    ("CFG Scale", "1-1000000 (+0.5)", "Y axis (CFG Scale): the range '1-1000000 (+0.5)' gives 1999999 values"),
    ("Seed", ", ".join(map(str, range(1001))), "Y axis (Seed): the list gives 1001 values, more than the limit"),
    ("Seed", "1-600, 1-600", "Y axis (Seed): the list gives 1200 values"),
    ("Prompt order", "a, b, c, d, e, f, g", "Y axis (Prompt order): ordering 7 prompt parts gives 5040 values"),
    ("CFG Scale", "1-" + "9" * 400, "a range too large to count"),
    ("Steps", "1-" + "9" * 400 + " [3]", "Y axis (Steps): bad range"),
])
def test_axis_value_counts_are_capped_before_expanding(builtin, engine_ready, monkeypatch, axis_type, values,
                                                       message):
    monkeypatch.setattr(processing, "process_images", lambda p: pytest.fail("nothing may be generated"))
    with pytest.raises(ValueError) as raised:
        script(builtin["xyz_grid"]).run(txt2img(prompt="a, b, c, d, e, f, g"),
                                        *xyz_args(x_values="1", y_type=axis_type, y_values=values))
    assert message in str(raised.value)


def test_axis_cap_leaves_room_for_a_thousand_values():
    assert len(typed_values(["1-1000"], int, "X axis")) == 1000
    assert len(typed_values(["a", "b", "c", "d", "e", "f"], find_axis_option(current_axis_options(False),
                                                                               "Prompt order", "X").type, "X")) == 720


def test_total_cell_count_is_capped(builtin, engine_ready, monkeypatch):
    monkeypatch.setattr(processing, "process_images", lambda p: pytest.fail("nothing may be generated"))
    with pytest.raises(ValueError, match=r"X/Y/Z plot: 100 x 101 x 1 = 10100 cells, more than the limit of 10000"):
        script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_values="1-100", y_type="Steps", y_values="1-101"))


@pytest.mark.parametrize("fails", [False, True])
def test_pillow_pixel_limit_is_lifted_only_while_the_grid_is_built(builtin, engine_ready, monkeypatch, fails):
    module = builtin["xyz_grid"]
    seen = []

    def draw_xyz_grid(p, **kwargs):
        seen.append(Image.MAX_IMAGE_PIXELS)
        if fails:
            raise RuntimeError("drawing failed")
        return processing.Processed(p, [])

    monkeypatch.setattr(module, "draw_xyz_grid", draw_xyz_grid)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12345)
    if fails:
        with pytest.raises(RuntimeError, match="drawing failed"):
            script(module).run(txt2img(), *xyz_args(x_values="1, 2"))
    else:
        assert script(module).run(txt2img(), *xyz_args(x_values="1, 2")).images == []
    assert seen == [None]
    assert Image.MAX_IMAGE_PIXELS == 12345


def test_random_seeds_on_a_seed_axis_are_fixed_once(builtin, sd_model, monkeypatch):
    seen = []
    original = processing.process_images
    monkeypatch.setattr(processing, "process_images", lambda p: seen.append(p.seed) or original(p))
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_values="-1, -1"))
    assert len(seen) == 2 and all(0 <= seed < 4294967294 for seed in seen)
    assert f"Fixed X Values: \"{seen[0]}, {seen[1]}\"" in result.infotexts[0]


# --- X/Y/Z plot: grids and cells ---------------------------------------------------------------------------------

def test_seed_by_steps_gives_a_labelled_grid_then_cells_equal_to_single_generations(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_values="11, 12", y_type="Steps", y_values="1, 2",
                                                                   include_lone_images=True))
    assert len(result.images) == 5 and len(result.infotexts) == 5
    grid, cells = result.images[0], result.images[1:]
    assert grid.width > 2 * 64 and grid.height > 2 * 64
    expected = [(11, 1), (12, 1), (11, 2), (12, 2)]
    for cell, text, (seed, steps) in zip(cells, result.infotexts[1:], expected):
        assert cell.size == (64, 64)
        assert f"Seed: {seed}," in text and f"Steps: {steps}," in text
        single = processing.process_images(txt2img(seed=seed, steps=steps))
        assert np.array_equal(pixels(cell), pixels(single.images[0])), (seed, steps)
    assert "Script: X/Y/Z plot" in result.infotexts[0]
    assert "X Type: Seed" in result.infotexts[0] and 'X Values: "11, 12"' in result.infotexts[0]
    assert "Y Type: Steps" in result.infotexts[0]
    assert grid.info["parameters"] == result.infotexts[0] == result.info
    assert result.all_seeds == [11, 12, 11, 12]


def test_legend_adds_labels_around_the_bare_grid(builtin, sd_model):
    args = {"x_values": "11, 12", "y_type": "Steps", "y_values": "1, 2", "include_lone_images": True}
    labelled = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(**args))
    bare = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(**args, draw_legend=False))
    assert bare.images[0].size == (128, 128)
    assert labelled.images[0].width > 128 and labelled.images[0].height > 128
    top_left_cell = labelled.images[0].crop((labelled.images[0].width - 128, labelled.images[0].height - 128,
                                             labelled.images[0].width - 64, labelled.images[0].height - 64))
    assert np.array_equal(pixels(top_left_cell), pixels(bare.images[1]))
    label_band = pixels(labelled.images[0].crop((0, 0, labelled.images[0].width, 8)))
    assert (label_band < 128).any(), "the column labels are drawn in dark text above the cells"


def test_z_axis_gives_one_sub_grid_per_value_and_a_main_grid_over_them(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_values="5, 6", z_type="CFG Scale",
                                                                   z_values="3, 9", include_sub_grids=True))
    assert len(result.images) == 3
    main, first, second = result.images
    assert first.size == second.size
    assert main.width >= first.width + second.width
    assert "Z Type: CFG Scale" in result.infotexts[0]
    assert "CFG scale: 3" in result.infotexts[1] and "CFG scale: 9" in result.infotexts[2]


def test_vary_seeds_gives_each_cell_along_x_its_own_seed(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(seed=40), *xyz_args(x_type="CFG Scale", x_values="3, 5, 7",
                                                                         include_lone_images=True, vary_seeds_x=True))
    assert result.all_seeds == [40, 41, 42]


def test_prompt_sr_replaces_the_first_value(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(prompt="a red circle, red"),
                                             *xyz_args(x_type="Prompt S/R", x_values="red, blue",
                                                       include_lone_images=True))
    assert result.all_prompts == ["a red circle, red", "a blue circle, blue"]


def test_sampler_and_schedule_type_axes_set_both(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_type="Sampler", x_values_dropdown=["Euler", "DDIM"],
                                                                  y_type="Schedule type", y_values="Karras",
                                                                  include_lone_images=True))
    assert "Sampler: Euler, Schedule type: Karras" in result.infotexts[1]
    assert "Sampler: DDIM, Schedule type: Karras" in result.infotexts[2]


def test_clip_skip_axis_applies_each_value_and_restores_the_option(builtin, sd_model):
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_type="Clip skip", x_values="1, 2",
                                                                  include_lone_images=True))
    assert "Clip skip" not in result.infotexts[1]
    assert "Clip skip: 2" in result.infotexts[2]
    assert shared.opts.CLIP_stop_at_last_layers == 1


def test_clip_skip_is_restored_when_generation_fails(builtin, sd_model, monkeypatch):
    seen = []

    def failing_generation(p):
        seen.append(shared.opts.CLIP_stop_at_last_layers)
        raise RuntimeError("sampler exploded")

    monkeypatch.setattr(processing, "process_images_inner", failing_generation)
    with pytest.raises(RuntimeError, match="sampler exploded"):
        script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(x_type="Clip skip", x_values="2, 3"))
    assert seen == [2, 3]
    assert shared.opts.CLIP_stop_at_last_layers == 1


@pytest.mark.parametrize("restore_afterwards", [True, False])
def test_the_requests_own_overrides_hold_in_every_cell_and_outlive_the_plot_only_if_asked(builtin, sd_model,
                                                                                         monkeypatch,
                                                                                         restore_afterwards):
    """Each cell is a layer over the plot's, which holds the request's override_settings (M11: no restore stack);
    an axis value lasts for its cell only, the request's overrides last after the plot with
    override_settings_restore_afterwards=False, as A1111 keeps them."""
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    seen = []
    real = processing.process_images_inner

    def recording(p):
        seen.append((shared.opts.eta_noise_seed_delta, shared.opts.CLIP_stop_at_last_layers))
        return real(p)

    monkeypatch.setattr(processing, "process_images_inner", recording)
    p = txt2img(override_settings={"eta_noise_seed_delta": 7},
                override_settings_restore_afterwards=restore_afterwards)
    script(builtin["xyz_grid"]).run(p, *xyz_args(x_type="Clip skip", x_values="2, 3"))
    assert seen == [(7, 2), (7, 3)]
    assert shared.opts.CLIP_stop_at_last_layers == 1
    assert shared.opts.eta_noise_seed_delta == (0 if restore_afterwards else 7)


def test_checkpoint_axis_switches_models_and_the_next_generation_uses_the_selected_one(builtin, sd_model,
                                                                                      second_checkpoint):
    original_file, original_title = sd_model.sd_checkpoint_info.filename, shared.opts.sd_model_checkpoint
    result = script(builtin["xyz_grid"]).run(txt2img(), *xyz_args(
        x_type="Checkpoint name", x_values_dropdown=[sd_model.sd_checkpoint_info.title, second_checkpoint.title],
        include_lone_images=True))
    assert f"Model: {sd_model.sd_checkpoint_info.name_for_extra}," in result.infotexts[1]
    assert "Model: other-sd15," in result.infotexts[2]
    assert not np.array_equal(pixels(result.images[1]), pixels(result.images[2]))
    assert shared.opts.sd_model_checkpoint == original_title, "the selected checkpoint never changed"
    after = processing.process_images(txt2img())
    assert f"Model: {sd_model.sd_checkpoint_info.name_for_extra}," in after.infotexts[0]
    assert shared.sd_model.sd_checkpoint_info.filename == original_file


# --- grid helpers ----------------------------------------------------------------------------------------------

def test_grid_annotations_add_a_label_band_and_keep_cells():
    grid = Image.new("RGB", (128, 64), "red")
    labelled = images.draw_grid_annotations(grid, 64, 64, [[images.GridAnnotation("Seed: 1")],
                                                           [images.GridAnnotation("Seed: 2")]],
                                            [[images.GridAnnotation("Steps: 3")]], margin=4)
    pad_left, pad_top = labelled.width - 128 - 4, labelled.height - 64
    assert pad_left == 48 and pad_top > 0
    assert labelled.getpixel((pad_left + 10, pad_top + 10)) == (255, 0, 0)
    assert labelled.getpixel((pad_left + 64 + 2, pad_top + 10)) == (255, 255, 255), "the margin between cells"
    with pytest.raises(ValueError, match="bad number of horizontal texts"):
        images.draw_grid_annotations(grid, 64, 64, [[images.GridAnnotation("a")]], [[images.GridAnnotation("b")]])


def test_split_and_combine_grid_round_trip_with_overlap():
    source = Image.fromarray(np.random.RandomState(0).randint(0, 255, (150, 200, 3), dtype=np.uint8))
    grid = images.split_grid(source, tile_w=64, tile_h=64, overlap=16)
    assert [y for y, _h, _row in grid.tiles] == [0, 43, 86]
    assert [x for x, _w, _tile in grid.tiles[0][2]] == [0, 45, 90, 136]
    assert all(tile.size == (64, 64) for _y, _h, row in grid.tiles for _x, _w, tile in row)
    assert np.array_equal(np.asarray(images.combine_grid(grid)), np.asarray(source))


def test_combine_grid_blends_across_the_overlap():
    grid = images.split_grid(Image.new("RGB", (96, 64)), tile_w=64, tile_h=64, overlap=32)
    grid.tiles[0][2][0][2] = Image.new("RGB", (64, 64), (0, 0, 0))
    grid.tiles[0][2][1][2] = Image.new("RGB", (64, 64), (200, 200, 200))
    row = np.asarray(images.combine_grid(grid))[10, :, 0]
    assert row[0] == 0 and row[95] == 200
    assert list(row[32:64]) == sorted(row[32:64]) and 0 < row[48] < 200


# --- Prompt matrix ------------------------------------------------------------------------------------------------

def test_prompt_matrix_parts(builtin):
    matrix_prompts = builtin["prompt_matrix"].matrix_prompts
    parts, prompts = matrix_prompts("a circle|red|big", False, ", ")
    assert parts == ["a circle", "red", "big"]
    assert prompts == ["a circle", "a circle, red", "a circle, big", "a circle, red, big"]
    assert matrix_prompts("circle|red", True, " ")[1] == ["circle", "red circle"]


def test_prompt_matrix_generates_every_combination_under_a_labelled_grid(builtin, sd_model):
    result = script(builtin["prompt_matrix"]).run(txt2img(prompt="a circle|red|big"), False, False, "positive",
                                                  "comma", 0)
    assert len(result.images) == 5
    assert result.all_prompts == ["a circle", "a circle, red", "a circle, big", "a circle, red, big"]
    assert result.all_seeds == [1234] * 4
    assert result.images[0].width > 128 and result.images[0].height > 128
    assert result.index_of_first_image == 1


def test_prompt_matrix_on_the_negative_prompt_with_different_seeds(builtin, sd_model):
    result = script(builtin["prompt_matrix"]).run(txt2img(negative_prompt="dark|blurry"), False, True, "negative",
                                                  "space", 0)
    assert result.all_negative_prompts == ["dark", "dark blurry"]
    assert result.all_seeds == [1234, 1235]


def test_prompt_matrix_rejects_unknown_choices(builtin):
    with pytest.raises(ValueError, match="Unknown prompt type"):
        script(builtin["prompt_matrix"]).run(txt2img(), False, False, "both", "comma", 0)


def test_prompt_matrix_caps_the_number_of_optional_parts(builtin, monkeypatch):
    module = builtin["prompt_matrix"]
    assert len(module.matrix_prompts("base" + "|x" * 12, False, ", ")[1]) == 4096
    monkeypatch.setattr(processing, "process_images", lambda p: pytest.fail("nothing may be generated"))
    with pytest.raises(ValueError, match=r"Prompt matrix: 13 optional parts would make 2\*\*13 prompts; the limit "
                                         r"is 12 parts \(4096 prompts\)"):
        script(module).run(txt2img(prompt="base" + "|x" * 13), False, False, "positive", "comma", 0)


# --- Prompts from file or textbox -------------------------------------------------------------------------------

def test_command_line_parsing(builtin, engine_ready):
    cmdargs = builtin["prompts_from_file"].cmdargs
    assert cmdargs('--prompt "a cat" on a mat --negative_prompt dark --steps 3 --cfg_scale 5.5 '
                   '--sampler_name k_euler --styles "one, two" --tiling true') == {
        "prompt": "a cat on a mat", "negative_prompt": "dark", "steps": 3, "cfg_scale": 5.5, "sampler_name": "Euler",
        "styles": ["one", "two"], "tiling": True}


@pytest.mark.parametrize(("line", "message"), [
    ("--prompt cat --colour red", "line 2: unknown commandline option: --colour"),
    ("--prompt cat --steps", "line 2: missing argument for command line option --steps"),
    ("--steps many", "line 2: bad value for --steps: 'many'"),
    ("--sampler_name Wobbly", "line 2: bad value for --sampler_name: 'Wobbly' (unknown sampler: Wobbly)"),
    ("--sd_model nothing-like-it", "unknown checkpoint: nothing-like-it"),
    ('--prompt "unclosed', "line 2: cannot split the line"),
])
def test_bad_command_lines_are_errors_naming_line_and_option(builtin, engine_ready, monkeypatch, line, message):
    monkeypatch.setattr(processing, "process_images", lambda p: pytest.fail("nothing may be generated"))
    with pytest.raises(ValueError) as raised:
        script(builtin["prompts_from_file"]).run(txt2img(), False, False, "start", f"a dog\n{line}")
    assert message in str(raised.value)


def test_each_line_is_a_generation_with_its_settings(builtin, sd_model):
    text = 'a red circle\n\n--prompt "a blue square" --steps 2 --seed 5 --negative_prompt dark\n'
    result = script(builtin["prompts_from_file"]).run(txt2img(prompt="", seed=77), False, False, "start", text)
    assert len(result.images) == 2
    assert result.infotexts[0].startswith("a red circle\n") and "Seed: 77," in result.infotexts[0]
    assert result.infotexts[1].startswith("a blue square\nNegative prompt: dark\n")
    assert "Steps: 2," in result.infotexts[1] and "Seed: 5," in result.infotexts[1]


def test_line_prompts_go_at_the_start_or_end_of_the_main_prompt(builtin, sd_model):
    run = script(builtin["prompts_from_file"]).run
    assert run(txt2img(prompt="base"), False, False, "start", "line").all_prompts == ["line base"]
    assert run(txt2img(prompt="base"), False, False, "end", "line").all_prompts == ["base line"]


def test_iterate_seed_every_line_and_same_random_seed(builtin, sd_model):
    run = script(builtin["prompts_from_file"]).run
    assert run(txt2img(seed=10), True, False, "start", "a\nb\nc").all_seeds == [10, 11, 12]
    same = run(txt2img(seed=-1), False, True, "start", "a\nb").all_seeds
    assert same[0] == same[1] != -1


def test_batch_lines_together_one_image_per_line(builtin, sd_model, monkeypatch):
    batches = []
    original = processing.process_images
    monkeypatch.setattr(processing, "process_images", lambda p: batches.append(p.batch_size) or original(p))
    result = script(builtin["prompts_from_file"]).run(txt2img(prompt="", seed=20, batch_size=2), True, False, "start",
                                                      "a\nb\nc", True)
    assert batches == [2, 1]
    assert result.all_prompts == ["a", "b", "c"]
    assert result.all_seeds == [20, 21, 22]


def test_uploaded_file_fills_the_textbox(builtin):
    cleared, update = builtin["prompts_from_file"].load_prompt_file(b"first line\r\n  second  \n")
    assert cleared is None
    assert update["value"] == "first line\nsecond\n"


@pytest.mark.parametrize("option", ["outpath_samples", "outpath_grids"])
def test_output_directories_are_refused_in_api_requests(builtin, engine_ready, monkeypatch, tmp_path, option):
    monkeypatch.setattr(processing, "process_images", lambda p: pytest.fail("nothing may be generated"))
    p = txt2img()
    p.is_api = True
    with pytest.raises(ValueError, match=f"line 2: --{option} is not allowed in API requests"):
        script(builtin["prompts_from_file"]).run(p, False, False, "start", f"a dog\n--prompt cat --{option} {tmp_path}")


def test_output_directories_still_work_from_the_ui(builtin, engine_ready, monkeypatch, tmp_path):
    used = []

    def process_images(p):
        used.append((p.outpath_samples, p.outpath_grids))
        return processing.Processed(p, [])

    monkeypatch.setattr(processing, "process_images", process_images)
    text = f"--prompt cat --outpath_samples {tmp_path / 'a'} --outpath_grids {tmp_path / 'b'}"
    script(builtin["prompts_from_file"]).run(txt2img(), False, False, "start", text)
    assert used == [(str(tmp_path / "a"), str(tmp_path / "b"))]


def test_uploaded_file_by_path_is_read_and_closed(builtin, monkeypatch, tmp_path):
    module = builtin["prompts_from_file"]
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"one\ntwo\n")
    handles = []

    def tracking_open(*args, **kwargs):
        handles.append(open(*args, **kwargs))
        return handles[-1]

    monkeypatch.setattr(module, "open", tracking_open, raising=False)
    _, update = module.load_prompt_file(str(path))
    assert update["value"] == "one\ntwo\n"
    assert len(handles) == 1 and handles[0].closed


# --- SD upscale -------------------------------------------------------------------------------------------------

@pytest.fixture
def init_image():
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((8, 8, 56, 56), fill="red")
    return image


def img2img(init_image, **kwargs):
    return processing.StableDiffusionProcessingImg2Img(**{"prompt": "a red circle", "seed": 3, "init_images":
                                                          [init_image], "denoising_strength": 0.3, **SMALL, **kwargs})


def test_sd_upscale_tiles_the_upscaled_image_and_recombines_it(builtin, sd_model, init_image, monkeypatch):
    tiles = []
    original = processing.process_images
    monkeypatch.setattr(processing, "process_images", lambda p: tiles.extend(p.init_images) or original(p))
    result = script(builtin["sd_upscale"], True).run(img2img(init_image, batch_size=2), None, 32, "Lanczos", 2.0)
    assert len(result.images) == 1
    assert result.images[0].size == (128, 128)
    assert len(tiles) == 9 and all(tile.size == (64, 64) for tile in tiles)
    assert "SD upscale overlap: 32" in result.info and "SD upscale upscaler: Lanczos" in result.info


def test_sd_upscale_puts_the_redrawn_tiles_back_where_they_were_cut(builtin, init_image, monkeypatch):
    """With an img2img that returns its tiles unchanged, the result is exactly the upscaled image."""
    def unchanged_tiles(p):
        return processing.Processed(p, list(p.init_images), seed=p.seed, info="tiles")

    monkeypatch.setattr(processing, "process_images", unchanged_tiles)
    result = script(builtin["sd_upscale"], True).run(img2img(init_image), None, 16, "Lanczos", 2.5)
    upscaled = init_image.resize((160, 160), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(result.images[0]), pixels(upscaled))


def test_sd_upscale_by_upscaler_index_and_none_keeps_the_size(builtin, sd_model, init_image):
    names = [u.name for u in shared.sd_upscalers]
    result = script(builtin["sd_upscale"], True).run(img2img(init_image), None, 0, names.index("None"), 3.0)
    assert result.images[0].size == (64, 64)


def test_sd_upscale_unknown_upscaler_is_an_error(builtin, init_image):
    with pytest.raises(ValueError, match="unknown upscaler 'Magic'"):
        script(builtin["sd_upscale"], True).run(img2img(init_image), None, 32, "Magic", 2.0)
