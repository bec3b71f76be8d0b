"""Prompt styles from styles.csv (A1111's StyleDatabase)."""

import csv
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

PROMPT_PLACEHOLDER = "{prompt}"

log = logging.getLogger(__name__)


class PromptStyle(NamedTuple):
    name: str
    prompt: str | None
    negative_prompt: str | None
    path: str | None = None


def merge_prompts(style_prompt: str, prompt: str) -> str:
    """A style with "{prompt}" wraps the prompt; any other style is appended after ", "."""
    if PROMPT_PLACEHOLDER in style_prompt:
        return style_prompt.replace(PROMPT_PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)


def apply_styles_to_prompt(prompt: str, styles: list[str]) -> str:
    """Applies style texts (not names) in order."""
    for style in styles:
        prompt = merge_prompts(style or "", prompt)
    return prompt


def extract_style_text_from_prompt(style_text: str, prompt: str) -> tuple[bool, str]:
    """The inverse of merge_prompts: (True, prompt without the style) when the style is found in the prompt."""
    stripped_prompt = prompt.strip()
    stripped_style_text = style_text.strip()

    if PROMPT_PLACEHOLDER in stripped_style_text:
        left, _, right = stripped_style_text.partition(PROMPT_PLACEHOLDER)
        if stripped_prompt.startswith(left) and stripped_prompt.endswith(right):
            return True, stripped_prompt[len(left): len(stripped_prompt) - len(right)]
    elif stripped_prompt.endswith(stripped_style_text):
        remaining = stripped_prompt[: len(stripped_prompt) - len(stripped_style_text)]
        return True, remaining.removesuffix(", ")

    return False, prompt


def extract_original_prompts(style: PromptStyle, prompt: str, negative_prompt: str) -> tuple[bool, str, str]:
    """Removes one style from both prompts; it must be found in both, or nothing is removed."""
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative_prompt

    match_positive, extracted_positive = extract_style_text_from_prompt(style.prompt or "", prompt)
    if not match_positive:
        return False, prompt, negative_prompt

    match_negative, extracted_negative = extract_style_text_from_prompt(style.negative_prompt or "", negative_prompt)
    if not match_negative:
        return False, prompt, negative_prompt

    return True, extracted_positive, extracted_negative


def _expand_style_paths(paths: list[str | Path]) -> list[Path]:
    """Glob patterns in the file part ("styles*.csv") expand to the files they match; duplicates are dropped."""
    found = []
    for pattern in paths:
        folder, name = os.path.split(str(pattern))
        if "*" in name or "?" in name:
            found.extend(sorted(Path(folder or ".").glob(name)))
        else:
            found.append(Path(pattern))
    return list(dict.fromkeys(found))


def _write_csv_atomically(path: str, styles: list[PromptStyle], fieldnames: list[str]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".styles-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            for style in styles:
                writer.writerow({field: getattr(style, field) or "" for field in fieldnames})
        os.replace(temp_path, path)
    except BaseException:
        os.unlink(temp_path)
        raise


def _read_csv(path: str | Path, styles: dict[str, PromptStyle]) -> None:
    with open(path, encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file, skipinitialspace=True):
            name = row.get("name")
            if not name or name.startswith("#"):
                continue
            prompt = row.get("prompt", row.get("text")) or ""
            negative_prompt = row.get("negative_prompt") or ""
            styles[name] = PromptStyle(name, prompt, negative_prompt, str(path))


class StyleDatabase:
    def __init__(self, paths: str | Path | list[str | Path]):
        self.no_style = PromptStyle("None", "", "", None)
        self.styles: dict[str, PromptStyle] = {}
        self.paths = [paths] if isinstance(paths, str | Path) else list(paths)
        self.all_styles_files: list[Path] = []

        # new styles are saved to the first path, its glob characters removed ("styles*.csv" -> "styles.csv")
        folder, name = os.path.split(str(self.paths[0]))
        self.default_path = os.path.join(folder, name.replace("*", "").replace("?", ""))
        self.prompt_fields = [field for field in PromptStyle._fields if field != "path"]

        self.loaded_from: tuple = ()
        self.reload()

    def _files_signature(self) -> tuple:
        """The style files as they are on disk now: which there are, and each one's mtime and size."""
        signature = []
        for path in _expand_style_paths(self.paths):
            try:
                stat = path.stat()
            except OSError:
                continue
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def reload_if_changed(self) -> bool:
        """Reads the style files again when one was edited, added or removed since they were read (A1111 needs a
        restart for that); True when it did."""
        if self._files_signature() == self.loaded_from:
            return False
        self.reload()
        return True

    def reload(self) -> None:
        """Reads the style files into a new dict, then puts it in place (a generation reading the styles meanwhile
        sees the old ones or the new ones, never none)."""
        loaded_from, files, styles, unreadable = self._files_signature(), _expand_style_paths(self.paths), {}, []
        for styles_file in files:
            if not styles_file.is_file():
                continue
            try:
                _read_csv(styles_file, styles)
            except (OSError, UnicodeDecodeError, csv.Error) as e:
                log.error("Error loading styles from %s: %s", styles_file, e)
                unreadable.append(str(styles_file))
        self.styles, self.all_styles_files, self.loaded_from = styles, files, loaded_from
        self.unreadable = unreadable
        """Style files that could not be read (all or in part): saving would lose what they hold."""

    def load_from_csv(self, path: str | Path) -> None:
        """Reads name, prompt, negative_prompt columns (old files: name, text); "#" names are comments."""
        _read_csv(path, self.styles)

    def get_style_paths(self) -> set[str]:
        """Every file styles are saved to; styles without a file are assigned the default path."""
        for style in list(self.styles.values()):
            if not style.path:
                self.styles[style.name] = style._replace(path=str(self.default_path))
        return {str(self.default_path), *(style.path for style in self.styles.values())}

    def get_style_prompts(self, styles: list[str]) -> list[str]:
        return [self.styles.get(name, self.no_style).prompt for name in styles]

    def get_negative_style_prompts(self, styles: list[str]) -> list[str]:
        return [self.styles.get(name, self.no_style).negative_prompt for name in styles]

    def apply_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return apply_styles_to_prompt(prompt, self.get_style_prompts(styles))

    def apply_negative_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return apply_styles_to_prompt(prompt, self.get_negative_style_prompts(styles))

    def save_styles(self, path: str | None = None) -> None:
        """Writes every styles file atomically, keeping a .bak copy. `path` is ignored, as in A1111 (kept for
        callers of the old signature): each style goes back to the file it came from."""
        for style_path in self.get_style_paths():
            if os.path.exists(style_path):
                shutil.copy(style_path, f"{style_path}.bak")
            styles = [style for style in self.styles.values() if style.path == style_path]
            _write_csv_atomically(style_path, styles, self.prompt_fields)

    def extract_styles_from_prompt(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        """Finds the styles applied to the prompts: (style names in application order, prompt, negative prompt)."""
        extracted = []
        applicable_styles = list(self.styles.values())

        while True:
            for style in applicable_styles:
                is_match, new_prompt, new_negative_prompt = extract_original_prompts(style, prompt, negative_prompt)
                if is_match:
                    prompt, negative_prompt = new_prompt, new_negative_prompt
                    applicable_styles.remove(style)
                    extracted.append(style.name)
                    break
            else:
                break

        return list(reversed(extracted)), prompt, negative_prompt
