"""tools/golden/compare.py on hand-made capture folders: what counts as a difference, and how it is reported."""

import json
import os

import pytest
from PIL import Image

from tools.golden import compare

FACTS = {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6", "pillow": "12.3.0", "system": "Linux",
         "machine": "x86_64", "cpu_capability": "AVX512", "torch_threads": 1,
         "cpu": "AuthenticAMD AMD EPYC"}


def write_capture(folder, pixels=(10, 20, 30), infotext="a cat\nSteps: 4, Seed: 1", files=("outputs/a/00000-1.png",),
                  options_after=None, facts=FACTS, changed_pixel=None):
    os.makedirs(os.path.join(folder, "images"))
    image = Image.new("RGB", (8, 8), pixels)
    if changed_pixel is not None:
        image.putpixel((3, 5), changed_pixel)
    image.save(os.path.join(folder, "images", "one-0.png"))
    case = {"images": ["one-0.png"], "infotexts": [infotext], "files": list(files), "options_changed": {}}
    with open(os.path.join(folder, "results.json"), "w", encoding="utf8") as file:
        json.dump({"cases": {"one": case}, "options_after": options_after or {"steps": 20}}, file)
    with open(os.path.join(folder, "platform.json"), "w", encoding="utf8") as file:
        json.dump(facts, file)
    return str(folder)


def test_identical_captures_have_no_difference(tmp_path):
    assert compare.compare(write_capture(tmp_path / "a"), write_capture(tmp_path / "b")) == []


def test_one_changed_pixel_is_reported_with_its_position(tmp_path):
    differences = compare.compare(write_capture(tmp_path / "a"), write_capture(tmp_path / "b", changed_pixel=(11, 20, 30)))
    assert differences == ["[one] pixels one-0.png: 1 of 64 pixels differ, max |d| 1, mean |d| 0.005; "
                           "first at x=3 y=5: (10, 20, 30) -> (11, 20, 30)"]


def test_tolerance_accepts_small_drift_but_not_a_changed_image(tmp_path):
    expected = write_capture(tmp_path / "a")
    drift = write_capture(tmp_path / "b", changed_pixel=(12, 20, 30))
    changed = write_capture(tmp_path / "c", pixels=(200, 20, 30))
    assert compare.compare(expected, drift, compare.CROSS_PLATFORM_TOLERANCE) == []
    assert len(compare.compare(expected, changed, compare.CROSS_PLATFORM_TOLERANCE)) == 1


def test_infotext_file_names_and_options_are_compared_exactly(tmp_path):
    expected = write_capture(tmp_path / "a")
    actual = write_capture(tmp_path / "b", infotext="a cat\nSteps: 4, Seed: 2", files=("outputs/a/00001-1.png",),
                           options_after={"steps": 21})
    assert compare.compare(expected, actual, compare.CROSS_PLATFORM_TOLERANCE) == [
        "[one] infotext 0:\n    -Steps: 4, Seed: 1\n    +Steps: 4, Seed: 2",
        "[one] saved files:\n    -outputs/a/00000-1.png\n    +outputs/a/00001-1.png",
        "options after the run: steps: 20 -> 21",
    ]


@pytest.mark.parametrize(("key", "value"), [("torch", "2.14.0+cpu"), ("cpu_capability", "AVX2"), ("machine", "arm64"),
                                           ("cpu", "GenuineIntel Intel(R) Xeon(R)")])
def test_pixels_are_exact_on_the_same_platform_only(tmp_path, key, value):
    expected = write_capture(tmp_path / "a")
    assert compare.tolerance_for(expected, write_capture(tmp_path / "b")) is None
    other = write_capture(tmp_path / "c", facts={**FACTS, key: value})
    assert compare.tolerance_for(expected, other) == compare.CROSS_PLATFORM_TOLERANCE


def test_missing_and_new_cases_are_reported(tmp_path):
    expected = write_capture(tmp_path / "a")
    actual = write_capture(tmp_path / "b")
    path = os.path.join(actual, "results.json")
    with open(path, encoding="utf8") as file:
        results = json.load(file)
    results["cases"]["two"] = results["cases"].pop("one")
    with open(path, "w", encoding="utf8") as file:
        json.dump(results, file)
    assert compare.compare(expected, actual) == ["[one] missing", "[two] new case (not in the expected set)"]
