"""Before the command line is parsed: each enabled extension's preload.py runs `preload(parser)`, so the flags it adds
exist when the webui's own are read (A1111's preload_extensions). One that fails is reported and skipped."""

import json
import os

from modules import extension_errors, extension_folders, script_loading
from modules.paths_internal import extensions_builtin_dir, extensions_dir


def _settings(settings_file: str) -> dict:
    try:
        with open(settings_file, encoding="utf8") as file:
            settings = json.load(file)
        return settings if isinstance(settings, dict) else {}
    except (OSError, ValueError):
        return {}


def enabled_folders(flags, settings: dict) -> list[str]:
    """The enabled extension folders, built-in ones first, as the flags given so far and the settings file say."""
    mode = "all" if flags.disable_all_extensions else "extra" if flags.disable_extra_extensions else \
        settings.get("disable_all_extensions", "none")
    disabled = set(settings.get("disabled_extensions") or [])
    return [os.path.join(root, name) for root, builtin in ((extensions_builtin_dir, True), (extensions_dir, False))
            for name in extension_folders.folder_names(root)
            if extension_folders.is_enabled(name, builtin, mode, disabled)]


def preload_extensions(folders: list[str], parser) -> None:
    for folder in folders:
        preload_script = os.path.join(folder, "preload.py")
        if not os.path.isfile(preload_script):
            continue
        try:
            module = script_loading.load_module(preload_script, register=False)
            if hasattr(module, "preload"):
                module.preload(parser)
        except Exception:
            extension_errors.report(preload_script, f"Error running preload() for {preload_script}")


def run_preloads(parser, argv: list[str] | None = None) -> None:
    """Preloads the extensions the settings file and the flags given so far enable (foreign flags ignored here)."""
    allow_abbrev, parser.allow_abbrev = parser.allow_abbrev, False
    try:
        flags = parser.parse_known_args(argv)[0]
    finally:
        parser.allow_abbrev = allow_abbrev
    preload_extensions(enabled_folders(flags, _settings(flags.ui_settings_file)), parser)
