"""Postprocessing (A1111's modules/postprocessing.py): upscaling by a factor, or to a size, with the named
upscalers; behind the Extras tab and /sdapi/v1/extra-single-image and extra-batch-images. `req` is anything with
the fields of the API's ExtrasBaseRequest."""

import html

from PIL import Image

from modules import shared, upscaler
from modules.infotext_utils import create_infotext_line


class PostprocessingError(ValueError):
    """A request that cannot be done; status and field as the API answers it."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message

NO_UPSCALER = (None, "", "None")


def check_upscaler(name: str | None, field: str) -> None:
    if name not in NO_UPSCALER and not any(u.name == name for u in shared.sd_upscalers):
        known = ", ".join(u.name for u in shared.sd_upscalers)
        raise PostprocessingError(404, field, f"upscaler not found: {name!r}; known upscalers: {known}")


def check_request(req) -> None:
    check_upscaler(req.upscaler_1, "upscaler_1")
    check_upscaler(req.upscaler_2, "upscaler_2")


def _scale(image: Image.Image, req) -> float:
    if req.resize_mode == 0:
        return req.upscaling_resize
    return max(req.upscaling_resize_w / image.width, req.upscaling_resize_h / image.height)


def _check_size(width: int, height: int, field: str) -> None:
    if width * height > shared.opts.img_max_size_mp * 1_000_000:
        raise PostprocessingError(422, field, f"the result would be {width}x{height}, over the "
                                              f"{shared.opts.img_max_size_mp} megapixel limit (option img_max_size_mp)")


def _center_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def _generation_info(req, scale: float) -> dict:
    info = {}
    if req.resize_mode == 0:
        info["Postprocess upscale by"] = scale
    else:
        info["Postprocess upscale to"] = f"{req.upscaling_resize_w}x{req.upscaling_resize_h}"
        if req.upscaling_crop:
            info["Postprocess crop to"] = f"{req.upscaling_resize_w}x{req.upscaling_resize_h}"
    info["Postprocess upscaler"] = req.upscaler_1
    if req.upscaler_2 not in NO_UPSCALER and req.extras_upscaler_2_visibility > 0:
        info["Postprocess upscaler 2"] = req.upscaler_2
    return info


def upscale(image: Image.Image, req) -> tuple[Image.Image, dict]:
    """(result, infotext fields); with upscaler_1 "None" the image comes back unchanged, as in A1111."""
    if req.upscaler_1 in NO_UPSCALER:
        return image, {}
    scale = _scale(image, req)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    _check_size(width, height, "upscaling_resize" if req.resize_mode == 0 else "upscaling_resize_w")
    source = image.convert("RGB")
    result = upscaler.upscale_image(source, width, height, req.upscaler_1)
    if req.upscaler_2 not in NO_UPSCALER and req.extras_upscaler_2_visibility > 0:
        second = upscaler.upscale_image(source, width, height, req.upscaler_2)
        result = Image.blend(result, second, req.extras_upscaler_2_visibility)
    if req.resize_mode == 1 and req.upscaling_crop:
        result = _center_crop(result, req.upscaling_resize_w, req.upscaling_resize_h)
    return result, _generation_info(req, scale)


def process(image: Image.Image, req) -> tuple[Image.Image, str]:
    """The result carrying the source's infotext plus a "postprocessing" text, and that text."""
    result, info = upscale(image, req)
    text = create_infotext_line(info)
    result.info = {key: value for key, value in image.info.items() if key == "parameters"}
    if text:
        result.info["postprocessing"] = text
    return result, text


def html_info(texts: list[str]) -> str:
    return "<p>" + "<br>\n".join(html.escape(text) for text in texts if text) + "</p>"
