"""Differences between two capture folders (see capture.py): pixels, infotexts, saved file names, options.

Pixels are compared exactly unless a Tolerance is given; everything else is always compared exactly.
"""

import difflib
import json
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Tolerance:
    """Per image: mean |difference| over all channel values, and the largest single |difference| (0..255)."""
    mean_abs: float
    max_abs: int


# Calibrated in docs/architecture/invariants.md ("Generation semantics"): float reordering moves a few pixels by a
# few levels; a behaviour change moves most of the image.
CROSS_PLATFORM_TOLERANCE = Tolerance(mean_abs=0.5, max_abs=16)
PLATFORM_KEYS = ("python", "torch", "numpy", "pillow", "system", "machine", "cpu_capability", "torch_threads", "cpu")


def load(folder: str) -> tuple[dict, dict]:
    with open(os.path.join(folder, "results.json"), encoding="utf8") as file:
        results = json.load(file)
    with open(os.path.join(folder, "platform.json"), encoding="utf8") as file:
        facts = json.load(file)
    return results, facts


def same_platform(first: dict, second: dict) -> bool:
    return all(first.get(key) == second.get(key) for key in PLATFORM_KEYS)


def pixel_difference(expected: Image.Image, actual: Image.Image, tolerance: Tolerance | None) -> str | None:
    if expected.size != actual.size:
        return f"size {expected.size[0]}x{expected.size[1]} -> {actual.size[0]}x{actual.size[1]}"
    a = np.asarray(expected.convert("RGB"), dtype=np.int16)
    b = np.asarray(actual.convert("RGB"), dtype=np.int16)
    delta = np.abs(a - b)
    if not delta.any():
        return None
    mean, largest = float(delta.mean()), int(delta.max())
    if tolerance is not None and mean <= tolerance.mean_abs and largest <= tolerance.max_abs:
        return None
    differing = np.argwhere(delta.max(axis=2) > 0)
    y, x = differing[0]
    return (f"{len(differing)} of {a.shape[0] * a.shape[1]} pixels differ, max |d| {largest}, mean |d| {mean:.3f}; "
            f"first at x={x} y={y}: {tuple(int(v) for v in a[y, x])} -> {tuple(int(v) for v in b[y, x])}")


def _text_diff(label: str, expected: list[str], actual: list[str]) -> list[str]:
    if expected == actual:
        return []
    lines = difflib.unified_diff(expected, actual, "expected", "actual", lineterm="", n=0)
    return ["\n".join([f"{label}:"] + [f"    {line}" for line in lines if not line.startswith(("---", "+++", "@@"))])]


def _options_diff(label: str, expected: dict, actual: dict) -> list[str]:
    keys = sorted(k for k in set(expected) | set(actual) if expected.get(k, "<absent>") != actual.get(k, "<absent>"))
    return [f"{label}: {k}: {expected.get(k, '<absent>')!r} -> {actual.get(k, '<absent>')!r}" for k in keys]


def compare_case(name: str, expected: dict, actual: dict, expected_dir: str, actual_dir: str,
                 tolerance: Tolerance | None) -> list[str]:
    found = []
    if len(expected["images"]) != len(actual["images"]):
        found.append(f"[{name}] {len(expected['images'])} images -> {len(actual['images'])}")
    for expected_name, actual_name in zip(expected["images"], actual["images"]):
        with Image.open(os.path.join(expected_dir, "images", expected_name)) as a, \
                Image.open(os.path.join(actual_dir, "images", actual_name)) as b:
            difference = pixel_difference(a, b, tolerance)
        if difference:
            found.append(f"[{name}] pixels {expected_name}: {difference}")
    lines = []
    for index, (a, b) in enumerate(zip(expected["infotexts"], actual["infotexts"])):
        lines += _text_diff(f"[{name}] infotext {index}", a.split("\n"), b.split("\n"))
    if len(expected["infotexts"]) != len(actual["infotexts"]):
        lines.append(f"[{name}] {len(expected['infotexts'])} infotexts -> {len(actual['infotexts'])}")
    lines += _text_diff(f"[{name}] saved files", expected["files"], actual["files"])
    lines += _options_diff(f"[{name}] options changed by the run",
                           {k: v[1] for k, v in expected["options_changed"].items()},
                           {k: v[1] for k, v in actual["options_changed"].items()})
    return found + lines


def compare(expected_dir: str, actual_dir: str, tolerance: Tolerance | None = None) -> list[str]:
    """Every difference between two capture folders, one readable line (or block) each; [] when identical."""
    expected, _ = load(expected_dir)
    actual, _ = load(actual_dir)
    found = []
    for name in sorted(set(expected["cases"]) - set(actual["cases"])):
        found.append(f"[{name}] missing")
    for name in sorted(set(actual["cases"]) - set(expected["cases"])):
        found.append(f"[{name}] new case (not in the expected set)")
    for name in sorted(set(expected["cases"]) & set(actual["cases"])):
        found += compare_case(name, expected["cases"][name], actual["cases"][name], expected_dir, actual_dir,
                              tolerance)
    found += _options_diff("options after the run", expected.get("options_after", {}), actual.get("options_after", {}))
    return found


def tolerance_for(expected_dir: str, actual_dir: str) -> Tolerance | None:
    """Exact pixels where the platform facts match; CROSS_PLATFORM_TOLERANCE otherwise."""
    _, expected_facts = load(expected_dir)
    _, actual_facts = load(actual_dir)
    return None if same_platform(expected_facts, actual_facts) else CROSS_PLATFORM_TOLERANCE
