"""Which extension folders there are and which of them are enabled: read before the options exist (preload) and
after (the extension list), so it takes the mode and the disabled names as arguments."""

import os


def folder_names(root: str) -> list[str]:
    if not os.path.isdir(root):
        return []
    return [name for name in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, name))
            and not name.startswith(".")]


def is_enabled(name: str, builtin: bool, mode: str, disabled: set[str]) -> bool:
    """mode "all": none; "extra": built-in ones only; never one named in disabled_extensions."""
    return name not in disabled and mode != "all" and (builtin or mode != "extra")
