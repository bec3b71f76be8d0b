"""Script argument values as JSON: plain values as they are, images as tagged PNG, arrays as tagged raw bytes.
Anything else cannot be stored with a job and is refused by name."""

import base64
import io

import numpy as np
from PIL import Image

IMAGE_TAG = "$png"
ARRAY_TAG = "$ndarray"


class NotStorable(TypeError):
    """A value that cannot be kept in a job (e.g. an object of an extension's own class)."""


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG, converted first when PNG cannot hold its mode (CMYK, YCbCr, ...)."""
    if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def image_from_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def encode(value, where: str):
    """value as JSON-ready data; NotStorable naming `where` for a value of no supported kind."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Image.Image):
        return {IMAGE_TAG: base64.b64encode(png_bytes(value)).decode("ascii")}
    if isinstance(value, np.ndarray):
        return {ARRAY_TAG: {"dtype": str(value.dtype), "shape": list(value.shape),
                            "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotStorable(f"{where}: a dict with keys that are not text cannot be stored with a job")
        return {key: encode(item, f"{where}.{key}") for key, item in value.items()}
    raise NotStorable(f"{where}: a value of type {type(value).__name__} cannot be stored with a job")


def decode(value):
    """The inverse of encode (tuples come back as lists)."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {IMAGE_TAG}:
            return image_from_png(base64.b64decode(value[IMAGE_TAG]))
        if set(value) == {ARRAY_TAG}:
            array = value[ARRAY_TAG]
            return np.frombuffer(base64.b64decode(array["data"]), dtype=array["dtype"]).reshape(array["shape"]).copy()
        return {key: decode(item) for key, item in value.items()}
    return value
