"""M17 cause 8: A1111's Sketch, Inpaint sketch and Inpaint upload img2img modes: what each tab's images become (the
picture to start from and the mask), refusals naming the tab, and an inpaint-upload and a sketch generation through
the tab's spec with the real model."""

import numpy as np
import pytest
from PIL import Image

from modules import img2img, processing
from modules.jobs import builder
from modules.jobs.spec import GenerationSpec
from test.generation_job import process_as_a_job


def red_with_a_blue_square() -> tuple[Image.Image, Image.Image]:
    original = Image.new("RGB", (64, 64), "red")
    drawn = original.copy()
    drawn.paste((0, 0, 255), (16, 16, 48, 48))
    return original, drawn


def test_a_sketch_starts_from_the_picture_with_the_drawing_and_no_mask():
    original, drawn = red_with_a_blue_square()
    image, mask = img2img.init_image_and_mask(img2img.MODE_SKETCH, None, None,
                                              sketch={"background": original, "layers": [], "composite": drawn})
    assert mask is None and np.array_equal(np.array(image.convert("RGB")), np.array(drawn))


@pytest.mark.parametrize(("alpha", "masked_value"), [(0, 255), (50, 127)])
def test_an_inpaint_sketch_masks_what_the_drawing_changed_fainter_by_its_transparency(alpha, masked_value):
    original, drawn = red_with_a_blue_square()
    image, mask = img2img.init_image_and_mask(img2img.MODE_INPAINT_SKETCH, None, None, inpaint_color_sketch={
        "background": original, "layers": [], "composite": drawn}, mask_blur=0, mask_alpha=alpha)
    assert mask.mode == "L" and abs(int(np.array(mask)[32, 32]) - masked_value) <= 1 and np.array(mask)[2, 2] == 0
    pixels = np.array(image)
    assert tuple(pixels[2, 2]) == (255, 0, 0)  # untouched outside the drawing
    assert pixels[32, 32][2] > 100 and (alpha == 0) == (tuple(pixels[32, 32]) == (0, 0, 255))


def test_inpaint_upload_takes_the_uploaded_image_and_mask():
    original, _ = red_with_a_blue_square()
    uploaded_mask = Image.new("RGB", (64, 64), "black")
    uploaded_mask.paste((255, 255, 255), (0, 0, 32, 64))
    image, mask = img2img.init_image_and_mask(img2img.MODE_INPAINT_UPLOAD, None, None, init_img_inpaint=original,
                                              init_mask_inpaint=uploaded_mask)
    assert image.size == (64, 64) and mask.mode == "L" and np.array(mask)[10, 10] == 255 and np.array(mask)[10, 50] == 0


@pytest.mark.parametrize(("mode", "fields", "message"), [
    (img2img.MODE_SKETCH, {}, "Sketch tab"),
    (img2img.MODE_INPAINT_SKETCH, {"inpaint_color_sketch": {"background": Image.new("RGB", (8, 8)), "layers": [],
                                                             "composite": Image.new("RGB", (8, 8))}},
     "Nothing to inpaint"),
    (img2img.MODE_INPAINT_UPLOAD, {"init_img_inpaint": Image.new("RGB", (8, 8))}, "both an image and a mask"),
])
def test_a_mode_without_what_it_needs_is_refused_naming_the_tab(mode, fields, message):
    with pytest.raises(ValueError, match=message):
        img2img.init_image_and_mask(mode, None, None, **fields)


@pytest.mark.parametrize("mode", [img2img.MODE_INPAINT_UPLOAD, img2img.MODE_SKETCH])
def test_the_tabs_spec_of_each_mode_generates_with_the_real_model(sd_model, mode):
    original, drawn = red_with_a_blue_square()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    spec = img2img.img2img_spec(mode=mode, prompt="a blue square", steps=2, width=64, height=64, sampler_name="Euler",
                                seed=3, denoising_strength=0.6, inpaint_full_res="Whole picture",
                                init_img_inpaint=original, init_mask_inpaint=mask,
                                sketch={"background": original, "layers": [], "composite": drawn})
    assert set(spec.images) == ({"init_images", "mask"} if mode == img2img.MODE_INPAINT_UPLOAD else {"init_images"})
    p = builder.build_processing(GenerationSpec.from_json(spec.to_json()), sd_model)
    p.do_not_save_samples = p.do_not_save_grid = True
    result = process_as_a_job(p, "img2img")
    assert isinstance(p, processing.StableDiffusionProcessingImg2Img) and result.images[0].size == (64, 64)
    if mode == img2img.MODE_INPAINT_UPLOAD:  # outside the mask the original stays
        assert tuple(np.array(result.images[0].convert("RGB"))[2, 2]) == (255, 0, 0)
