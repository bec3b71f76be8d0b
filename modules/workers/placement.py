"""A remote worker's saved files, placed where this server would have saved them: the same folder under this data
dir (or the same absolute folder), numbered names renumbered after the files already there as save_image numbers
them (from the number parts the worker recorded, never by reading names back), each file written whole and never
over another one. The files of one stem (an image, its .txt, its .jpg copy) keep one stem."""

import os
import threading

from modules import images, output_paths

_placing = threading.Lock()
"""One placement at a time in this process: two workers' files never take the same number."""


class UnsafeStagedPath(ValueError):
    """A staged path that would be placed outside where a job may save."""


class PlacementFailed(OSError):
    """Writing stopped partway (a full disk, a folder that cannot be made): placed holds the groups written before,
    as place() returns them; the group it stopped in left nothing."""

    def __init__(self, error: OSError, placed: dict[str, str]):
        super().__init__(error.errno, f"placing the job's files stopped: {error}")
        self.placed = placed


def target_folder(staged_folder: str, data_path: str) -> str:
    parts = staged_folder.split("/")
    if parts[0] not in (output_paths.STAGED_DATA, output_paths.STAGED_ABSOLUTE) or \
            any(part in ("", ".", "..") for part in parts[1:]):
        raise UnsafeStagedPath(f"{staged_folder!r} is not a staged folder")
    if parts[0] == output_paths.STAGED_ABSOLUTE:
        return os.sep + os.path.join(*parts[1:]) if len(parts) > 1 else os.sep
    folder = os.path.join(data_path, *parts[1:])
    if not output_paths.is_inside(folder, data_path):
        raise UnsafeStagedPath(f"{staged_folder!r} leads outside the data folder")
    return folder


def _number_parts(number, stem: str) -> list | None:
    """The recorded [basename, index, rest] of a staged stem when they spell it (then every number they make is a
    plain name too); None (the stem kept, made free) for none or any other record."""
    try:
        basename, index, rest = number
        if isinstance(index, int) and images.numbered_stem(basename, index, rest) == stem:
            return [basename, index, rest]
    except (TypeError, ValueError):
        pass
    return None


def _groups(files: list[tuple[str, bytes]], numbered: dict[str, list], data_path: str) -> dict[tuple, dict]:
    """(staged folder, stem) -> {"folder": target folder, "number": its number parts or None, "files": [(extension,
    data, staged path)]}, in order."""
    groups = {}
    for relative, data in files:
        staged_folder, _, name = relative.rpartition("/")
        stem, extension = os.path.splitext(name)
        if not name or name in (".", "..") or "\0" in relative:
            raise UnsafeStagedPath(f"{relative!r} is not a staged file")
        if (staged_folder, stem) not in groups:
            number = _number_parts(numbered.get(f"{staged_folder}/{stem}" if staged_folder else stem), stem)
            groups[(staged_folder, stem)] = {"folder": target_folder(staged_folder, data_path), "number": number,
                                             "files": []}
        groups[(staged_folder, stem)]["files"].append((extension, data, relative))
    return groups


def _write_group(folder: str, stem: str, files: list) -> bool:
    """Every file of the group under stem, or none (False) when one of the names is taken."""
    if any(os.path.exists(os.path.join(folder, stem + extension)) for extension, _, _ in files):
        return False
    written = []
    try:
        for extension, data, _ in files:
            path = os.path.join(folder, stem + extension)
            if not images.write_bytes_new(data, path):  # saved meanwhile by someone else: take the next name
                _remove(written)
                return False
            written.append(path)
    except OSError:
        _remove(written)
        raise
    return True


def _remove(paths: list[str]) -> None:
    for path in paths:
        os.remove(path)


def _candidate_stems(folder: str, stem: str, number: list | None, first_numbers: dict):
    if number is None:
        yield stem
        n = 0
        while True:
            n += 1
            yield f"{stem}-{n}"
    basename, index, rest = number
    if (folder, basename) not in first_numbers:
        first_numbers[(folder, basename)] = images.get_next_sequence_number(folder, basename)
    index += first_numbers[(folder, basename)]
    while True:
        yield images.numbered_stem(basename, index, rest)
        index += 1


def place(files: list[tuple[str, bytes]], numbered: dict[str, list], data_path: str) -> dict[str, str]:
    """files: (path relative to the staging folder, content); numbered: the staging's number parts by staged stem
    (used only where they spell that stem); returns staged path -> the path it now has. UnsafeStagedPath, before
    anything is written, for a path that would leave the staging layout or the data folder; PlacementFailed when
    writing stops partway."""
    groups = _groups([(relative.replace(os.sep, "/"), data) for relative, data in files], numbered, data_path)
    placed, first_numbers = {}, {}
    with _placing:
        try:
            for (_, stem), group in groups.items():
                folder = group["folder"]
                os.makedirs(folder, exist_ok=True)
                for candidate in _candidate_stems(folder, stem, group["number"], first_numbers):
                    if _write_group(folder, candidate, group["files"]):
                        break
                for extension, _, relative in group["files"]:
                    placed[relative] = os.path.join(folder, candidate + extension)
        except OSError as e:
            raise PlacementFailed(e, placed) from e
    return placed
