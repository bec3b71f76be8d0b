import pytest

from modules import generation_parameters_copypaste, infotext_utils, shared
from modules.infotext_utils import build_infotext, create_infotext_line, parse_generation_parameters, quote, unquote

A1111_EXAMPLE = """masterpiece, best quality, 1girl, (smile:1.2),
<lora:detail:0.6> looking at viewer
Negative prompt: lowres, bad anatomy, (worst quality:1.4)
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 3141592653, Size: 512x768, Model hash: 6ce0161689, \
Model: v1-5-pruned-emaonly, Denoising strength: 0.55, Clip skip: 2, Hires upscale: 2, Hires steps: 15, \
Hires upscaler: Latent, Lora hashes: "detail: 62ff7a6e4b7a", TI hashes: "easynegative: c74b4e810b03, bad: 1", \
Version: v1.6.0"""


@pytest.fixture(autouse=True)
def plain_options(monkeypatch):
    monkeypatch.setitem(shared.opts.data, "infotext_styles", "Ignore")
    monkeypatch.setitem(shared.opts.data, "infotext_skip_pasting", [])


def test_quote_only_when_needed():
    assert quote("Euler a") == "Euler a"
    assert quote(7) == 7
    assert quote("a, b") == '"a, b"'
    assert quote("k: v") == '"k: v"'
    assert quote("two\nlines") == '"two\\nlines"'
    assert quote('say "hi", ok') == '"say \\"hi\\", ok"'
    assert quote("café, ü") == '"café, ü"'


def test_unquote():
    assert unquote('"a, b"') == "a, b"
    assert unquote("plain") == "plain"
    assert unquote("") == ""
    assert unquote('"broken') == '"broken'
    assert unquote('"not json\\"') == '"not json\\"'


def test_create_infotext_line():
    params = {"Steps": 20, "Sampler": "Euler a", "Seed": None, "Tiling": "Tiling", "Lora hashes": "a: 1, b: 2"}
    assert create_infotext_line(params) == 'Steps: 20, Sampler: Euler a, Tiling, Lora hashes: "a: 1, b: 2"'


def test_build_infotext_layout():
    params = {"Steps": 20, "Seed": 1}
    assert build_infotext("a cat", "", params) == "a cat\nSteps: 20, Seed: 1"
    assert build_infotext("a cat", "dog", params) == "a cat\nNegative prompt: dog\nSteps: 20, Seed: 1"
    assert build_infotext("", "dog", params) == "Negative prompt: dog\nSteps: 20, Seed: 1"


def test_round_trip():
    params = {
        "Steps": 20,
        "Sampler": "Euler a",
        "Schedule type": "Karras",
        "CFG scale": 7.0,
        "Seed": 1234,
        "Size": "640x448",
        "Model hash": "0123456789",
        "Model": "demo",
        "Lora hashes": 'x: 1, "quoted": 2',
        "Note": "line one\nline two: colon",
        "Version": "v1.0.0",
    }
    prompt = "a cat, sitting\non a (mat:1.2)\n\nthird line"
    negative = "blurry, ugly\nsecond negative line"

    res = parse_generation_parameters(build_infotext(prompt, negative, params))

    assert res["Prompt"] == prompt
    assert res["Negative prompt"] == negative
    assert (res["Size-1"], res["Size-2"]) == ("640", "448")
    assert "Size" not in res
    assert res["Lora hashes"] == 'x: 1, "quoted": 2'
    assert res["Note"] == "line one\nline two: colon"
    expected_plain = {"Steps": "20", "Sampler": "Euler a", "Schedule type": "Karras", "CFG scale": "7.0",
                      "Seed": "1234", "Model hash": "0123456789", "Model": "demo", "Version": "v1.0.0"}
    assert {k: res[k] for k in expected_plain} == expected_plain


def test_defaults_for_missing_keys():
    res = parse_generation_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 5")
    assert res["Clip skip"] == "1"
    assert res["Schedule type"] == "Automatic"
    assert res["RNG"] == "GPU"
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (0, 0)
    assert res["Hires sampler"] == "Use same sampler"
    assert res["Hires checkpoint"] == "Use same checkpoint"
    assert (res["Hires prompt"], res["Hires negative prompt"]) == ("", "")
    assert (res["Schedule max sigma"], res["Schedule min sigma"], res["Schedule rho"]) == (0, 0, 0)
    assert res["Negative prompt"] == ""
    assert "Emphasis" not in res


def test_last_line_needs_three_params():
    res = parse_generation_parameters("first line\nStyle: anime, Mood: calm")
    assert res["Prompt"] == "first line\nStyle: anime, Mood: calm"
    assert "Style" not in res


def test_real_a1111_infotext():
    res = parse_generation_parameters(A1111_EXAMPLE)
    assert res["Prompt"] == "masterpiece, best quality, 1girl, (smile:1.2),\n<lora:detail:0.6> looking at viewer"
    assert res["Negative prompt"] == "lowres, bad anatomy, (worst quality:1.4)"
    assert res["Sampler"] == "DPM++ 2M"
    assert res["Schedule type"] == "Karras"
    assert (res["Size-1"], res["Size-2"]) == ("512", "768")
    assert res["Seed"] == "3141592653"
    assert res["Clip skip"] == "2"
    assert res["Denoising strength"] == "0.55"
    assert res["Hires upscaler"] == "Latent"
    assert res["Lora hashes"] == "detail: 62ff7a6e4b7a"
    assert res["TI hashes"] == "easynegative: c74b4e810b03, bad: 1"
    assert res["Version"] == "v1.6.0"
    assert res["Emphasis"] == "Original"


def test_sampler_without_schedule_suffix_is_kept():
    res = parse_generation_parameters("p\nSteps: 20, Sampler: DPM++ 2M SDE, Schedule type: Exponential, Seed: 1")
    assert (res["Sampler"], res["Schedule type"]) == ("DPM++ 2M SDE", "Exponential")


def test_skip_fields(monkeypatch):
    text = "p\nSteps: 20, Sampler: Euler, Seed: 7, Size: 64x64"
    assert "Seed" not in parse_generation_parameters(text, skip_fields=["Seed", "Size-1"])
    monkeypatch.setitem(shared.opts.data, "infotext_skip_pasting", ["Steps"])
    res = parse_generation_parameters(text)
    assert "Steps" not in res
    assert res["Seed"] == "7"


def test_old_first_pass_size_becomes_hires_resize():
    res = parse_generation_parameters("p\nSteps: 20, Seed: 1, Size: 1024x1024, First pass size: 0x0")
    assert (res["Size-1"], res["Size-2"]) == (512, 512)
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (1024, 1024)


def test_styles_extraction(monkeypatch, tmp_path):
    from modules.styles import StyleDatabase

    (tmp_path / "styles.csv").write_text("name,prompt,negative_prompt\nshiny,\"{prompt}, shiny\",dull\n")
    monkeypatch.setattr(shared, "prompt_styles", StyleDatabase(tmp_path / "styles.csv"))
    monkeypatch.setitem(shared.opts.data, "infotext_styles", "Apply if any")

    res = parse_generation_parameters("a cat, shiny\nNegative prompt: ugly, dull\nSteps: 20, Seed: 1, CFG scale: 7")
    assert res["Styles array"] == ["shiny"]
    assert (res["Prompt"], res["Negative prompt"]) == ("a cat", "ugly")


def test_old_module_name_is_the_same_module():
    assert generation_parameters_copypaste is infotext_utils
