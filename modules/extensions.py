"""Extensions: folders under <data dir>/extensions and extensions-builtin/, each with optional scripts/,
javascript/, style.css and install.py (A1111's modules/extensions.py)."""

import dataclasses
import logging
import os
import shutil
import subprocess
import sys

from modules import extension_folders, shared
from modules.paths_internal import data_path, extensions_builtin_dir, extensions_dir, script_path

log = logging.getLogger(__name__)
CLONE_TIMEOUT_S = 300


@dataclasses.dataclass
class GitInfo:
    remote: str = ""
    branch: str = ""
    commit_hash: str = ""
    commit_date: int = 0


def _git(path: str, *args: str) -> str:
    try:
        result = subprocess.run(["git", "-C", path, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def read_git_info(path: str) -> GitInfo:
    if not os.path.exists(os.path.join(path, ".git")):
        return GitInfo()
    date = _git(path, "log", "-1", "--format=%ct")
    return GitInfo(remote=_git(path, "config", "--get", "remote.origin.url"),
                   branch=_git(path, "rev-parse", "--abbrev-ref", "HEAD"),
                   commit_hash=_git(path, "rev-parse", "HEAD"), commit_date=int(date) if date.isdigit() else 0)


@dataclasses.dataclass
class Extension:
    name: str
    path: str
    enabled: bool = True
    is_builtin: bool = False
    git: GitInfo | None = None

    @property
    def canonical_name(self) -> str:
        return self.name.lower()

    def git_info(self) -> GitInfo:
        if self.git is None:
            self.git = read_git_info(self.path)
        return self.git

    @property
    def version(self) -> str:
        return self.git_info().commit_hash[:8]

    def list_files(self, subdir: str, extension: str) -> list:
        from modules.scripts import ScriptFile

        folder = os.path.join(self.path, subdir)
        if not os.path.isdir(folder):
            return []
        return [ScriptFile(self.path, name, os.path.join(folder, name)) for name in sorted(os.listdir(folder))
                if os.path.splitext(name)[1].lower() == extension]


extensions: list[Extension] = []


def disable_mode() -> str:
    """"all", "extra" or "none": the command line wins over the disable_all_extensions option."""
    if shared.cmd_opts.disable_all_extensions:
        return "all"
    if shared.cmd_opts.disable_extra_extensions:
        return "extra"
    return shared.opts.disable_all_extensions


def list_extensions() -> list[Extension]:
    """Reads the extension folders; an extension named in the disabled_extensions option is listed but off."""
    disabled = set(shared.opts.disabled_extensions or [])
    mode = disable_mode()
    found = []
    for root, builtin in ((extensions_builtin_dir, True), (extensions_dir, False)):
        for name in extension_folders.folder_names(root):
            enabled = extension_folders.is_enabled(name, builtin, mode, disabled)
            found.append(Extension(name, os.path.join(root, name), enabled=enabled, is_builtin=builtin))
    extensions[:] = found
    return extensions


def active() -> list[Extension]:
    return [ext for ext in extensions if ext.enabled]


def find(name: str) -> Extension | None:
    return next((ext for ext in extensions if ext.name == name), None)


def set_enabled(names_enabled: dict[str, bool]) -> list[str]:
    """Saves which extensions are disabled (takes effect at the next start); returns the disabled list. Refused,
    like installing, on a server reachable from the network without --enable-insecure-extension-access."""
    if not install_allowed():
        raise InstallRefused("extension access disabled because of command line flags "
                             "(--listen without --enable-insecure-extension-access)")
    disabled = set(shared.opts.disabled_extensions or [])
    for name, enabled in names_enabled.items():
        (disabled.discard if enabled else disabled.add)(name)
    shared.opts.set("disabled_extensions", sorted(disabled))
    shared.opts.save(shared.config_filename)
    return sorted(disabled)


def run_extension_installers() -> None:
    """Runs each enabled extension's install.py once, at start-up, with the webui on PYTHONPATH and this data dir
    (SERENA_DATA_DIR) as its data dir."""
    list_extensions()
    for ext in active():
        installer = os.path.join(ext.path, "install.py")
        if not os.path.isfile(installer):
            continue
        env = {**os.environ, "SERENA_DATA_DIR": data_path,
               "PYTHONPATH": os.pathsep.join(filter(None, [script_path, os.environ.get("PYTHONPATH")]))}
        result = subprocess.run([sys.executable, installer], cwd=ext.path, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            log.error("install.py of extension %s failed:\n%s%s", ext.name, result.stdout, result.stderr)
            print(f"Error running install.py for extension {ext.path}")


class InstallRefused(PermissionError):
    """Installing extensions from the UI is off on a network-reachable server."""


def install_allowed() -> bool:
    cmd_opts = shared.cmd_opts
    exposed = cmd_opts.listen or cmd_opts.share or bool(cmd_opts.server_name)
    return not exposed or cmd_opts.enable_insecure_extension_access


def install_from_url(url: str, dirname: str | None = None, branch: str | None = None) -> str:
    """git-clones url into <data dir>/extensions/<dirname>; returns the new folder."""
    if not install_allowed():
        raise InstallRefused("extension access disabled because of command line flags "
                             "(--listen without --enable-insecure-extension-access)")
    url = (url or "").strip()
    if not url:
        raise ValueError("url: no URL given")
    name = dirname or url.rstrip("/").split("/")[-1].removesuffix(".git")
    if not name or name in (".", "..") or os.sep in name:
        raise ValueError(f"dirname: not a folder name: {name!r}")
    target = os.path.join(extensions_dir, name)
    if os.path.exists(target):
        raise FileExistsError(f"extension folder already exists: {target}")
    os.makedirs(extensions_dir, exist_ok=True)
    # no ext:: transport (it runs commands) and no URL read as an option
    command = ["git", "-c", "protocol.ext.allow=never", "clone", "--depth", "1",
               *(["--branch", branch] if branch else []), "--", url, target]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=CLONE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        shutil.rmtree(target, ignore_errors=True)
        raise RuntimeError(f"git clone failed: no answer from {url} within {CLONE_TIMEOUT_S} s") from e
    if result.returncode != 0:
        raise RuntimeError(f"git clone failed: {result.stderr.strip()}")
    list_extensions()
    return target
