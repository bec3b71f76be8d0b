"""The procedural data set: one flat-coloured shape on a plain background, captioned in plain English.

Everything is deterministic from a seed: `make_dataset(count, seed)` gives the same pixels and captions every time.

Captions are deliberately imperfect, as web captions are: each word naming the colour, the background or the shape
is, one time in five, a wrong one. The conditional model alone then matches its prompt only about four times in
five, and classifier-free guidance is what makes it follow the prompt - so a broken CFG shows in the pictures.
The wrong words come from their own random stream: the images are the same as in shapes-v1.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

DATA_VERSION = "shapes-v2"
RESOLUTION = 32
SUPERSAMPLE = 4

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 20, 30),
    "green": (20, 170, 40),
    "blue": (30, 60, 230),
    "yellow": (245, 230, 20),
    "purple": (150, 40, 190),
    "orange": (250, 120, 0),
}
BACKGROUNDS = {"black": (0, 0, 0), "white": (255, 255, 255)}

# Shape extent (diameter / side / base and height) as a fraction of the image side, and the size words.
MIN_SIZE, MAX_SIZE = 10 / 32, 24 / 32
SMALL_UP_TO, LARGE_FROM = 14 / 32, 20 / 32

# How often a caption names the size (when the shape is clearly small or large), or leaves out a part.
SIZE_WORD_PROBABILITY = 0.7
NO_BACKGROUND_PROBABILITY = 0.15
NO_COLOUR_PROBABILITY = 0.1
WRONG_WORD_PROBABILITY = 0.2  # each of colour, background and shape words, independently
CAPTION_NOISE_STREAM = 1


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    colour: str
    background: str
    size: float  # extent as a fraction of the image side
    centre_x: float  # fractions of the image side
    centre_y: float

    @property
    def size_word(self) -> str:
        if self.size <= SMALL_UP_TO:
            return "small"
        if self.size >= LARGE_FROM:
            return "large"
        return ""


def caption_for(shape: str, colour: str = "", background: str = "", size_word: str = "") -> str:
    """'a small red circle on a black background'; empty parts are left out."""
    words = " ".join(word for word in (size_word, colour, shape) if word)
    text = ("an " if words[0] in "aeiou" else "a ") + words
    return f"{text} on a {background} background" if background else text


def sample_spec(rng: np.random.Generator) -> ShapeSpec:
    size = float(rng.uniform(MIN_SIZE, MAX_SIZE))
    margin = size / 2 + 1 / 32
    return ShapeSpec(
        shape=SHAPES[rng.integers(len(SHAPES))],
        colour=list(COLOURS)[rng.integers(len(COLOURS))],
        background=list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))],
        size=size,
        centre_x=float(rng.uniform(margin, 1 - margin)),
        centre_y=float(rng.uniform(margin, 1 - margin)),
    )


def _maybe_wrong(word: str, choices, noise_rng: np.random.Generator) -> str:
    if noise_rng.random() >= WRONG_WORD_PROBABILITY:
        return word
    others = [choice for choice in choices if choice != word]
    return others[noise_rng.integers(len(others))]


def sample_caption(spec: ShapeSpec, rng: np.random.Generator, noise_rng: np.random.Generator) -> str:
    """A caption of `spec`: sometimes with its size word, sometimes without its background or colour, and with
    each of its colour, background and shape words sometimes wrong (drawn from `noise_rng`)."""
    size_word = spec.size_word if rng.random() < SIZE_WORD_PROBABILITY else ""
    background = "" if rng.random() < NO_BACKGROUND_PROBABILITY else spec.background
    colour = "" if rng.random() < NO_COLOUR_PROBABILITY else spec.colour
    shape = _maybe_wrong(spec.shape, SHAPES, noise_rng)
    colour = colour and _maybe_wrong(colour, COLOURS, noise_rng)
    background = background and _maybe_wrong(background, BACKGROUNDS, noise_rng)
    return caption_for(shape, colour, background, size_word)


def shape_outline(spec: ShapeSpec, side: float) -> tuple[str, list[tuple[float, float]]]:
    """('ellipse' | 'polygon', points) in pixel coordinates of a `side`-pixel canvas."""
    half = spec.size * side / 2
    x, y = spec.centre_x * side, spec.centre_y * side
    if spec.shape == "circle":
        return "ellipse", [(x - half, y - half), (x + half, y + half)]
    if spec.shape == "square":
        return "polygon", [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    return "polygon", [(x, y - half), (x + half, y + half), (x - half, y + half)]


def coverage_mask(spec: ShapeSpec, resolution: int = RESOLUTION) -> np.ndarray:
    """The fraction of each pixel the shape covers (float32, H×W), anti-aliased by supersampling."""
    side = resolution * SUPERSAMPLE
    canvas = Image.new("L", (side, side), 0)
    kind, points = shape_outline(spec, side)
    draw = ImageDraw.Draw(canvas)
    if kind == "ellipse":
        draw.ellipse(points, fill=255)
    else:
        draw.polygon(points, fill=255)
    small = canvas.resize((resolution, resolution), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def render(spec: ShapeSpec, resolution: int = RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 H×W×3, coverage float32 H×W)."""
    alpha = coverage_mask(spec, resolution)[..., None]
    foreground = np.array(COLOURS[spec.colour], dtype=np.float32)
    background = np.array(BACKGROUNDS[spec.background], dtype=np.float32)
    image = background * (1 - alpha) + foreground * alpha
    return np.rint(image).astype(np.uint8), alpha[..., 0]


@dataclass
class ShapeDataset:
    images: np.ndarray  # N×H×W×3 uint8
    masks: np.ndarray  # N×H×W uint8 coverage (0..255)
    captions: list[str]
    specs: list[ShapeSpec]
    seed: int


def make_dataset(count: int, seed: int, resolution: int = RESOLUTION) -> ShapeDataset:
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng((seed, CAPTION_NOISE_STREAM))
    images = np.empty((count, resolution, resolution, 3), dtype=np.uint8)
    masks = np.empty((count, resolution, resolution), dtype=np.uint8)
    captions, specs = [], []
    for index in range(count):
        spec = sample_spec(rng)
        images[index], alpha = render(spec, resolution)
        masks[index] = np.rint(alpha * 255).astype(np.uint8)
        captions.append(sample_caption(spec, rng, noise_rng))
        specs.append(spec)
    return ShapeDataset(images, masks, captions, specs, seed)
