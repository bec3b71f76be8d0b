"""The test extension under test/fixtures/extensions, as files to put in a data dir's extensions/ folder."""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "extensions")
TEST_EXTENSION = "serena-test-extension"


def extension_files(name: str = TEST_EXTENSION) -> dict[str, str]:
    """{path relative to the data dir: text} for every file of the fixture extension."""
    root = os.path.join(FIXTURES, name)
    files = {}
    for folder, _, names in os.walk(root):
        for filename in names:
            if filename.endswith(".pyc"):
                continue
            path = os.path.join(folder, filename)
            with open(path, encoding="utf8") as file:
                files[os.path.join("extensions", name, os.path.relpath(path, root))] = file.read()
    return files


LORA_DIR = os.path.normpath(os.path.join(FIXTURES, os.pardir, os.pardir, os.pardir, "extensions-builtin", "Lora"))
LORA_SCRIPT = os.path.join(LORA_DIR, "scripts", "lora_script.py")
LORA_MODULES = ("network", "networks", "lora_adapters", "extra_networks_lora", "lora_api", "ui_extra_networks_lora")


def load_builtin_lora() -> None:
    """lora_script.py imported as the script loader imports it (the extension folder first on sys.path), after
    forgetting any module of the extension an earlier load left behind."""
    import sys

    from modules import script_loading

    unload_builtin_lora_modules()
    saved_path = sys.path
    sys.path = [LORA_DIR, *sys.path]
    try:
        script_loading.load_module(LORA_SCRIPT)
    finally:
        sys.path = saved_path


def unload_builtin_lora_modules() -> None:
    import sys

    for name in LORA_MODULES:
        sys.modules.pop(name, None)
