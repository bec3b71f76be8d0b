"""Inpainting mask helpers (A1111's modules/masking.py names)."""

from PIL import Image, ImageFilter, ImageOps


def get_crop_region(mask: Image.Image, pad: int = 0) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) around the mask's non-zero pixels, grown by `pad`, clamped to the image."""
    box = mask.convert("L").getbbox()
    if box is None:
        return 0, 0, mask.width, mask.height
    x1, y1, x2, y2 = box
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, mask.width), min(y2 + pad, mask.height)


def _grow_span(low: int, high: int, desired: float, limit: int) -> tuple[int, int]:
    """Widens [low, high) to `desired` around its centre, shifted back inside [0, limit)."""
    diff = int(desired - (high - low))
    low -= diff // 2
    high += diff - diff // 2
    if high >= limit:
        low -= high - limit
        high = limit
    return max(low, 0), min(high, limit)


def expand_crop_region(crop_region, processing_width, processing_height, image_width, image_height):
    """Grows the region to the processing aspect ratio, staying inside the image."""
    x1, y1, x2, y2 = crop_region
    ratio_processing = processing_width / processing_height
    if (x2 - x1) / (y2 - y1) > ratio_processing:
        y1, y2 = _grow_span(y1, y2, (x2 - x1) / ratio_processing, image_height)
    else:
        x1, x2 = _grow_span(x1, x2, (y2 - y1) * ratio_processing, image_width)
    return x1, y1, x2, y2


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Inpainting fill mode 0: the masked area painted with ever less blurred colours of its surroundings."""
    keep = ImageOps.invert(mask.convert("L"))
    result = Image.new("RGBA", image.size)
    source = Image.new("RGBa", image.size)
    source.paste(image.convert("RGBA").convert("RGBa"), mask=keep)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = source.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            result.alpha_composite(blurred)
    return result.convert("RGB")


def create_binary_mask(image: Image.Image, round: bool = True) -> Image.Image:  # noqa: A002 (A1111's name)
    """An "L" mask: an RGBA image's alpha channel (rounded to 0/255 unless round is False) when it is not fully
    opaque, else the image in grey."""
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.split()[-1].convert("L")
        return alpha.point(lambda x: 255 if x > 128 else 0) if round else alpha
    return image.convert("L")
