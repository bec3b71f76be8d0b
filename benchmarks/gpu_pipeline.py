"""Whole-image speed of ours against diffusers on the same single-file checkpoint, with the physical limit beside it.

    python -m benchmarks.gpu_pipeline [--tiny] [--steps 20] [--repeats 5] [--rows sd15-b1-euler_a ...] [--json FILE]
                                      [--diffusers-same-flags] [--profile DIR]
                                      [webui flags: --upcast-sampling, --opt-compile, --opt-channelslast, ...]

For each row (architecture, size, sampler, batch): a random-weight checkpoint in A1111's single-file layout, built by
tools/make_tiny_checkpoint.py at the architecture's real size (--tiny: its tiny size, on whatever device there is,
so the test suite runs this same code on the CPU); ours is processing.process_images (saving off); diffusers is
StableDiffusionPipeline / StableDiffusionXLPipeline from the same file with the same scheduler class and config
(made by our sampler), the same initial noise (drawn where ours draws it: randn_source), CFG 7; with
--diffusers-same-flags its pipeline also gets what --opt-channelslast and --opt-compile give ours (channels-last UNet
and VAE; its UNet under torch.compile in the same mode), otherwise it runs as diffusers' defaults do. After a warm-up
each is run --repeats times (ours, then diffusers, each for its own peak memory) and the medians compared (seconds
per image). Beside them: the bare UNet's time for the same steps (the floor of any loop around it), the FLOPs of one
image (torch's FLOP counter) over a measured matmul peak (the physical limit), first-load times (ours: until the
model is ready; the sha256 of a file never hashed before runs in the background and is waited for, untimed, before
diffusers' load is timed), peak device memory (each one's own: the other's weights, resident meanwhile, left out),
and the mean pixel difference between the two images (deterministic samplers only), and what each launches: the
tensor operations dispatched per sampling step (on a GPU about one kernel each; autocast's casts included) and the
host syncs per image (.item() and the like), counted by the same generation at --steps and at twice as many (not with
--opt-compile: a compiled UNet's kernels are not dispatched one by one). Target (not --tiny): ours <= 1.0 x diffusers
on every row; the exit status is 1 when one misses it. --profile DIR: one generation of each under torch's profiler,
per row: its table (top operations and kernels) and a gzipped Chrome trace in DIR, and the kernels launched and the
dtype casts (aten::_to_copy, aten::copy_) counted beside the results (the issue's H200 profile, reproduced; not with
--opt-compile).
"""

import argparse
import collections
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

TARGET_RATIO = 1.0
PROMPT, NEGATIVE = "a red cube on a table, studio light", "blurry"


@dataclass(frozen=True)
class Row:
    name: str
    arch: str
    size: int
    sampler: str
    batch: int

    @property
    def deterministic(self) -> bool:
        return self.sampler.startswith("DPM++ 2M") and "SDE" not in self.sampler


ROWS = [Row("sd15-b1-euler_a", "sd15", 512, "Euler a", 1), Row("sd15-b1-dpmpp_2m_karras", "sd15", 512,
        "DPM++ 2M Karras", 1), Row("sd15-b4-euler_a", "sd15", 512, "Euler a", 4),
        Row("sd15-b4-dpmpp_2m_karras", "sd15", 512, "DPM++ 2M Karras", 4),
        Row("sdxl-b1-euler_a", "sdxl-base", 1024, "Euler a", 1)]
TINY_SIZE = 64


@dataclass
class Result:
    row: str
    ours_s_per_image: float
    diffusers_s_per_image: float
    ratio: float
    bare_unet_s_per_image: float
    physical_limit_s_per_image: float
    ours_peak_memory_mb: float | None
    diffusers_peak_memory_mb: float | None
    mean_pixel_difference: float | None
    load_s: dict = field(default_factory=dict)
    ops_per_step: dict = field(default_factory=dict)
    syncs_per_image: dict = field(default_factory=dict)
    profile: dict = field(default_factory=dict)


