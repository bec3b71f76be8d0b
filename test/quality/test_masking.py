"""Inpainting mask geometry: crop region, aspect-ratio expansion, fill."""

import numpy as np
from PIL import Image, ImageDraw

from modules import masking


def test_crop_region_bounds_the_mask_with_padding_clamped_to_the_image():
    mask = Image.new("L", (100, 80), 0)
    ImageDraw.Draw(mask).rectangle((10, 20, 29, 39), fill=255)
    assert masking.get_crop_region(mask) == (10, 20, 30, 40)
    assert masking.get_crop_region(mask, pad=15) == (0, 5, 45, 55)


def test_empty_mask_crops_to_the_whole_image():
    assert masking.get_crop_region(Image.new("L", (50, 40), 0)) == (0, 0, 50, 40)


def test_expansion_reaches_the_processing_aspect_ratio_inside_the_image():
    for region, size in [((10, 10, 20, 40), (64, 64)), ((10, 10, 50, 20), (64, 32)), ((90, 10, 99, 40), (64, 64))]:
        x1, y1, x2, y2 = masking.expand_crop_region(region, *size, 100, 100)
        assert 0 <= x1 < x2 <= 100 and 0 <= y1 < y2 <= 100
        assert abs((x2 - x1) / (y2 - y1) - size[0] / size[1]) < 0.1
        assert x1 <= region[0] and y1 <= region[1] and x2 >= min(region[2], 100) and y2 >= region[3]


def test_fill_paints_the_masked_area_with_surrounding_colour():
    image = Image.new("RGB", (64, 64), (0, 200, 0))
    ImageDraw.Draw(image).rectangle((24, 24, 40, 40), fill=(255, 0, 0))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((20, 20, 44, 44), fill=255)
    filled = np.asarray(masking.fill(image, mask))
    centre = filled[32, 32].astype(int)
    assert centre[1] > centre[0], "the red square under the mask is replaced by the green surroundings"
    assert np.array_equal(filled[0, 0], [0, 200, 0])
