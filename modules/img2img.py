"""The img2img tab's generation function (A1111's modules/img2img.py): its img2img, sketch, inpaint, inpaint sketch
and inpaint upload modes, and A1111's process_batch (img2img over a folder of images) that extensions call."""

import logging
import os

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from modules import images, infotext_utils, output_paths, paths_internal, processing, scripts, sd_models, shared
from modules.jobs import builder, script_values
from modules.jobs.spec import GenerationSpec
from modules.txt2img import refiner_fields, run_spec, seed_fields, tab_spec

log = logging.getLogger(__name__)

MODE_IMG2IMG, MODE_SKETCH, MODE_INPAINT, MODE_INPAINT_SKETCH, MODE_INPAINT_UPLOAD = 0, 1, 2, 3, 4
"""A1111's img2img mode numbers (5, batch from a folder, is offered to extensions as process_batch)."""

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


def _editor_images(editor, tab: str) -> tuple[Image.Image, Image.Image]:
    """(the uploaded picture, the picture with what was drawn over it) of an image editor's value."""
    editor = editor or {}
    background = editor.get("background")
    if background is None:
        raise ValueError(f"No image: upload one in the {tab} tab")
    background = images.fix_image(background)
    composite = editor.get("composite")
    composite = images.fix_image(composite).convert(background.mode) if composite is not None else background
    if composite.size != background.size:
        composite = composite.resize(background.size)
    return background, composite


def _sketched_inpaint(editor, mask_blur: int, mask_alpha: float) -> tuple[Image.Image, Image.Image]:
    """A1111's inpaint sketch: the mask is what the drawing changed (fainter by mask_alpha %), and the picture is the
    drawing blended over the original through that mask, blurred by mask_blur."""
    original, drawn = _editor_images(editor, "Inpaint sketch")
    changed = np.any(np.array(drawn.convert("RGB")) != np.array(original.convert("RGB")), axis=-1)
    if not changed.any():
        raise ValueError("Nothing to inpaint: draw over the image in the Inpaint sketch tab")
    mask = ImageEnhance.Brightness(Image.fromarray(changed.astype(np.uint8) * 255, mode="L")).enhance(
        1 - float(mask_alpha) / 100)
    blur = ImageFilter.GaussianBlur(int(mask_blur))
    image = Image.composite(drawn.convert("RGB").filter(blur), original.convert("RGB"), mask.filter(blur))
    return image, mask


def init_image_and_mask(mode: int, init_img, init_img_with_mask, sketch=None, inpaint_color_sketch=None,
                        init_img_inpaint=None, init_mask_inpaint=None, mask_blur: int = 4, mask_alpha: float = 0):
    """(the picture to start from, the mask to inpaint or None) of the tab's mode."""
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
    if mode == MODE_SKETCH:
        return _editor_images(sketch, "Sketch")[1], None
    if mode == MODE_INPAINT_SKETCH:
        return _sketched_inpaint(inpaint_color_sketch, mask_blur, mask_alpha)
    if mode == MODE_INPAINT_UPLOAD:
        if init_img_inpaint is None or init_mask_inpaint is None:
            raise ValueError("Inpaint upload needs both an image and a mask: upload them in the Inpaint upload tab")
        return images.fix_image(init_img_inpaint), images.fix_image(init_mask_inpaint).convert("L")
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
                 refiner_switch_at: float = 0.8, sketch=None, inpaint_color_sketch=None, init_img_inpaint=None,
                 init_mask_inpaint=None, mask_alpha: float = 0) -> GenerationSpec:
    """The tab's fields as a spec: the input image (and, inpainting, the painted mask) as images, the radio
    buttons' texts as A1111's indices."""
    image, mask = init_image_and_mask(int(mode), init_img, init_img_with_mask, sketch, inpaint_color_sketch,
                                      init_img_inpaint, init_mask_inpaint, mask_blur, mask_alpha)
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


PNG_INFO_PROPS = ("Prompt", "Negative prompt", "Seed", "CFG scale", "Sampler", "Steps", "Model hash")
"""What process_batch may take from each image's infotext (A1111's choices)."""


