"""What a checkpoint states about its use: native resolution and an example prompt.

Keys are looked up in the file's safetensors metadata, then in `metadata.json` of the config folder made for it
(`<name>.config/` beside it, or the configs/diffusers/ folder its `serena.config` names), so a checkpoint can be
described without rewriting the file (which would change its hash). Serena's keys come first, then ModelSpec's."""

import json
import os
import re

from modules.sd_model_diffusers import own_config_dir

NATIVE_RESOLUTION_KEYS = ("serena.native_resolution", "modelspec.resolution")
EXAMPLE_PROMPT_KEYS = ("serena.example_prompt", "modelspec.usage_hint")
CONFIG_FOLDER_METADATA = "metadata.json"
_RESOLUTION = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def parse_resolution(text) -> tuple[int, int] | None:
    """"512x512" (ModelSpec's form) -> (512, 512); anything else -> None."""
    match = _RESOLUTION.fullmatch(text) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def config_folder_metadata(filename: str, metadata: dict) -> dict:
    folder = own_config_dir(filename, metadata)
    path = os.path.join(folder, CONFIG_FOLDER_METADATA) if folder else None
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def stated_metadata(filename: str, metadata: dict) -> dict:
    """The config folder's keys overlaid by the file's own."""
    return {**config_folder_metadata(filename, metadata), **metadata}


def native_resolution(filename: str, metadata: dict) -> tuple[int, int] | None:
    stated = stated_metadata(filename, metadata)
    found = (parse_resolution(stated.get(key)) for key in NATIVE_RESOLUTION_KEYS)
    return next((resolution for resolution in found if resolution), None)


def example_prompt(filename: str, metadata: dict) -> str | None:
    stated = stated_metadata(filename, metadata)
    found = (stated.get(key) for key in EXAMPLE_PROMPT_KEYS)
    return next((text.strip() for text in found if isinstance(text, str) and text.strip()), None)
