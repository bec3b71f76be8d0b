"""Images in and out of the API: base64 (optionally a data: URI or, when allowed, an http(s) URL) to PIL and back."""

import base64
import binascii
import io

from PIL import Image

from modules import images, option_values
from modules.api import image_urls
from modules.api.errors import api_error
from modules.shared import opts

URL_TIMEOUT_S = 30


def _fetch(url: str, field: str) -> bytes:
    if not opts.api_enable_requests:
        raise api_error(403, field, "image URLs are not allowed (option api_enable_requests)")
    try:
        return image_urls.download(url, forbid_local=opts.api_forbid_local_requests, user_agent=opts.api_useragent,
                                   timeout=URL_TIMEOUT_S)
    except image_urls.RefusedUrl as e:
        raise api_error(403, field, f"image URLs to local resources are not allowed (option "
                                    f"api_forbid_local_requests): {e}") from e
    except image_urls.FailedDownload as e:
        raise api_error(422, field, f"could not download the image: {e}") from e


def _base64_payload(encoding: str, field: str) -> bytes:
    if encoding.startswith("data:"):
        encoding = encoding.partition(",")[2]
    try:
        return base64.b64decode(encoding, validate=False)
    except (binascii.Error, ValueError) as e:
        raise api_error(422, field, f"not valid base64: {e}") from e


def decode_base64_to_image(encoding: str, field: str = "image") -> Image.Image:
    """The image in a base64 string (plain, or a data:image/...;base64, URI) or at an http(s) URL; a 422 naming
    `field` when it cannot be read."""
    if not isinstance(encoding, str) or not encoding.strip():
        raise api_error(422, field, "an image is required (base64 string)")
    encoding = encoding.strip()
    if encoding.startswith(("http://", "https://")):
        data = _fetch(encoding, field)
    else:
        data = _base64_payload(encoding, field)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise api_error(422, field, "not a decodable image (expected base64 of a PNG, JPEG, WEBP, ... file)") from e
    return image


def _output_extension() -> str:
    extension = opts.samples_format.lower().lstrip(".")
    return extension if option_values.writable_image_format(extension) else "png"


def encode_pil_to_base64(image: Image.Image) -> bytes:
    """The image as base64 (bytes, as A1111's function returns) in opts.samples_format, its infotext kept."""
    text_items = {key: value for key, value in image.info.items()
                  if isinstance(key, str) and isinstance(value, str) and key != "parameters"}
    with io.BytesIO() as buffer:
        images.save_image_with_geninfo(image, image.info.get("parameters"), buffer, extension=_output_extension(),
                                       existing_pnginfo=text_items)
        return base64.b64encode(buffer.getvalue())


def encode_to_text(image: Image.Image) -> str:
    return encode_pil_to_base64(image).decode("ascii")
