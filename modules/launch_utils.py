"""What launch.py does before the server starts: check Python, install the pinned requirements, then start.

Only the standard library is used here: this runs before anything from requirements_versions.txt is installed."""

import importlib.metadata
import importlib.util
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
git = os.environ.get("GIT", "git")
index_url = os.environ.get("INDEX_URL", "")
dir_repos = "repositories"
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


def run(command: list[str] | str, desc: str | None = None, errdesc: str | None = None, custom_env=None,
        live: bool = False) -> str:
    """Runs a command (a list, or a shell line as A1111's install.py scripts pass) and returns its output; with
    `live` the output goes to the console instead (and "" is returned). Raises with `errdesc` when it fails."""
    if desc:
        print(desc, flush=True)
    result = subprocess.run(command, shell=isinstance(command, str), env=custom_env or os.environ,
                            capture_output=not live, text=True)
    if result.returncode != 0:
        shown = command if isinstance(command, str) else shlex.join(command)
        output = "" if live else f"\nstdout: {result.stdout}\nstderr: {result.stderr}"
        raise RuntimeError(f"{errdesc or 'Error running command'}.\nCommand: {shown}\n"
                           f"Exit code: {result.returncode}{output}")
    return "" if live else result.stdout


def run_pip(command: list[str] | str, desc: str | None = None, live: bool = False) -> str:
    """pip with these arguments (a list, or one string as A1111's install.py scripts pass), --prefer-binary and
    INDEX_URL's index when set."""
    pip_args = shlex.split(command) if isinstance(command, str) else list(command)
    index = ["--index-url", index_url] if index_url else []
    return run([python, "-m", "pip", *pip_args, "--prefer-binary", *index], desc=f"Installing {desc}",
               errdesc=f"Couldn't install {desc}", live=live)


def is_installed(package: str) -> bool:
    """Whether a distribution (or, failing that, an importable module) of this name is installed."""
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def repo_dir(name: str) -> str:
    return os.path.join(script_path, dir_repos, name)


def _git_output(*args: str, cwd: str = script_path) -> str:
    try:
        return subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "<none>"


def commit_hash() -> str:
    return _git_output("rev-parse", "HEAD")


def git_tag() -> str:
    return _git_output("describe", "--tags")


def git_clone(url: str, dir: str, name: str, commithash: str | None = None) -> None:  # noqa: A002 (A1111's name)
    """Clones url into dir (unless it is there), then checks out commithash when given."""
    if not os.path.exists(dir):
        run([git, "clone", url, dir], f"Cloning {name} into {dir}...", f"Couldn't clone {name}")
    if commithash:
        run([git, "-C", dir, "fetch"], f"Fetching updates for {name}...", f"Couldn't fetch {name}")
        run([git, "-C", dir, "checkout", commithash], f"Checking out commit for {name} with hash: {commithash}...",
            f"Couldn't checkout commit {commithash} for {name}")


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
    run_pip(["install", pin, *index, *reinstall], pin + (f" from {torch_index_url}" if torch_index_url else ""),
            live=True)


def prepare_environment() -> None:
    """A1111's launch step: check Python, install the requirements unless they are already there."""
    check_python_version()
    if args.skip_install:
        return
    pin = torch_requirement(requirements_file)
    if pin and (args.reinstall_torch or torch_index_url):
        install_torch(pin, force=args.reinstall_torch)
    if not requirements_met(requirements_file):
        run_pip(["install", "-r", requirements_file], "requirements", live=True)
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