HOST_SYNCS = frozenset({"_local_scalar_dense", "nonzero", "equal"})
"""Operations that make the host wait for the device for a number (.item(), a data-dependent shape, a comparison's
answer); copies of whole tensors to the host (the decoded images) are not counted."""


class DispatchedOps(TorchDispatchMode):
    """Counts the tensor operations that compute something (views excluded), by name."""

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


PROFILED_CASTS = ("aten::_to_copy", "aten::copy_")


def profiled(generate, label: str, out_dir: str) -> dict:
    """One generate() under torch's profiler: its table and gzipped Chrome trace written to out_dir as
    <label>.txt / <label>.json.gz; returns the kernels it launched on the GPU (None on the CPU; copies, fills and
    annotations not counted) and how many times each cast operation ran."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    on_gpu = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if on_gpu else [ProfilerActivity.CPU]
    with profile(activities=activities) as trace:
        generate()
    averages = trace.key_averages()
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"{label}.txt"), "w", encoding="utf8") as file:
        file.write(averages.table(sort_by="self_cuda_time_total" if on_gpu else "self_cpu_time_total", row_limit=40))
    trace.export_chrome_trace(os.path.join(out_dir, f"{label}.json.gz"))
    counts = {event.key: event.count for event in averages}
    kernels = sum(1 for event in trace.events() if event.device_type == DeviceType.CUDA
                  and not getattr(event, "is_user_annotation", False)
                  and not event.name.startswith(("Memcpy", "Memset"))) if on_gpu else None
    return {"kernels": kernels, **{name: counts.get(name, 0) for name in PROFILED_CASTS}}


def dispatched(function) -> collections.Counter:
    with DispatchedOps() as ops:
        function()
    return ops.counts


def launches(generate, steps: int, batch: int) -> tuple[float, float]:
    """(operations per sampling step, host syncs per image) of generate(steps): from a run at steps and one at twice
    as many, so that the per-image work (text encoding, decoding, saving) cancels out of the first."""
    once, twice = dispatched(lambda: generate(steps)), dispatched(lambda: generate(2 * steps))
    syncs = sum(once[name] for name in HOST_SYNCS)
    return (sum(twice.values()) - sum(once.values())) / steps, syncs / batch


def prepare_environment() -> str:
    data_dir = tempfile.mkdtemp(prefix="serena-bench-gpu-")
    os.environ["SERENA_DATA_DIR"] = data_dir
    os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TQDM_DISABLE"] = "1"
    return data_dir


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device: torch.device) -> tuple[float, object]:
    synchronize(device)
    started = time.perf_counter()
    value = function()
    synchronize(device)
    return time.perf_counter() - started, value


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def allocated_mb(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _minus(value: float | None, other: float | None) -> float | None:
    return None if value is None or other is None else value - other


def matmul_peak_flops(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul in the model's dtype: what this device can do at best."""
    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    seconds = min(timed(lambda: a @ b, device)[0] for _ in range(5))
    return 2 * n**3 / seconds


def make_checkpoint(data_dir: str, arch: str, tiny: bool) -> str:
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    path = os.path.join(data_dir, "models", "Stable-diffusion", f"bench-{arch}.safetensors")
    if not os.path.exists(path):
        make_tiny_checkpoint(arch, path, seed=0, full_size=not tiny)
    return path


def load_ours(path: str):
    from modules import sd_models

    sd_models.list_models()
    return sd_models.load_model(sd_models.get_closet_checkpoint_match(os.path.basename(path)))


