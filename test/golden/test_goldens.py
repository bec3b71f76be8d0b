"""The golden requests (tools/golden) through the real pipeline: the working tree against the stored goldens, and
`--against REV` on a throw-away clone with a known behaviour change."""

import os
import subprocess

import pytest

from tools.golden import cases, compare, run

MIN_CASES = 16
CLONE_CASES = ["euler_a", "img2img_strength_030"]
CHANGED_VERSION = "v0.0.0-golden-test"
# appended to the clone's modules: every decoded image inverted, and another version in the infotext
PIXEL_CHANGE = "\n_golden_decode = decode_latent_batch\n\n\ndef decode_latent_batch(model, latents, **kwargs):\n" \
               "    return 1.0 - _golden_decode(model, latents, **kwargs)\n"
INFOTEXT_CHANGE = f'\nversion = "{CHANGED_VERSION}"\n'
UPDATE_HINT = "if the change is deliberate: python -m tools.golden --update, and say why in the commit"


def test_request_list_is_stored_and_covers_the_features():
    stored, facts = compare.load(run.EXPECTED_DIR)
    assert [c.name for c in cases.CASES if c.name not in stored["cases"]] == [], UPDATE_HINT
    assert len(cases.CASES) >= MIN_CASES and len({c.name for c in cases.CASES}) == len(cases.CASES)
    params = [c.params for c in cases.CASES]
    assert {p["sampler_name"] for p in params} >= {"Euler a", "DPM++ 2M", "Euler", "DDIM", "UniPC", "Heun"}
    assert {c.params.get("inpainting_fill") for c in cases.CASES if c.mask} == {0, 1, 2, 3}
    assert any(p.get("enable_hr") for p in params) and any(p.get("override_settings") for p in params)
    assert any(c.checkpoint == cases.TINY_INPAINT for c in cases.CASES)
    assert any("<lora:" in c.params["prompt"] for c in cases.CASES), "a LoRA request"
    assert any(c.script for c in cases.CASES), "a script request"
    assert set(facts) >= {"torch", "machine", "cpu_capability"}


def test_working_tree_generates_the_stored_goldens(tmp_path):
    checkpoint = run.make_inpaint_checkpoint(str(tmp_path / "checkpoint"))
    actual = run.capture(run.REPO_ROOT, str(tmp_path / "tree"), checkpoint)
    differences = compare.compare(run.EXPECTED_DIR, actual, compare.tolerance_for(run.EXPECTED_DIR, actual))
    assert differences == [], "\n".join(["golden differences:", *differences, UPDATE_HINT])


def _git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def clone_with_change(tmp_path_factory) -> tuple[str, str, str]:
    """A clone of HEAD plus one commit that inverts every image and changes the version: (clone, base, changed)."""
    clone = str(tmp_path_factory.mktemp("golden-clone") / "repo")
    _git("clone", "--quiet", "--shared", run.REPO_ROOT, clone, cwd=run.REPO_ROOT)
    base = _git("rev-parse", "HEAD", cwd=clone)
    for relative, text in (("modules/processing.py", PIXEL_CHANGE), ("modules/version.py", INFOTEXT_CHANGE)):
        with open(os.path.join(clone, relative), "a", encoding="utf8") as file:
            file.write(text)
    _git("-c", "user.name=golden", "-c", "user.email=golden@test", "commit", "--quiet", "-am", "behaviour change",
         cwd=clone)
    changed = _git("rev-parse", "HEAD", cwd=clone)
    _git("checkout", "--quiet", base, cwd=clone)
    return clone, base, changed


def test_against_the_same_revision_is_identical(clone_with_change, tmp_path):
    clone, base, _ = clone_with_change
    before, after = run.capture_pair(base, str(tmp_path), repo=clone, tree=clone, cases=CLONE_CASES)
    assert compare.compare(before, after) == []
    assert sorted(compare.load(after)[0]["cases"]) == sorted(CLONE_CASES)


def test_against_a_changed_revision_reports_pixels_and_infotext(clone_with_change, tmp_path):
    clone, _, changed = clone_with_change
    before, after = run.capture_pair(changed, str(tmp_path), repo=clone, tree=clone, cases=CLONE_CASES)
    differences = compare.compare(before, after)
    for name in CLONE_CASES:
        assert any(d.startswith(f"[{name}] pixels") for d in differences), differences
        assert any(d.startswith(f"[{name}] infotext 0") and CHANGED_VERSION in d for d in differences), differences
    assert not any("saved files" in d or "options" in d for d in differences), differences
