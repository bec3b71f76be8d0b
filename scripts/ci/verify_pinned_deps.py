"""Every requirement line pinned with == and installed at exactly that version (`-r` includes are followed).

    python scripts/ci/verify_pinned_deps.py [REQUIREMENTS ...]   (default: requirements_versions.txt)

A local version label on the installed package is ignored when the pin has none: torch 2.13.0+cpu satisfies
torch==2.13.0. Exit code 1 lists every unpinned, missing or mismatched requirement.
"""

import os
import re
import sys
from importlib import metadata

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def requirement_lines(path: str) -> list[tuple[str, str]]:
    """(file:line, requirement) for every requirement in `path` and the files it includes with -r."""
    found = []
    with open(path, encoding="utf8") as file:
        for number, raw in enumerate(file, start=1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                found += requirement_lines(os.path.join(os.path.dirname(path), line.split(None, 1)[1]))
            else:
                found.append((f"{path}:{number}", line))
    return found


def installed_matches(installed: str, pinned: str) -> bool:
    return installed == pinned or ("+" not in pinned and installed.split("+", 1)[0] == pinned)


def problems(paths: list[str]) -> list[str]:
    found = []
    for where, requirement in (item for path in paths for item in requirement_lines(path)):
        match = PIN.match(requirement)
        if not match:
            found.append(f"{where}: {requirement!r} is not pinned as name==version")
            continue
        name, pinned = match.groups()
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            found.append(f"{where}: {name} is not installed (pinned {pinned})")
            continue
        if not installed_matches(installed, pinned):
            found.append(f"{where}: {name} {installed} is installed, pinned {pinned}")
    return found


def main(argv: list[str]) -> int:
    paths = argv or ["requirements_versions.txt"]
    found = problems(paths)
    for line in found:
        print(line)
    count = sum(len(requirement_lines(p)) for p in paths)
    print(f"verify_pinned_deps: {count} requirements, {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
