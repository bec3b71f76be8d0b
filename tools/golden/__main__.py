"""python -m tools.golden [--against REV | --update] [--cases NAME ...] [--keep DIR]; see tools/golden/__init__.py.

Exit code 0: identical (or updated); 1: differences found, printed one per line.
"""

import argparse
import os
import shutil
import sys
import tempfile

from tools.golden import compare, run


def _report(differences: list[str], what: str) -> int:
    if not differences:
        print(f"golden: identical ({what})")
        return 0
    print(f"golden: {len(differences)} difference(s) ({what}):")
    for line in differences:
        print("  " + line)
    return 1


def check(work: str, cases: list[str] | None) -> int:
    checkpoint = run.make_inpaint_checkpoint(os.path.join(work, "checkpoint"))
    actual = run.capture(run.REPO_ROOT, os.path.join(work, "tree"), checkpoint, cases)
    tolerance = compare.tolerance_for(run.EXPECTED_DIR, actual)
    differences = compare.compare(run.EXPECTED_DIR, actual, tolerance)
    if cases:
        differences = [d for d in differences if not d.endswith("] missing")]
    rule = "exact pixels, same platform" if tolerance is None else f"other platform, pixel tolerance {tolerance}"
    return _report(differences, f"working tree vs {os.path.relpath(run.EXPECTED_DIR, run.REPO_ROOT)}; {rule}")


def update(work: str) -> int:
    checkpoint = run.make_inpaint_checkpoint(os.path.join(work, "checkpoint"))
    actual = run.capture(run.REPO_ROOT, os.path.join(work, "tree"), checkpoint)
    shutil.rmtree(run.EXPECTED_DIR, ignore_errors=True)
    shutil.copytree(actual, run.EXPECTED_DIR)
    print(f"golden: rewrote {run.EXPECTED_DIR}; review `git diff --stat test/golden` before committing")
    return 0


def against(rev: str, work: str, cases: list[str] | None) -> int:
    before, after = run.capture_pair(rev, work, cases=cases)
    return _report(compare.compare(before, after), f"{rev} vs working tree; exact")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--against", metavar="REV", help="compare git revision REV with the working tree")
    mode.add_argument("--update", action="store_true", help="rewrite the stored goldens from the working tree")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these golden cases")
    parser.add_argument("--keep", metavar="DIR", help="keep the captures in DIR (default: a deleted temp dir)")
    args = parser.parse_args()
    if args.update and args.cases:
        parser.error("--update rewrites every case")
    work = args.keep or tempfile.mkdtemp(prefix="serena-golden-")
    os.makedirs(work, exist_ok=True)
    try:
        if args.update:
            return update(work)
        if args.against:
            return against(args.against, work, args.cases)
        return check(work, args.cases)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
