"""One line from pip-audit's JSON report: how many installed packages were audited, how many were skipped (and the
commonest reason), and the known vulnerabilities found.

    python scripts/ci/pip_audit_summary.py REPORT.json"""

import collections
import json
import re
import sys


def summary(report: dict) -> str:
    dependencies = report.get("dependencies", [])
    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    audited = len(dependencies) - len(skipped)
    vulnerable = {dependency["name"]: len(dependency.get("vulns", [])) for dependency in dependencies
                  if dependency.get("vulns")}
    line = f"pip-audit: {audited} of {len(dependencies)} packages audited, {len(skipped)} skipped"
    if skipped:
        # the reason without the package's own name and version
        reasons = collections.Counter(re.sub(r":.*", "", dependency["skip_reason"]) for dependency in skipped)
        reason, count = reasons.most_common(1)[0]
        line += f" ({count}: {reason})"
    line += f"; {sum(vulnerable.values())} known vulnerabilities"
    if vulnerable:
        line += " in " + ", ".join(sorted(vulnerable))
    return line


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf8") as file:
            report = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        print(f"pip-audit: no report to read ({error})")
        return 0
    print(summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
