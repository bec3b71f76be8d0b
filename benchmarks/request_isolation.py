"""What a job's own options and state cost, against the code before them (M11), both measured in this run.

    python -m benchmarks.request_isolation [--baseline REV] [--reads 200000] [--repeats 15] [--generations 30]

1. Option read: `opts.samples_format` inside a job (the job's options layer bound with contextvars) against the same
   read from the Options class of REV (its source taken from git), alternating; target ≤ 1.2 × REV's median.
2. Generation: a tiny txt2img (64x64, 8 steps, Euler a) started as the API starts one, in two worker processes, one
   on this tree and one on a checkout of REV (git worktree), run in turn; target ≤ 1.01 × REV's median.

REV defaults to b3f1dc0, the last commit before M11. Exit status 1 when a target is missed."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

from benchmarks import common

BASELINE = "b3f1dc0"
READ_TARGET = 1.2
GENERATION_TARGET = 1.01
GENERATION = {"prompt": "a red circle", "negative_prompt": "blue", "seed": 3, "steps": 8, "width": 64, "height": 64,
              "sampler_name": "Euler a", "do_not_save_samples": True, "do_not_save_grid": True}

WORKER = r'''
import json, os, sys, time
sys.path.insert(0, os.getcwd())
os.environ["TQDM_DISABLE"] = "1"
import torch
torch.set_num_threads(1)
from modules import call_queue, devices, processing, sd_models, shared
shared.device = devices.init(shared.cmd_opts)
sd_models.list_models()
sd_models.reload_model_weights()
fields = json.loads(sys.argv[1])


def generate():
    p = processing.StableDiffusionProcessingTxt2Img(sd_model=shared.sd_model, **fields)
    return processing.process_images(p)


def as_the_api_runs_it():
    if hasattr(call_queue, "run_as_job"):
        return call_queue.run_as_job(call_queue.queue_lock, "task(bench)", "scripts_txt2img", generate)
    with call_queue.queue_lock:
        shared.state.begin(job="scripts_txt2img")
        try:
            return generate()
        finally:
            shared.state.end()


as_the_api_runs_it()
print("ready", flush=True)
for line in sys.stdin:
    start = time.perf_counter()
    as_the_api_runs_it()
    print(time.perf_counter() - start, flush=True)
'''


def options_class_of(rev: str):
    """modules/options.py as it was at rev, loaded as a module of its own."""
    source = subprocess.run(["git", "show", f"{rev}:modules/options.py"], cwd=common.REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"options_at_{rev}")
    exec(compile(source, f"{rev}:modules/options.py", "exec"), module.__dict__)  # noqa: S102 (our own file at REV)
    return module.Options


def time_reads(opts, reads: int) -> float:
    start = time.perf_counter()
    for _ in range(reads // 10):
        opts.samples_format; opts.samples_format; opts.samples_format; opts.samples_format; opts.samples_format  # noqa: B018,E702
        opts.samples_format; opts.samples_format; opts.samples_format; opts.samples_format; opts.samples_format  # noqa: B018,E702
    return (time.perf_counter() - start) / reads * 1e9


def option_reads(rev: str, reads: int, repeats: int) -> dict:
    from modules import options, shared
    from modules.runtime import options_view

    before = options_class_of(rev)(dict(shared.opts.data_labels), set(shared.opts.restricted_opts))
    now = options.Options(dict(shared.opts.data_labels), set(shared.opts.restricted_opts))
    times = {"before": [], "in a job": [], "outside jobs": []}
    with options_view.job_options(now):
        time_reads(now, reads)
    time_reads(before, reads)
    for _ in range(repeats):
        times["before"].append(time_reads(before, reads))
        with options_view.job_options(now):
            times["in a job"].append(time_reads(now, reads))
        times["outside jobs"].append(time_reads(now, reads))
    return {name: statistics.median(values) for name, values in times.items()}


class Worker:
    def __init__(self, tree: str, data_dir: str):
        env = {**os.environ, "SERENA_DATA_DIR": data_dir, "IGNORE_CMD_ARGS_ERRORS": "1", "HF_HUB_OFFLINE": "1",
               "OMP_NUM_THREADS": "1"}
        import json

        self.process = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(GENERATION)], cwd=tree, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the worker in {tree} did not start (exit {self.process.wait()})")

    def generate(self) -> float:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def generations(rev: str, count: int) -> dict:
    data_dir = common.make_data_dir("isolation")
    common.make_checkpoint(data_dir, "tiny")
    tree = tempfile.mkdtemp(prefix="serena-bench-baseline-")
    subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=common.REPO_ROOT, check=True,
                   capture_output=True)
    workers = {}
    try:
        workers = {"before": Worker(tree, data_dir), "now": Worker(common.REPO_ROOT, data_dir)}
        times = {name: [] for name in workers}
        for _ in range(count):
            for name, worker in workers.items():
                times[name].append(worker.generate())
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        for worker in workers.values():
            worker.close()
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=common.REPO_ROOT, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="the revision to compare with (default: %(default)s)")
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--generations", type=int, default=30)
    args = parser.parse_args()
    reads_data_dir = common.make_data_dir("isolation-reads")  # before modules reads its settings

    print(f"load average: {os.getloadavg()}")
    reads = option_reads(args.baseline, args.reads, args.repeats)
    read_ratio = reads["in a job"] / reads["before"]
    print(f"option read, ns (median of {args.repeats} x {args.reads}): {args.baseline} {reads['before']:.1f}, "
          f"now in a job {reads['in a job']:.1f}, now outside jobs {reads['outside jobs']:.1f}; "
          f"in a job / {args.baseline} = {read_ratio:.3f} (target <= {READ_TARGET})")
    shutil.rmtree(reads_data_dir, ignore_errors=True)
    runs = generations(args.baseline, args.generations)
    generation_ratio = runs["now"] / runs["before"]
    print(f"generation, s (median of {args.generations}, alternating): {args.baseline} {runs['before']:.4f}, "
          f"now {runs['now']:.4f}; now / {args.baseline} = {generation_ratio:.4f} (target <= {GENERATION_TARGET})")
    passed = read_ratio <= READ_TARGET and generation_ratio <= GENERATION_TARGET
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
