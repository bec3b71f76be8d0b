"""The pictures on extra network cards: a small copy of the preview image beside the network's file, or a plain
placeholder, written once to a temporary folder that gradio may serve from."""

import atexit
import hashlib
import logging
import os
import shutil
import tempfile

from PIL import Image

log = logging.getLogger(__name__)

THUMB_SIZE = 256
PLACEHOLDER_COLOR = (70, 70, 80)
_folder: str | None = None


def _thumbs_folder() -> str:
    global _folder
    if _folder is None or not os.path.isdir(_folder):
        _folder = tempfile.mkdtemp(prefix="serena-extra-networks-")
        atexit.register(shutil.rmtree, _folder, ignore_errors=True)
    return _folder


def placeholder() -> str:
    path = os.path.join(_thumbs_folder(), "placeholder.png")
    if not os.path.exists(path):
        Image.new("RGB", (THUMB_SIZE, THUMB_SIZE), PLACEHOLDER_COLOR).save(path)
    return path


def thumbnail(preview: str | None) -> str:
    """The path of the card picture for the preview image file `preview` (None: no preview)."""
    if not preview:
        return placeholder()
    try:
        stat = os.stat(preview)
        key = f"{os.path.abspath(preview)}|{stat.st_mtime_ns}|{stat.st_size}"
        path = os.path.join(_thumbs_folder(), hashlib.sha256(key.encode()).hexdigest()[:32] + ".png")
        if not os.path.exists(path):
            with Image.open(preview) as image:
                small = image.convert("RGB")
                small.thumbnail((THUMB_SIZE, THUMB_SIZE))
                small.save(path)
        return path
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        log.warning("Extra networks: cannot read the preview %s: %s", preview, e)
        return placeholder()
