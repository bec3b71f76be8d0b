"""A remote worker's saved files, placed where this server would have saved them: the same folder under this data
dir (or the same absolute folder), numbered after the files already there as save_image numbers them, each written
whole. The worker saved them into an empty staging folder, so its numbers start at 0 in each folder."""

import os
import re

from modules import images
from modules.output_paths import STAGED_ABSOLUTE

NUMBERED_STEM = re.compile(r"^(?:(?P<basename>.+)-(?P<count>\d{4})|(?P<number>\d{5}))(?P<rest>-.*)?$")


def target_folder(staged_folder: str, data_path: str) -> str:
    parts = staged_folder.split("/")
    if parts[0] == STAGED_ABSOLUTE:
        return os.sep + os.path.join(*parts[1:])
    return os.path.join(data_path, staged_folder)


def _free_stem(folder: str, stem: str, extension: str) -> str:
    candidate, n = stem, 0
    while os.path.exists(os.path.join(folder, candidate + extension)):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _numbered_stem(folder: str, match: re.Match, first_numbers: dict, extension: str) -> str:
    basename = match["basename"] or ""
    if (folder, basename) not in first_numbers:
        first_numbers[(folder, basename)] = images.get_next_sequence_number(folder, basename)
    number = first_numbers[(folder, basename)] + int(match["count"] or match["number"])
    while True:
        stem = (f"{basename}-{number:04}" if basename else f"{number:05}") + (match["rest"] or "")
        if not os.path.exists(os.path.join(folder, stem + extension)):
            return stem
        number += 1


def place(files: list[tuple[str, bytes]], data_path: str) -> dict[str, str]:
    """files: (path relative to the staging folder, content); returns staged path -> the path it now has. Files
    with the same stem (an image, its .txt, its .jpg copy) keep one stem."""
    placed, stems, first_numbers = {}, {}, {}
    for relative, data in files:
        staged_folder, name = os.path.split(relative.replace(os.sep, "/"))
        folder = target_folder(staged_folder, data_path)
        os.makedirs(folder, exist_ok=True)
        stem, extension = os.path.splitext(name)
        if (staged_folder, stem) not in stems:
            match = NUMBERED_STEM.match(stem)
            stems[(staged_folder, stem)] = _numbered_stem(folder, match, first_numbers, extension) if match else \
                _free_stem(folder, stem, extension)
        path = os.path.join(folder, stems[(staged_folder, stem)] + extension)
        images.write_bytes_atomically(data, path)
        placed[relative] = path
    return placed