def _infotext_values(path: str, png_info_dir: str | None, props) -> dict:
    """The chosen props of the infotext in the image at path (or in the same-named image of png_info_dir)."""
    unknown = [prop for prop in props or [] if prop not in PNG_INFO_PROPS]
    if unknown:
        raise ValueError(f"png_info_props: unknown {unknown}; choose from {list(PNG_INFO_PROPS)}")
    source = os.path.join(png_info_dir, os.path.basename(path)) if png_info_dir else path
    try:
        with Image.open(source) as image:
            text, _ = images.read_info_from_image(image)
    except OSError:
        return {}
    parsed = infotext_utils.parse_generation_parameters(text) if text else {}
    return {key: value for key, value in parsed.items() if key in (props or ())}


def _apply_infotext(p, values: dict, base: dict) -> None:
    """A1111's use of an image's infotext in batch img2img: its prompts appended, the rest in place of the tab's."""
    p.prompt = base["prompt"] + (" " + values["Prompt"] if "Prompt" in values else "")
    p.negative_prompt = base["negative_prompt"] + (" " + values["Negative prompt"] if "Negative prompt" in values
                                                   else "")
    p.seed = int(values.get("Seed", base["seed"]))
    p.cfg_scale = float(values.get("CFG scale", base["cfg_scale"]))
    p.sampler_name = values.get("Sampler", base["sampler_name"])
    p.steps = int(values.get("Steps", base["steps"]))
    model = sd_models.get_closet_checkpoint_match(values.get("Model hash"))
    if model is not None:
        p.override_settings["sd_model_checkpoint"] = model.name
    elif base["checkpoint"] is not None:
        p.override_settings["sd_model_checkpoint"] = base["checkpoint"]
    else:
        p.override_settings.pop("sd_model_checkpoint", None)


def process_batch(p, input_dir: str, output_dir: str, inpaint_mask_dir: str, args, to_scale: bool = False,
                  scale_by: float = 1.0, use_png_info: bool = False, png_info_props=None, png_info_dir=None):
    """A1111's batch img2img: p run on each image of input_dir (with the same-named mask of inpaint_mask_dir, or its
    only mask), sized by scale_by when to_scale, saved in output_dir (a folder in the data dir) under the image's
    name; args: the tab's script inputs. Returns the first image's Processed (None for an empty folder)."""
    paths = images.image_files_in(input_dir)
    masks = {os.path.splitext(os.path.basename(path))[0]: path
             for path in (images.image_files_in(inpaint_mask_dir) if inpaint_mask_dir else [])}
    folder = output_paths.folder_in_data_dir("output_dir", output_dir, paths_internal.data_path) if output_dir \
        else None
    base = {"prompt": p.prompt, "negative_prompt": p.negative_prompt, "seed": p.seed, "cfg_scale": p.cfg_scale,
            "sampler_name": p.sampler_name, "steps": p.steps,
            "checkpoint": p.override_settings.get("sd_model_checkpoint")}
    state = shared.state
    state.job_count = len(paths) * p.n_iter
    first = None
    for number, path in enumerate(paths):
        state.job = f"{number + 1} out of {len(paths)}"
        if state.skipped:
            state.skipped = False
        if state.interrupted or state.stopping_generation:
            break
        stem = os.path.splitext(os.path.basename(path))[0]
        mask_path = masks.get(stem) or (next(iter(masks.values())) if len(masks) == 1 else None)
        if masks and mask_path is None:
            log.warning("img2img batch: %s skipped: no mask of that name in %s", path, inpaint_mask_dir)
            continue
        try:
            image = images.read(path)
            mask = images.read(mask_path) if mask_path else None
        except OSError as error:  # a broken file: the others are still done, as in A1111
            log.warning("img2img batch: %s skipped: %s", path, error)
            continue
        if to_scale:
            p.width, p.height = int(image.width * scale_by), int(image.height * scale_by)
        p.init_images = [image] * p.batch_size
        if masks:
            p.image_mask = mask
        if use_png_info:
            _apply_infotext(p, _infotext_values(path, png_info_dir, png_info_props), base)
        if folder is not None:
            p.outpath_samples = folder
            p.override_settings["save_to_dirs"] = False
            p.override_settings["save_images_replace_action"] = "Add number suffix"
            numbered = p.n_iter > 1 or p.batch_size > 1
            p.override_settings["samples_filename_pattern"] = f"{stem}-[generation_number]" if numbered else stem
        processed = p.scripts.run(p, *args) if p.scripts is not None and args else None
        if processed is None:
            processed = processing.process_images(p)
        first = first or processed
    return first
