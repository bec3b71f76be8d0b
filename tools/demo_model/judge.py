"""What a picture shows, judged from its pixels: background, foreground colour and shape.

- background: the median of the outermost ring of pixels, named by the nearest background colour;
- foreground: the pixels far (in RGB distance) from that measured background;
- colour: the named shape colour nearest to the mean of the foreground;
- shape: the fill ratio of the foreground's bounding box (square ~1, circle ~pi/4, triangle ~1/2).
"""

from dataclasses import dataclass

import numpy as np

from tools.demo_model.shapes import BACKGROUNDS, COLOURS

FOREGROUND_DISTANCE = 110.0  # about half the smallest distance between a shape colour and a background
MIN_FOREGROUND_PIXELS = 6
SQUARE_FROM = 0.88  # fill ratios: [SQUARE_FROM, 1] square, [CIRCLE_FROM, SQUARE_FROM) circle, below triangle
CIRCLE_FROM = 0.655


@dataclass(frozen=True)
class Verdict:
    background: str
    colour: str | None  # None when nothing stands out from the background
    shape: str | None
    fill_ratio: float
    foreground_pixels: int


def nearest_name(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = [np.linalg.norm(rgb - np.array(palette[name], dtype=np.float32)) for name in names]
    return names[int(np.argmin(distances))]


def border_pixels(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def shape_from_fill_ratio(ratio: float) -> str:
    if ratio >= SQUARE_FROM:
        return "square"
    if ratio >= CIRCLE_FROM:
        return "circle"
    return "triangle"


def judge(image) -> Verdict:
    """Judge an RGB image (PIL image or H×W×3 array)."""
    pixels = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float32)
    background_rgb = np.median(border_pixels(pixels), axis=0)
    background = nearest_name(background_rgb, BACKGROUNDS)
    foreground = np.linalg.norm(pixels - background_rgb, axis=-1) > FOREGROUND_DISTANCE
    count = int(foreground.sum())
    if count < MIN_FOREGROUND_PIXELS:
        return Verdict(background, None, None, 0.0, count)
    colour = nearest_name(pixels[foreground].mean(axis=0), COLOURS)
    rows, columns = np.nonzero(foreground)
    box_area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    ratio = count / box_area
    return Verdict(background, colour, shape_from_fill_ratio(ratio), float(ratio), count)
