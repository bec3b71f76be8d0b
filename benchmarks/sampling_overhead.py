"""Per-step time of our sampling loop against a bare UNet + scheduler loop, on the tiny SD1 model.

    python -m benchmarks.sampling_overhead [--steps 20] [--repeats 15] [--sampler "Euler a"] [--size 64] [--threads 1]

Both loops run in this process on the same model, with the same scheduler class and settings, the same step count,
the same initial noise and per-image generators, and the same CFG batch (cond and uncond through the UNet as one
batch of 2). "Ours" is DiffusersSampler.sample with processing's step callback (progress, live-preview bookkeeping,
interrupt checks) and prompt_parser's scheduled conditioning; "bare" is the textbook diffusers loop. After a warm-up
the two are timed alternately and the medians compared (target: ours <= 1.05 x bare).

On the CPU the verdict uses process CPU time, which other programs on a shared machine do not inflate the way they
inflate wall-clock time; wall-clock is printed too (and is the measure on a GPU). "Outside the UNet" is the CPU time
of everything but the UNet's forward passes: where a loop's own overhead shows. The last lines give the marginal
per-step time of a whole processing.process_images call, (T(2n steps) - T(n steps)) / n, console progress bar
included (noisier: a difference of two medians), and the largest difference between the two loops' final latents
(0: they compute the same thing).
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

TARGET_RATIO = 1.05


def prepare_environment() -> str:
    """A throw-away data dir, set before any `modules` import reads it."""
    data_dir = tempfile.mkdtemp(prefix="serena-bench-sampling-")
    os.environ["SERENA_DATA_DIR"] = data_dir
    os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    return data_dir


def load_tiny_model(data_dir: str):
    from modules import devices, sd_models, shared
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    path = os.path.join(data_dir, "models", "Stable-diffusion", "bench-sd15.safetensors")
    make_tiny_checkpoint("sd15", path, seed=0)
    devices.init(shared.cmd_opts)
    sd_models.list_models()
    return sd_models.load_model(sd_models.get_closet_checkpoint_match(os.path.basename(path)))


class Setup:
    """One txt2img job prepared the way process_images prepares it, up to the sampler call."""

    def __init__(self, model, sampler_name: str, steps: int, size: int, seed: int = 1234):
        from modules import processing, prompt_parser

        self.p = processing.StableDiffusionProcessingTxt2Img(
            prompt="a red cube on a table", negative_prompt="blurry", seed=seed, steps=steps, width=size,
            height=size, cfg_scale=7.0, sampler_name=sampler_name, do_not_save_samples=True, do_not_save_grid=True)
        self.p.sd_model = model
        self.p.seeds = [seed]
        self.latent_shape = (model.latent_channels, size // model.vae_scale_factor, size // model.vae_scale_factor)
        settings = self.p.text_encoding_settings(model)
        self.c = prompt_parser.get_learned_conditioning(settings, [self.p.prompt], steps)
        self.uc = prompt_parser.get_learned_conditioning(settings, [self.p.negative_prompt], steps)
        self.cond_batch = torch.cat([prompt_parser.reconstruct_cond_batch(self.c, 0),
                                     prompt_parser.reconstruct_cond_batch(self.uc, 0)])

    def fresh_noise(self) -> torch.Tensor:
        """Initial noise and the per-image generators the sampler draws from (reset for every run)."""
        from modules import rng

        self.p.rng = rng.ImageRNG(self.latent_shape, self.p.seeds, device=self.p.sd_model.device)
        return self.p.rng.next()


def run_ours(setup: Setup) -> torch.Tensor:
    from modules import shared

    shared.state.begin(job="benchmark")
    try:
        sampler = setup.p.make_sampler(setup.p.sampler_name, setup.p.scheduler)
        return sampler.sample(setup.p, setup.fresh_noise(), setup.c, setup.uc)
    finally:
        shared.state.end()


def run_bare(setup: Setup, scheduler_class, scheduler_config: dict) -> torch.Tensor:
    """The plain diffusers loop: scale, UNet on [x, x] with [cond, uncond], guidance, scheduler step."""
    unet, p = setup.p.sd_model.unet, setup.p
    latents = setup.fresh_noise()
    scheduler = scheduler_class.from_config(scheduler_config)
    scheduler.set_timesteps(p.steps, device=latents.device)
    latents = latents * scheduler.init_noise_sigma
    generators = p.rng.generators
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            cond_out, uncond_out = unet(torch.cat([model_input, model_input]), t,
                                        encoder_hidden_states=setup.cond_batch).sample.chunk(2)
            guided = uncond_out + (cond_out - uncond_out) * p.cfg_scale
            latents = scheduler.step(guided, t, latents, generator=generators).prev_sample
    return latents


@dataclass
class StepTime:
    """Seconds per step of one run."""

    wall: float
    cpu: float
    cpu_outside_unet: float


class UNetClock:
    """Adds up the CPU time spent inside the UNet's forward passes (its hooks only read the clock)."""

    def __init__(self, unet):
        self.total = 0.0
        self._entered = 0.0
        unet.register_forward_pre_hook(self._enter)
        unet.register_forward_hook(self._leave)

    def _enter(self, *_):
        self._entered = time.process_time()

    def _leave(self, *_):
        self.total += time.process_time() - self._entered


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, setup: Setup, clock: UNetClock, *args) -> tuple[StepTime, object]:
    device, steps = setup.p.sd_model.device, setup.p.steps
    synchronize(device)
    clock.total = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(setup, *args)
    synchronize(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return StepTime(wall / steps, cpu / steps, (cpu - clock.total) / steps), result


def compare_loops(setup: Setup, repeats: int, warmup: int) -> tuple[list[StepTime], list[StepTime], float]:
    """Alternating timed runs of both loops: (ours, bare) per-step times and the largest final-latent difference."""
    reference = setup.p.make_sampler(setup.p.sampler_name, setup.p.scheduler).make_scheduler(setup.p.seeds)
    scheduler_class, scheduler_config = type(reference), dict(reference.config)
    clock = UNetClock(setup.p.sd_model.unet)
    times: dict[str, list[StepTime]] = {"ours": [], "bare": []}
    difference = 0.0
    for index in range(warmup + repeats):
        order = [("ours", run_ours, ()), ("bare", run_bare, (scheduler_class, scheduler_config))]
        results = {}
        for name, function, extra in (order if index % 2 == 0 else order[::-1]):
            step_time, results[name] = timed(function, setup, clock, *extra)
            if index >= warmup:
                times[name].append(step_time)
        difference = max(difference, (results["ours"] - results["bare"]).abs().max().item())
    return times["ours"], times["bare"], difference


def process_images_per_step(sampler_name: str, steps: int, size: int, repeats: int) -> float:
    """Marginal CPU seconds per step of a whole process_images call: (T(2n) - T(n)) / n, from medians."""
    from modules import processing, shared

    def generate(n_steps: int) -> float:
        p = processing.StableDiffusionProcessingTxt2Img(
            prompt="a red cube on a table", negative_prompt="blurry", seed=1234, steps=n_steps, width=size,
            height=size, sampler_name=sampler_name, do_not_save_samples=True, do_not_save_grid=True)
        shared.state.begin(job="benchmark")
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # the console progress bar is drawn, but not shown
                started = time.process_time()
                processing.process_images(p)
                return time.process_time() - started
        finally:
            shared.state.end()

    generate(steps)
    short, long = [], []
    for _ in range(repeats):
        short.append(generate(steps))
        long.append(generate(2 * steps))
    return (statistics.median(long) - statistics.median(short)) / steps


def median_ms(times: list[StepTime], field: str) -> float:
    return statistics.median(getattr(t, field) for t in times) * 1000


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sampler", default="Euler a")
    parser.add_argument("--size", type=int, default=64, help="image width and height in pixels")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared, busy CPU, OpenMP threads that wait for each "
                             "other make timings swing wildly; 0: torch's default)")
    args = parser.parse_args()

    data_dir = prepare_environment()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_tiny_model(data_dir)
    setup = Setup(model, args.sampler, args.steps, args.size)
    ours, bare, difference = compare_loops(setup, args.repeats, args.warmup)
    basis = "cpu" if model.device.type == "cpu" else "wall"
    ratios = {field: median_ms(ours, field) / median_ms(bare, field) for field in ("wall", "cpu")}
    whole_ms = process_images_per_step(setup.p.sampler_name, args.steps, args.size, max(3, args.repeats // 3)) * 1000

    print(f"sampling overhead: tiny sd15, {args.size}x{args.size}, {setup.p.sampler_name} ({setup.p.scheduler}), "
          f"{args.steps} steps, CFG batch 2, {args.repeats} timed runs of each loop after {args.warmup} warm-up, "
          f"device {model.device}, {torch.get_num_threads()} torch thread(s)")
    print(f"  {'ms per step (median)':28}{'wall':>10}{'CPU':>10}{'CPU outside UNet':>18}")
    for name, times in (("bare UNet + scheduler loop", bare), ("our sampler loop", ours)):
        print(f"  {name:28}{median_ms(times, 'wall'):10.3f}{median_ms(times, 'cpu'):10.3f}"
              f"{median_ms(times, 'cpu_outside_unet'):18.3f}")
    print(f"  {'ratio ours / bare':28}{ratios['wall']:10.3f}{ratios['cpu']:10.3f}")
    ok = ratios[basis] <= TARGET_RATIO
    print(f"  verdict on {basis} time: {ratios[basis]:.3f} (target <= {TARGET_RATIO}) {'PASS' if ok else 'FAIL'}")
    print(f"  process_images, marginal CPU per step: {whole_ms:.3f} ms ({whole_ms / median_ms(bare, 'cpu'):.3f} x bare)")
    print(f"  final latents, ours vs bare: largest absolute difference {difference:.3g}")
    print(f"  {load_note()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
