"""CI's pip-audit line counts what was really audited: skipped packages are not counted as passed."""

import importlib.util
import json

from test.conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("pip_audit_summary", f"{REPO_ROOT}/scripts/ci/pip_audit_summary.py")
pip_audit_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pip_audit_summary)


def test_the_line_counts_audited_skipped_and_vulnerable_packages():
    report = {"dependencies": [
        {"name": "torch", "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0+cpu)"},
        {"name": "pillow", "version": "1.0", "vulns": [{"id": "A"}, {"id": "B"}]},
        {"name": "requests", "version": "2.0", "vulns": []},
    ]}
    assert pip_audit_summary.summary(report) == (
        "pip-audit: 2 of 3 packages audited, 1 skipped (1: Dependency not found on PyPI and could not be audited); "
        "2 known vulnerabilities in pillow")


def test_a_missing_report_is_said_not_hidden(tmp_path, capsys):
    assert pip_audit_summary.main(["x", str(tmp_path / "none.json")]) == 0
    assert "no report to read" in capsys.readouterr().out
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"dependencies": []}))
    pip_audit_summary.main(["x", str(report)])
    assert "0 of 0 packages audited" in capsys.readouterr().out
