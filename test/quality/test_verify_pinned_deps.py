"""scripts/ci/verify_pinned_deps.py: unpinned, missing and mismatched requirements, and the local-version rule."""

import importlib.util
import os

from test.conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("verify_pinned_deps",
                                              os.path.join(REPO_ROOT, "scripts", "ci", "verify_pinned_deps.py"))
verify = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify)


def test_local_version_counts_only_when_the_pin_has_none():
    assert verify.installed_matches("2.13.0+cpu", "2.13.0")
    assert verify.installed_matches("2.13.0+cpu", "2.13.0+cpu")
    assert not verify.installed_matches("2.13.0+cu121", "2.13.0+cpu")
    assert not verify.installed_matches("2.13.1", "2.13.0")


def test_reports_unpinned_missing_and_mismatched_lines_following_includes(tmp_path):
    (tmp_path / "base.txt").write_text("# comment\n\npytest==0.0.1\n")
    (tmp_path / "req.txt").write_text("-r base.txt\nnumpy>=1\nno-such-package-xyz==1.0\n")
    found = verify.problems([str(tmp_path / "req.txt")])
    assert [line.split(": ", 1)[1] for line in found] == [
        f"pytest {verify.metadata.version('pytest')} is installed, pinned 0.0.1",
        "'numpy>=1' is not pinned as name==version",
        "no-such-package-xyz is not installed (pinned 1.0)",
    ]


def test_the_repository_requirements_are_pinned_and_installed():
    assert verify.problems([os.path.join(REPO_ROOT, "requirements_test.txt")]) == []
