"""The command line's wall time for one demo-model image against what it cannot avoid, both measured in this run:

    python -m benchmarks.cli_wall [--runs 3] [--steps 20]

- cli: `python cli.py txt2img ...` from spawn to exit (start-up, checks, the job queue, the model load, one image,
  saving it), in a fresh data dir each run;
- in-process floor, in a fresh process each run: importing the engine (torch, modules), loading the demo checkpoint
  as the webui loads it, and one generation of the same request through processing.process_images (nothing saved).
Runs alternate between the two; ratio = median cli wall / median (import + load + generation), target <= 1.5. The
breakdown of both is printed."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.common import REPO_ROOT, load_note, verdict

TARGET_RATIO = 1.5
PROMPT = "a red circle on a black background"
SIZE = 32
SEED = 7


def floor_in_this_process(steps: int) -> dict[str, float]:
    """Import, model load and one generation, each timed (run in a fresh process by the parent)."""
    started = time.perf_counter()
    import torch  # noqa: F401

    from modules import devices, processing, sd_models, shared  # noqa: F401
    from tools.demo_model.evaluate import DEFAULT_CHECKPOINT, generate, load_checkpoint

    imported = time.perf_counter()
    load_checkpoint(DEFAULT_CHECKPOINT)
    loaded = time.perf_counter()
    generate(PROMPT, SEED, 7.0, steps=steps, size=SIZE)
    generated = time.perf_counter()
    return {"import": imported - started, "load": loaded - imported, "generation": generated - loaded}


def run_floor(steps: int, env: dict) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks.cli_wall", "--floor", "--steps", str(steps)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    parts["process"] = time.perf_counter() - started
    return parts


def run_cli(steps: int, env: dict) -> float:
    data_dir = tempfile.mkdtemp(prefix="serena-bench-cli-")
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "cli.py", "txt2img", "--data-dir", data_dir, "--prompt", PROMPT, "--seed",
                        str(SEED), "--steps", str(steps), "--width", str(SIZE), "--height", str(SIZE)],
                       cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"
        print(json.dumps(floor_in_this_process(args.steps)))
        return 0
    env = {key: value for key, value in os.environ.items() if key not in ("SERENA_DATA_DIR", "IGNORE_CMD_ARGS_ERRORS")}
    env.update(HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    floors, walls = [], []
    for _ in range(args.runs):
        walls.append(run_cli(args.steps, env))
        floor_dir = tempfile.mkdtemp(prefix="serena-bench-floor-")
        try:
            floors.append(run_floor(args.steps, {**env, "SERENA_DATA_DIR": floor_dir}))
        finally:
            shutil.rmtree(floor_dir, ignore_errors=True)
    parts = {key: statistics.median(floor[key] for floor in floors) for key in floors[0]}
    floor = statistics.median(f["import"] + f["load"] + f["generation"] for f in floors)
    wall = statistics.median(walls)
    print(f"demo model, {SIZE}x{SIZE}, {args.steps} steps, {args.runs} runs each, alternating")
    print(f"in-process floor (medians): import {parts['import']:.2f} s + model load {parts['load']:.2f} s + "
          f"generation {parts['generation']:.2f} s = {floor:.2f} s (whole process {parts['process']:.2f} s)")
    print(f"cli.py txt2img wall: median {wall:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"cli overhead over the floor: {wall - floor:.2f} s")
    print(load_note())
    ratio = wall / floor
    ok = ratio <= TARGET_RATIO
    print(f"ratio cli / floor: {ratio:.2f} (target <= {TARGET_RATIO}) {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
