"""Shared by the snapshot tools: write/read normalised JSON and the command-line --update/--check switch."""

import argparse
import json
import sys
from collections.abc import Callable


def dumps(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def read(path: str):
    with open(path, encoding="utf8") as file:
        return json.load(file)


def main(description: str, path: str, current: Callable[[], object], command: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--update", action="store_true", help=f"rewrite {path} from the working tree")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # the webui reads its own command line when imported
    text = dumps(current())
    if args.update:
        with open(path, "w", encoding="utf8") as file:
            file.write(text)
        print(f"wrote {path}")
        return 0
    if text == dumps(read(path)):
        print(f"{path}: up to date")
        return 0
    print(f"{path} differs from the working tree; if the change is deliberate: {command}", file=sys.stderr)
    return 1