def load_diffusers(path: str, model, device: torch.device, dtype: torch.dtype, same_flags=None):
    """diffusers' pipeline from the same file and config folder (the tokenizer from the repo, no safety checker);
    same_flags (webui flags): what --opt-channelslast and --opt-compile would give ours, given to it."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    same_files = {"config": model.config_dir, "torch_dtype": dtype, "tokenizer": model.tokenizer}
    if model.is_sdxl:
        pipe = StableDiffusionXLPipeline.from_single_file(path, local_files_only=True, tokenizer_2=model.tokenizer,
                                                          **same_files)
    else:
        pipe = StableDiffusionPipeline.from_single_file(path, local_files_only=True, safety_checker=None,
                                                        feature_extractor=None, requires_safety_checker=False,
                                                        **same_files)
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    if same_flags is not None:
        from modules import devices, unet_compile

        for module in (pipe.unet, pipe.vae):
            devices.apply_memory_format(module, same_flags)
        if same_flags.opt_compile:
            pipe.unet = torch.compile(pipe.unet, mode=unet_compile.compile_mode(device))
    return pipe


def processing_job(row: Row, size: int, steps: int, seed: int):
    from modules import processing

    return processing.StableDiffusionProcessingTxt2Img(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=seed, steps=steps, width=size, height=size, cfg_scale=7.0,
        sampler_name=row.sampler, batch_size=row.batch, do_not_save_samples=True, do_not_save_grid=True)


def run_ours(row: Row, size: int, steps: int, seed: int):
    from modules import processing

    return processing.process_images(processing_job(row, size, steps, seed)).images[:row.batch]


def same_noise_and_scheduler(model, row: Row, size: int, seed: int):
    """The initial noise process_images draws for this row, and the diffusers scheduler our sampler makes."""
    from modules import processing, rng, sd_samplers, shared

    factor = model.vae_scale_factor
    noise = rng.ImageRNG((model.latent_channels, size // factor, size // factor), [seed + i for i in range(row.batch)],
                         device=processing.noise_device(shared.opts)).next()
    name, schedule = sd_samplers.get_sampler_and_scheduler(row.sampler, None)
    sampler = sd_samplers.create_sampler(name, model)
    sampler.scheduler_label = schedule
    return noise, sampler.make_scheduler()


def run_diffusers(pipe, row: Row, size: int, steps: int, noise: torch.Tensor):
    return pipe(prompt=[PROMPT] * row.batch, negative_prompt=[NEGATIVE] * row.batch, num_inference_steps=steps,
                guidance_scale=7.0, height=size, width=size, latents=noise.to(pipe.device, pipe.unet.dtype),
                output_type="pil").images


def bare_unet_seconds(model, row: Row, size: int, steps: int, device: torch.device) -> float:
    """The UNet alone on the CFG batch, `steps` times, called as the sampler calls it (fp32 latents, its autocast,
    its compiled UNet): no loop around it can be faster. Three calls first: a CUDA graph is recorded at the second."""
    from modules import devices

    factor = model.vae_scale_factor
    latents = torch.randn(2 * row.batch, model.latent_channels, size // factor, size // factor, device=device)
    cond, _ = unet_inputs(model, row, size, device)
    with torch.no_grad(), devices.autocast():
        for i in range(3):
            model.apply_model(latents, torch.tensor(999 - i, device=device), cond)
        seconds, _ = timed(lambda: [model.apply_model(latents, torch.tensor(999 - i, device=device), cond)
                                    for i in range(steps)], device)
    return seconds


def unet_inputs(model, row: Row, size: int, device: torch.device):
    with torch.no_grad():
        texts = [PROMPT] * row.batch + [NEGATIVE] * row.batch
        cond = model.get_learned_conditioning(_with_size(texts, size))
    if isinstance(cond, dict):
        cond = {key: value.to(device, model.unet.dtype) for key, value in cond.items()}
    else:
        cond = cond.to(device, model.unet.dtype)
    return cond, texts


def _with_size(texts: list[str], size: int):
    from modules import prompt_parser

    return prompt_parser.SdConditioning(texts, width=size, height=size)


def image_flops(model, row: Row, size: int, steps: int, device: torch.device) -> float:
    """FLOPs of one image: the UNet on its CFG pair for every step, its share of the text encoders, its VAE decode."""
    from torch.utils.flop_counter import FlopCounterMode

    single = Row(row.name, row.arch, size, row.sampler, 1)
    factor = model.vae_scale_factor
    latents = torch.randn(2, model.latent_channels, size // factor, size // factor, device=device,
                          dtype=model.unet.dtype)
    runner, model.unet_runner = model.unet_runner, None  # a CUDA graph's replay dispatches no operation to count
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as unet_count:
            cond, _ = unet_inputs(model, single, size, device)
            model.apply_model(latents, torch.tensor(999, device=device), cond)
    finally:
        model.unet_runner = runner
    with torch.no_grad(), FlopCounterMode(display=False) as vae_count:
        model.decode_first_stage(latents[:1])
    return steps * unet_count.get_total_flops() + vae_count.get_total_flops()


def mean_pixel_difference(ours, theirs) -> float:
    return float(np.mean([np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean()
                          for a, b in zip(ours, theirs)]))


def measure_row(row: Row, data_dir: str, steps: int, repeats: int, tiny: bool, peak: float,
                diffusers_flags=None, profile_dir: str | None = None) -> Result:
    from modules import devices, sd_models, shared

    device, dtype = devices.device, devices.dtype
    size = TINY_SIZE if tiny else row.size
    path = make_checkpoint(data_dir, row.arch, tiny)
    loaded = shared.sd_model
    load_s = {}
    if loaded is None or loaded.sd_checkpoint_info.filename != os.path.abspath(path):
        sd_models.unload_model_weights()
        load_s["ours"], _ = timed(lambda: load_ours(path), device)
        hash_wait, _ = timed(shared.sd_model.sd_checkpoint_info.wait_for_hash, device)
        print(f"{row.name}: ours loaded in {load_s['ours']:.2f} s, its sha256 ready {hash_wait:.2f} s later",
              flush=True)
    model = shared.sd_model
    ours_resident = allocated_mb(device)  # each peak below leaves out the other one's weights, resident meanwhile
    load_s["diffusers"], pipe = timed(lambda: load_diffusers(path, model, device, dtype, diffusers_flags), device)
    their_resident = _minus(allocated_mb(device), ours_resident)
    seed = 1234
    noise, scheduler = same_noise_and_scheduler(model, row, size, seed)
    pipe.scheduler = scheduler
    run_ours(row, size, steps, seed)
    run_diffusers(pipe, row, size, steps, noise)
    ours_times, theirs_times = [], []
    reset_peak(device)
    for _ in range(repeats):
        seconds, ours_images = timed(lambda: run_ours(row, size, steps, seed), device)
        ours_times.append(seconds / row.batch)
    ours_peak = _minus(peak_mb(device), their_resident)
    reset_peak(device)
    for _ in range(repeats):
        seconds, their_images = timed(lambda: run_diffusers(pipe, row, size, steps, noise), device)
        theirs_times.append(seconds / row.batch)
    their_peak = _minus(peak_mb(device), ours_resident)
    ops_per_step, syncs_per_image = {}, {}
    if not shared.cmd_opts.opt_compile:
        ops_per_step["ours"], syncs_per_image["ours"] = launches(lambda n: run_ours(row, size, n, seed), steps,
                                                                 row.batch)
        ops_per_step["diffusers"], syncs_per_image["diffusers"] = launches(
            lambda n: run_diffusers(pipe, row, size, n, noise), steps, row.batch)
    profile = {}
    if profile_dir is not None and shared.cmd_opts.opt_compile:
        print(f"{row.name}: not profiled: CUDA graphs under torch's profiler need its own set-up (profile eager runs)")
    elif profile_dir is not None:
        profile["ours"] = profiled(lambda: run_ours(row, size, steps, seed), f"{row.name}-ours", profile_dir)
        profile["diffusers"] = profiled(lambda: run_diffusers(pipe, row, size, steps, noise), f"{row.name}-diffusers",
                                        profile_dir)
        print(f"{row.name}: profiled, ours {profile['ours']}, diffusers {profile['diffusers']}", flush=True)
    ours, theirs = statistics.median(ours_times), statistics.median(theirs_times)
    result = Result(
        row=row.name, ours_s_per_image=ours, diffusers_s_per_image=theirs, ratio=ours / theirs,
        bare_unet_s_per_image=bare_unet_seconds(model, row, size, steps, device) / row.batch,
        physical_limit_s_per_image=image_flops(model, row, size, steps, device) / peak,
        ours_peak_memory_mb=ours_peak, diffusers_peak_memory_mb=their_peak,
        mean_pixel_difference=mean_pixel_difference(ours_images, their_images) if row.deterministic else None,
        load_s=load_s, ops_per_step=ops_per_step, syncs_per_image=syncs_per_image, profile=profile)
    pipe.to("cpu")
    devices.release_memory()
    return result


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: list[Result]) -> str:
    lines = ["| row | ours s/img | diffusers s/img | ours/diffusers | bare UNet s/img | limit s/img | peak MB ours / "
             "diffusers | mean |d| /255 | load s ours / diffusers | ops/step ours / diffusers | syncs/img ours / "
             "diffusers |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.row} | {_number(r.ours_s_per_image)} | {_number(r.diffusers_s_per_image)} | "
                     f"{_number(r.ratio, 2)} | {_number(r.bare_unet_s_per_image)} | "
                     f"{_number(r.physical_limit_s_per_image, 4)} | {_number(r.ours_peak_memory_mb, 0)} / "
                     f"{_number(r.diffusers_peak_memory_mb, 0)} | {_number(r.mean_pixel_difference, 2)} | "
                     f"{_number(r.load_s.get('ours'), 2)} / {_number(r.load_s.get('diffusers'), 2)} | "
                     f"{_number(r.ops_per_step.get('ours'), 0)} / {_number(r.ops_per_step.get('diffusers'), 0)} | "
                     f"{_number(r.syncs_per_image.get('ours'), 1)} / {_number(r.syncs_per_image.get('diffusers'), 1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny checkpoints (the CPU check of this script)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", nargs="+", choices=[row.name for row in ROWS], help="only these rows")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--diffusers-same-flags", action="store_true",
                        help="give diffusers' pipeline what --opt-channelslast and --opt-compile give ours")
    parser.add_argument("--profile", metavar="DIR", help="also profile one generation of each, per row, into DIR")
    args, webui_flags = parser.parse_known_args(argv)  # the rest (--upcast-sampling, --opt-compile, ...) are the webui's
    data_dir = prepare_environment()

    from modules import devices, shared

    devices.init(shared.cmd_opts)
    print(f"device {devices.device}, dtype {devices.dtype}, torch {torch.__version__}, webui flags {webui_flags}, "
          f"diffusers {'with the same flags' if args.diffusers_same_flags else 'as its defaults'}, data dir {data_dir}")
    peak = matmul_peak_flops(devices.device, devices.dtype)
    print(f"matmul peak: {peak / 1e12:.2f} TFLOP/s")
    rows = [row for row in ROWS if not args.rows or row.name in args.rows]
    results = []
    for row in rows:
        results.append(measure_row(row, data_dir, args.steps, args.repeats, args.tiny, peak,
                                   shared.cmd_opts if args.diffusers_same_flags else None, args.profile))
        print(f"{row.name}: ours {results[-1].ours_s_per_image:.3f} s/img, diffusers "
              f"{results[-1].diffusers_s_per_image:.3f} s/img ({results[-1].ratio:.2f}x)", flush=True)
    print(table(results))
    if args.json:
        with open(args.json, "w", encoding="utf8") as file:
            json.dump([asdict(result) for result in results], file, indent=1)
    if args.tiny:
        print("tiny: timings of tiny models say nothing about a GPU; no target")
        return 0
    missed = [r.row for r in results if r.ratio > TARGET_RATIO]
    print(f"{'FAIL' if missed else 'PASS'}: ours <= {TARGET_RATIO} x diffusers on every row"
          + (f" (missed: {', '.join(missed)})" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
