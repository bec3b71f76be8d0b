"""Prompt accuracy of the demo model, judged from the pixels, through the webui's own generation path.

Usage:
    python -m tools.demo_model.evaluate [--checkpoint PATH] [--seeds 1 2] [--cfg 7 1] [--steps 20]

Every "a <colour> <shape> on a <background> background" prompt (3 × 6 × 2) is generated with each seed at its native
resolution with the default sampler, once per CFG scale; colour, background and shape accuracy are printed for each
scale, then the time of one 20-step image.
"""

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

from tools.demo_model.judge import judge
from tools.demo_model.shapes import BACKGROUNDS, COLOURS, RESOLUTION, SHAPES, caption_for

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                  "models", "Stable-diffusion", "serena-demo-shapes.safetensors")
DEFAULT_SEEDS = (1, 2)
DEFAULT_CFG_SCALES = (7.0, 1.0)
ATTRIBUTES = ("colour", "background", "shape")


def load_checkpoint(path: str):
    """Load `path` as shared.sd_model the way the webui does (checkpoint list, detection, config folder)."""
    from modules import devices, sd_models, shared

    devices.init(shared.cmd_opts)
    info = sd_models.CheckpointInfo(path)
    info.register()
    return sd_models.reload_model_weights(info=info)


def generate(prompt: str, seed: int, cfg_scale: float, negative_prompt: str = "", steps: int = 20,
             sampler_name: str | None = None, size: int = RESOLUTION):
    """One txt2img image through processing.process_images (sampler None = the webui's default)."""
    from modules import processing

    p = processing.StableDiffusionProcessingTxt2Img(
        prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps, width=size, height=size,
        sampler_name=sampler_name, cfg_scale=cfg_scale, do_not_save_samples=True, do_not_save_grid=True)
    return processing.process_images(p).images[0]


def grid_prompts() -> list[tuple[str, dict[str, str]]]:
    """(prompt, expected attributes) for every colour × shape × background."""
    return [(caption_for(shape, colour, background), {"colour": colour, "shape": shape, "background": background})
            for colour, shape, background in itertools.product(COLOURS, SHAPES, BACKGROUNDS)]


@dataclass
class GridResult:
    cfg_scale: float
    total: int = 0
    correct: Counter = field(default_factory=Counter)
    shape_confusion: Counter = field(default_factory=Counter)  # (expected, judged) -> count
    images: list = field(default_factory=list)

    def accuracy(self, attribute: str) -> float:
        return self.correct[attribute] / self.total if self.total else 0.0

    def summary(self) -> str:
        parts = [f"{a} {100 * self.accuracy(a):5.1f}% ({self.correct[a]}/{self.total})" for a in ATTRIBUTES]
        return f"CFG {self.cfg_scale:g}: " + "  ".join(parts)


def evaluate_grid(cfg_scale: float, seeds=DEFAULT_SEEDS, steps: int = 20, sampler_name: str | None = None) -> GridResult:
    result = GridResult(cfg_scale)
    for (prompt, expected), seed in itertools.product(grid_prompts(), seeds):
        image = generate(prompt, seed, cfg_scale, steps=steps, sampler_name=sampler_name)
        verdict = judge(image)
        result.images.append(image)
        result.total += 1
        judged = {"colour": verdict.colour, "shape": verdict.shape, "background": verdict.background}
        result.correct.update(a for a in ATTRIBUTES if judged[a] == expected[a])
        result.shape_confusion[(expected["shape"], verdict.shape)] += 1
    return result


def save_sheet(images: list, path: str, columns: int, zoom: int = 4) -> None:
    """All images in one PNG, `columns` per row, each enlarged `zoom` times."""
    from PIL import Image

    side = RESOLUTION * zoom
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * side, rows * side), (128, 128, 128))
    for index, image in enumerate(images):
        enlarged = image.resize((side, side), Image.Resampling.NEAREST)
        sheet.paste(enlarged, ((index % columns) * side, (index // columns) * side))
    sheet.save(path)


def seconds_per_image(steps: int = 20, repeats: int = 5, sampler_name: str | None = None) -> float:
    """Median wall time of one native-resolution txt2img image at CFG 7 (after one warm-up image)."""
    prompt = caption_for("circle", "red", "black")
    generate(prompt, 0, 7.0, steps=steps, sampler_name=sampler_name)
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        generate(prompt, seed, 7.0, steps=steps, sampler_name=sampler_name)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--cfg", type=float, nargs="*", default=list(DEFAULT_CFG_SCALES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampler", default=None, help="sampler name; default: the webui's default")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--save-sheets", metavar="DIR", help="save each CFG scale's images as one PNG there")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    os.environ.setdefault("IGNORE_CMD_ARGS_ERRORS", "1")  # argv is ours, not the webui's
    os.environ.setdefault("SERENA_DATA_DIR", tempfile.mkdtemp(prefix="serena-demo-eval-"))
    model = load_checkpoint(args.checkpoint)
    print(f"checkpoint {args.checkpoint} ({model.architecture.name}, config {model.config_dir})")
    print(f"{len(grid_prompts())} prompts × seeds {args.seeds}, {args.steps} steps, {RESOLUTION}x{RESOLUTION}, "
          f"sampler {args.sampler or 'default'}")
    for cfg_scale in args.cfg:
        result = evaluate_grid(cfg_scale, args.seeds, args.steps, args.sampler)
        print(result.summary())
        confusion = ", ".join(f"{e}->{j}: {n}" for (e, j), n in sorted(result.shape_confusion.items(), key=str)
                              if e != j)
        print(f"  shape confusions: {confusion or 'none'}")
        if args.save_sheets:
            os.makedirs(args.save_sheets, exist_ok=True)
            save_sheet(result.images, os.path.join(args.save_sheets, f"cfg{cfg_scale:g}.png"),
                       columns=len(SHAPES) * len(BACKGROUNDS) * len(args.seeds))
    if not args.no_timing:
        print(f"one {args.steps}-step {RESOLUTION}x{RESOLUTION} image: "
              f"{seconds_per_image(args.steps, sampler_name=args.sampler):.3f} s (median of 5)")


if __name__ == "__main__":
    main()
