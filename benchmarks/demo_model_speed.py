"""Time of one 20-step image at native resolution with the embedded demo model, through processing.process_images.

    python -m benchmarks.demo_model_speed [--repeats 10] [--warmup 2] [--steps 20] [--threads 1]

process_images is the path the UI's Generate button and the API's txt2img take. The committed
models/Stable-diffusion/serena-demo-shapes.safetensors is loaded as the webui loads it, warm-up images are made, then
the median wall-clock time of --repeats images (32x32, CFG 7, the default sampler, a new seed each) is compared with
the M03 target of 1 s: ratio = median / 1 s, PASS when <= 1.
"""

import argparse
import statistics
import sys
import time

import torch

from benchmarks.common import load_note, make_data_dir, verdict

TARGET_SECONDS = 1.0
PROMPT = "a red circle on a black background"


def time_generations(count: int, steps: int, first_seed: int) -> list[float]:
    from tools.demo_model.evaluate import generate

    times = []
    for seed in range(first_seed, first_seed + count):
        start = time.perf_counter()
        generate(PROMPT, seed, 7.0, steps=steps)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 keeps torch's own choice")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    make_data_dir("demo-speed")

    from tools.demo_model.evaluate import DEFAULT_CHECKPOINT, load_checkpoint

    model = load_checkpoint(DEFAULT_CHECKPOINT)
    print(f"{DEFAULT_CHECKPOINT}: native {model.native_size}x{model.native_size}, {args.steps} steps, "
          f"torch threads {torch.get_num_threads()}, device {model.device}")
    time_generations(args.warmup, args.steps, first_seed=1000)
    times = time_generations(args.repeats, args.steps, first_seed=1)
    median = statistics.median(times)
    ratio = median / TARGET_SECONDS
    ok = ratio <= 1.0
    print(f"per image: median {median * 1000:.0f} ms, min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
          f"({args.repeats} images)")
    print(load_note())
    print(f"ratio to the {TARGET_SECONDS:.0f} s target: {ratio:.2f} {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
