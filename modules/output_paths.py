"""Where the server may write: output folders inside the data dir, and file-name patterns that stay inside the
folder they are expanded in. Folders are checked where options come in (POST /options, override_settings, the
settings page; config.json, the owner's own file, is read as it is); where files are saved, the expanded patterns
are kept inside the folder they were given (save_image takes the folder as given: extensions name their own)."""

import contextvars
import dataclasses
import os

from modules import paths_internal

PATH_OPTIONS = ("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples", "outdir_extras_samples",
                "outdir_grids", "outdir_txt2img_grids", "outdir_img2img_grids", "outdir_save", "outdir_init_images",
                "temp_dir")
PATTERN_OPTIONS = ("samples_filename_pattern", "directories_filename_pattern")
SEPARATORS = ("/", "\\")


class OutsideDataDir(ValueError):
    """A path option or pattern that would make the server write outside its data dir (HTTP 403)."""


class NotAFileName(ValueError):
    """A pattern holding what no file name may hold (HTTP 422)."""


def _parts(text: str) -> list[str]:
    for separator in SEPARATORS[1:]:
        text = text.replace(separator, SEPARATORS[0])
    return text.split(SEPARATORS[0])


def is_inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_option(key: str, value, data_dir: str) -> None:
    """Raises OutsideDataDir or NotAFileName for a path option or pattern value that is not allowed."""
    if not isinstance(value, str):
        return
    if "\0" in value:
        raise NotAFileName(f"{key}: a NUL character is not allowed in a path")
    if key in PATH_OPTIONS and value and not is_inside(os.path.join(data_dir, value), data_dir):
        raise OutsideDataDir(f"{key}: {value!r} is outside the data folder {data_dir}")
    if key in PATTERN_OPTIONS and (os.path.isabs(value) or value.startswith(SEPARATORS) or ".." in _parts(value)):
        raise OutsideDataDir(f"{key}: {value!r} leads out of the output folder (no '..' or absolute parts)")


def folder_in_data_dir(field: str, folder: str, data_dir: str) -> str:
    """A folder a request names to write into (relative to the data dir, or absolute inside it), as an absolute
    path; OutsideDataDir naming the field when it is elsewhere."""
    path = os.path.join(data_dir, folder)
    if "\0" in folder or not is_inside(path, data_dir):
        raise OutsideDataDir(f"{field}: {folder!r} is outside the data folder {data_dir}")
    return path


def relative_folder(expanded: str) -> str:
    """An expanded folder pattern as a relative path of plain names: no '..', '.', empty or absolute parts, no
    NUL, whatever the tags it held expanded to."""
    names = [name.replace("\0", "") for name in _parts(expanded)]
    return os.path.join(*[name for name in names if name not in ("", ".", "..")] or [""])


def file_name(expanded: str) -> str:
    """An expanded file-name pattern as one file name: separators and NUL replaced."""
    for separator in (*SEPARATORS, "\0"):
        expanded = expanded.replace(separator, "_")
    return "_" if expanded in (".", "..") else expanded


STAGED_DATA, STAGED_ABSOLUTE = "data", "abs"
"""A staging folder's two top folders: what goes under the data dir, and what goes to an absolute folder."""


@dataclasses.dataclass
class Staging:
    """Inside a job run by a remote worker: its files are saved under root and placed by the server."""

    root: str
    numbered: dict[str, list] = dataclasses.field(default_factory=dict)
    """staged path without extension (relative to root, "/" separators) -> [basename, index, rest] of a numbered
    name (f"{basename}-{index:04}{rest}", or f"{index:05}{rest}" without a basename): renumbered where placed."""

    def record_number(self, path_without_extension: str, basename: str, index: int, rest: str) -> None:
        relative = os.path.relpath(path_without_extension, self.root).replace(os.sep, "/")
        self.numbered[relative] = [basename, index, rest]


staging: contextvars.ContextVar[Staging | None] = contextvars.ContextVar("staging", default=None)


def save_folder(path: str) -> str:
    """The folder save_image writes a folder option's files to: under the data dir; inside a remote worker's job,
    the same place under its staging folder's STAGED_DATA, or for a folder outside the data dir, its absolute path
    under STAGED_ABSOLUTE."""
    folder = paths_internal.resolve_data_relative(path)
    current = staging.get()
    if current is None:
        return folder
    data_path = paths_internal.data_path
    if is_inside(folder, data_path):
        return os.path.join(current.root, STAGED_DATA,
                            os.path.relpath(os.path.realpath(folder), os.path.realpath(data_path)))
    return os.path.join(current.root, STAGED_ABSOLUTE, os.path.realpath(folder).lstrip(os.sep))
