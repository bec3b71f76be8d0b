"""What launch.py does before the server starts: check Python, install the pinned requirements, then start.

Only the standard library is used here: this runs before anything from requirements_versions.txt is installed."""

import importlib.metadata
import os
import re
import shlex
import subprocess
import sys

from modules import cmd_args
from modules.paths_internal import script_path


def parse_args(argv: list[str] | None = None):
    """Our flags from argv; others are left for later (and abbreviations are off, so --co is never --config)."""
    parser = cmd_args.parser
    parser.allow_abbrev = False
    try:
        return parser.parse_known_args(argv)[0]
    finally:
        parser.allow_abbrev = True


args = parse_args()

python = sys.executable
requirements_file = os.environ.get("REQS_FILE", os.path.join(script_path, "requirements_versions.txt"))
torch_index_url = os.environ.get("TORCH_INDEX_URL", "")

SUPPORTED_PYTHON = [(3, 10), (3, 11)]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#]+))?$")


def check_python_version() -> None:
    if sys.version_info[:2] in SUPPORTED_PYTHON or args.skip_python_version_check:
        return
    supported = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_PYTHON)
    print(f"WARNING: you are running Python {sys.version.split()[0]}; this program is tested with {supported}. "
          "Use --skip-python-version-check to hide this warning.")


def run(command: list[str], desc: str | None = None, errdesc: str | None = None) -> None:
    """Runs a command with its output going to the console; raises with `errdesc` when it fails."""
    if desc:
        print(desc, flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        raise RuntimeError(f"{errdesc or 'Error running command'}.\nCommand: {shlex.join(command)}\n"
                           f"Exit code: {result.returncode}")


def run_pip(pip_args: list[str], desc: str) -> None:
    run([python, "-m", "pip", *pip_args, "--prefer-binary"], desc=f"Installing {desc}",
        errdesc=f"Couldn't install {desc}")


def read_requirements(filename: str) -> list[str]:
    """The requirement lines of `filename`, following `-r other.txt` includes; comments and blanks dropped."""
    lines = []
    with open(filename, encoding="utf8") as file:
        for raw in file:
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                included = line.split(None, 1)[1].strip()
                lines += read_requirements(os.path.join(os.path.dirname(filename), included))
            else:
                lines.append(line)
    return lines


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_matches(installed: str, pinned: str) -> bool:
    """`==pinned` semantics: a local label on the installed version ("2.13.0+cpu") is ignored."""
    if "+" not in pinned:
        installed = installed.split("+", 1)[0]
    return installed == pinned


def requirements_met(filename: str = requirements_file) -> bool:
    """True when every `name==version` (or bare `name`) line is installed at that version.

    Anything this quick check does not understand (ranges, markers, URLs) counts as unmet, so pip decides."""
    for line in read_requirements(filename):
        match = _PIN.match(line)
        if match is None:
            return False
        name, pinned = match.groups()
        version = installed_version(name)
        if version is None or (pinned is not None and not version_matches(version, pinned)):
            return False
    return True


def torch_requirement(filename: str = requirements_file) -> str | None:
    return next((line for line in read_requirements(filename) if re.match(r"^torch(==|\s|$)", line)), None)


def install_torch(pin: str, force: bool = False) -> None:
    """torch alone, from TORCH_INDEX_URL when set (e.g. PyTorch's CPU or a CUDA index); --reinstall-torch forces it."""
    match = _PIN.match(pin)
    if not force and match and match.group(2) and version_matches(installed_version("torch") or "", match.group(2)):
        return
    index = ["--index-url", torch_index_url] if torch_index_url else []
    reinstall = ["--force-reinstall", "--no-deps"] if force else []
    run_pip(["install", pin, *index, *reinstall], pin + (f" from {torch_index_url}" if torch_index_url else ""))


def prepare_environment() -> None:
    """A1111's launch step: check Python, install the requirements unless they are already there."""
    check_python_version()
    if args.skip_install:
        return
    pin = torch_requirement(requirements_file)
    if pin and (args.reinstall_torch or torch_index_url):
        install_torch(pin, force=args.reinstall_torch)
    if not requirements_met(requirements_file):
        run_pip(["install", "-r", requirements_file], "requirements")
        if not requirements_met(requirements_file):
            print(f"WARNING: some packages still differ from {os.path.basename(requirements_file)}")
    from modules import extensions

    extensions.run_extension_installers()


def start() -> None:
    """Imports the server only now (it needs the requirements) and runs it until it is stopped."""
    from modules.secret_flags import masked_argv

    arguments = shlex.join(masked_argv(sys.argv[1:]))
    print(f"Launching {'API server' if args.nowebui else 'Web UI'} with arguments: {arguments}")
    import webui

    webui.webui()
