"""The img2img tab's generation function (A1111's modules/img2img.py): img2img and inpaint modes."""


import numpy as np
from PIL import Image

from modules import images, processing, scripts, shared
from modules.jobs import builder, script_values
from modules.jobs.spec import GenerationSpec
from modules.txt2img import refiner_fields, run_spec, seed_fields, tab_spec

MODE_IMG2IMG = 0
MODE_INPAINT = 2
"""A1111's img2img mode numbers (1 sketch, 3 inpaint sketch, 4 inpaint upload, 5 batch are not offered)."""

resize_modes = ["Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"]
mask_modes = ["Inpaint masked", "Inpaint not masked"]
masked_content_options = ["fill", "original", "latent noise", "latent nothing"]
inpaint_areas = ["Whole picture", "Only masked"]


def mask_from_layers(layers, size: tuple[int, int]) -> Image.Image | None:
    """The painted pixels of the image editor's layers as a white-on-black mask; None when nothing is painted."""
    painted = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers or []:
        if layer is None:
            continue
        layer = layer.convert("RGBA")
        if layer.size != size:
            layer = layer.resize(size, Image.Resampling.NEAREST)
        painted |= np.array(layer.getchannel("A")) > 0
    if not painted.any():
        return None
    return Image.fromarray(painted.astype(np.uint8) * 255, mode="L")


def _index(options: list[str], value, default: int = 0) -> int:
    """Radio values arrive as text; A1111's processing fields are indices."""
    if isinstance(value, int):
        return value
    return options.index(value) if value in options else default


def init_image_and_mask(mode: int, init_img, init_img_with_mask):
    if mode == MODE_INPAINT:
        editor = init_img_with_mask or {}
        image = editor.get("background")
        if image is None:
            raise ValueError("No image to inpaint: upload one in the Inpaint tab")
        image = images.fix_image(image)
        mask = mask_from_layers(editor.get("layers"), image.size)
        if mask is None:
            raise ValueError("Nothing to inpaint: paint a mask over the image with the brush")
        return image, mask
    if init_img is None:
        raise ValueError("No input image: upload one in the img2img tab")
    return images.fix_image(init_img), None


def img2img_spec(script_args=(), mode: int = MODE_IMG2IMG, prompt: str = "", negative_prompt: str = "", styles=None,
                 init_img=None, init_img_with_mask=None, steps: int = 20, sampler_name: str | None = None,
                 scheduler: str | None = None, mask_blur: int = 4, inpainting_fill="original", n_iter: int = 1,
                 batch_size: int = 1, cfg_scale: float = 7.0, denoising_strength: float = 0.75, height: int = 512,
                 width: int = 512, resize_mode="Just resize", inpaint_full_res="Whole picture",
                 inpaint_full_res_padding: int = 32, inpainting_mask_invert="Inpaint masked", seed: int = -1,
                 subseed: int = -1, subseed_strength: float = 0.0, seed_resize_from_h: int = 0,
                 seed_resize_from_w: int = 0, seed_enable_extras: bool = False,
                 override_settings=None, enable_refiner: bool = False, refiner_checkpoint: str | None = None,
                 refiner_switch_at: float = 0.8) -> GenerationSpec:
    """The tab's fields as a spec: the input image (and, inpainting, the painted mask) as images, the radio
    buttons' texts as A1111's indices."""
    image, mask = init_image_and_mask(int(mode), init_img, init_img_with_mask)
    params = {"prompt": prompt, "negative_prompt": negative_prompt, "styles": list(styles or []),
              "sampler_name": sampler_name, "scheduler": scheduler, "batch_size": int(batch_size),
              "n_iter": int(n_iter), "steps": int(steps), "cfg_scale": cfg_scale, "width": int(width),
              "height": int(height), "mask_blur": int(mask_blur),
              "inpainting_fill": _index(masked_content_options, inpainting_fill, default=1),
              "resize_mode": _index(resize_modes, resize_mode), "denoising_strength": float(denoising_strength),
              "inpaint_full_res": bool(_index(inpaint_areas, inpaint_full_res)),
              "inpaint_full_res_padding": int(inpaint_full_res_padding),
              "inpainting_mask_invert": _index(mask_modes, inpainting_mask_invert),
              "override_settings": override_settings or {}, "save_images": True, "send_images": False,
              **seed_fields(seed, subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w,
                            seed_enable_extras),
              **refiner_fields(enable_refiner, refiner_checkpoint, refiner_switch_at)}
    images = {"init_images": [script_values.png_bytes(image)]}
    extra_generation_params = {}
    if mask is not None:
        images["mask"] = [script_values.png_bytes(mask)]
        # written only when not the default, as infotext parsing fills in the defaults (processing adds the rest)
        if params["inpainting_mask_invert"]:
            extra_generation_params["Mask mode"] = mask_modes[params["inpainting_mask_invert"]]
        if params["inpainting_fill"] != 1:
            extra_generation_params["Masked content"] = masked_content_options[params["inpainting_fill"]]
    return tab_spec("img2img", params, script_args, scripts.scripts_img2img, images, extra_generation_params)


def img2img_create_processing(id_task: str, **fields) -> processing.StableDiffusionProcessingImg2Img:
    return builder.build_processing(img2img_spec(**fields), shared.sd_model)


def img2img(id_task: str, script_args=(), **fields):
    """Generates from the tab's fields (script_args: the tab's script inputs) in the caller's job; returns (images,
    generation_info_js, html_info, html comments)."""
    return run_spec(img2img_spec(script_args, **fields))
