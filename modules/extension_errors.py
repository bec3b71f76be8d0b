"""What went wrong in each extension (loading, preload, its UI tab, a callback, a script hook): printed with the
extension's name, and kept for the Extensions tab until the webui restarts."""

import os
import sys
import threading

from modules import errors
from modules.paths_internal import extensions_builtin_dir, extensions_dir

_lock = threading.Lock()
_recorded: dict[str, list[str]] = {}
"""extension folder -> what failed, in order"""


def extension_folder(path: str | None) -> str | None:
    """The extension folder a file belongs to; None for the webui's own files."""
    if not path:
        return None
    real = os.path.realpath(path)
    for root in (extensions_dir, extensions_builtin_dir):
        root = os.path.realpath(root)
        if real.startswith(root + os.sep):
            return os.path.join(root, os.path.relpath(real, root).split(os.sep)[0])
    return None


def report(path: str | None, what: str, exc_info: bool = True) -> None:
    """errors.report(what), naming the extension `path` belongs to; the failure (and the exception being handled)
    kept for that extension. exc_info False: what says it all, no traceback."""
    folder = extension_folder(path)
    errors.report(f"{what} (extension {os.path.basename(folder)})" if folder else what, exc_info=exc_info)
    if folder is None:
        return
    error = sys.exc_info()[1]
    with _lock:
        _recorded.setdefault(os.path.realpath(folder), []).append(
            f"{what}: {type(error).__name__}: {error}" if error is not None else what)


def recorded(folder: str) -> list[str]:
    with _lock:
        return list(_recorded.get(os.path.realpath(folder), []))


def clear() -> None:
    with _lock:
        _recorded.clear()
