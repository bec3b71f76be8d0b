"""A1111's command-line flags (names and defaults); parsed into shared.cmd_opts by shared_cmd_options."""

import argparse
import math
import os

from modules import flag_effects
from modules.paths_internal import data_path, models_path, script_path


def non_negative_days(text: str) -> float:
    """A number of days, 0 or more (argparse names the flag when this refuses the value)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not math.isfinite(days) or days < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more days, got {text!r}")
    return days


VAE_FILE_EXTENSIONS = (".safetensors", ".ckpt", ".pt")


def vae_file(text: str) -> str:
    """An existing VAE file, as an absolute path."""
    path = os.path.abspath(text)
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    if not path.endswith(VAE_FILE_EXTENSIONS):
        raise argparse.ArgumentTypeError(f"{path} is not a VAE file (one of {', '.join(VAE_FILE_EXTENSIONS)})")
    return path


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


parser = argparse.ArgumentParser()

# launch / environment
parser.add_argument("-f", action="store_true", help=argparse.SUPPRESS)  # allows running as root; used by webui.sh
parser.add_argument("--skip-prepare-environment", action="store_true", help="launch.py: skip all environment preparation")
parser.add_argument("--skip-install", action="store_true", help="launch.py: do not install packages")
parser.add_argument("--skip-torch-cuda-test", action="store_true", help="launch.py: do not check that CUDA works")
parser.add_argument("--skip-python-version-check", action="store_true", help="launch.py: do not check the Python version")
parser.add_argument("--skip-version-check", action="store_true", help="do not check the versions of torch and xformers")
parser.add_argument("--reinstall-torch", action="store_true", help="launch.py: reinstall torch even when present")
parser.add_argument("--reinstall-xformers", action="store_true", help="launch.py: reinstall xformers even when present")
parser.add_argument("--update-check", action="store_true", help="launch.py: check for updates at startup")
parser.add_argument("--update-all-extensions", action="store_true", help="launch.py: update every extension at startup")
parser.add_argument("--exit", action="store_true", help="terminate after installation")
parser.add_argument("--test-server", action="store_true", help="configure the server for testing")
parser.add_argument("--dump-sysinfo", action="store_true", help="write system information to a file, then exit")
parser.add_argument("--loglevel", type=log_level, default=None, help="log level: one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
parser.add_argument("--log-startup", action="store_true", help="print a detailed log of the startup steps")
parser.add_argument("--no-download-sd-model", action="store_true", help="do not download a model when none is found")
parser.add_argument("--do-not-download-clip", action="store_true", help="do not download the CLIP model while loading")
parser.add_argument("--tests", type=str, default=None, help="launch.py: run the tests in this directory")
parser.add_argument("--no-tests", action="store_true", help="launch.py: do not run the tests even with --test-server")

# locations
parser.add_argument("--data-dir", type=str, default=script_path, help="base path where all user data is stored")
parser.add_argument("--models-dir", type=str, default=None, help="base path of the models; overrides --data-dir")
parser.add_argument("--config", type=str, default=None, help="path to the config that describes the model")
parser.add_argument("--ckpt", type=str, default=None, help="checkpoint to add to the list and load at startup")
parser.add_argument("--ckpt-dir", type=str, default=None, help="directory with Stable Diffusion checkpoints")
parser.add_argument("--vae-dir", type=str, default=None, help="directory with VAE files")
parser.add_argument("--vae-path", type=vae_file, default=None,
                    help="VAE file to use on every model; the VAE settings (sd_vae, override_settings) then change nothing")
parser.add_argument("--lora-dir", type=str, default=os.path.join(models_path, "Lora"), help="directory with Lora networks")
parser.add_argument("--embeddings-dir", type=str, default=os.path.join(data_path, "embeddings"),
                    help="directory with textual inversion embeddings")
parser.add_argument("--hypernetwork-dir", type=str, default=os.path.join(models_path, "hypernetworks"),
                    help="directory with hypernetworks")
parser.add_argument("--localizations-dir", type=str, default=os.path.join(script_path, "localizations"),
                    help="directory with localizations")
parser.add_argument("--codeformer-models-path", type=str, default=os.path.join(models_path, "Codeformer"),
                    help="directory with CodeFormer model files")
parser.add_argument("--gfpgan-models-path", type=str, default=os.path.join(models_path, "GFPGAN"),
                    help="directory with GFPGAN model files")
parser.add_argument("--gfpgan-dir", type=str, default=None, help="GFPGAN directory")
parser.add_argument("--gfpgan-model", type=str, default=None, help="GFPGAN model file name")
parser.add_argument("--unload-gfpgan", action="store_true", help="does not do anything")
for _name, _folder in (("bsrgan", "BSRGAN"), ("scunet", "ScuNET"), ("swinir", "SwinIR"), ("ldsr", "LDSR")):
    parser.add_argument(f"--{_name}-models-path", type=str, default=os.path.join(models_path, _folder),
                        help=f"directory with {_folder} model files")
parser.add_argument("--textual-inversion-templates-dir", type=str,
                    default=os.path.join(script_path, "textual_inversion_templates"),
                    help="directory with textual inversion templates")
parser.add_argument("--lyco-dir-backcompat", type=str, default=os.path.join(models_path, "LyCORIS"),
                    help="directory with LyCORIS networks (backwards compatibility)")
parser.add_argument("--deepdanbooru", action="store_true", help="does not do anything")

# attention and memory (A1111's optimizations)
for _flag, _help in (("--xformers-flash-attention", "use xformers' flash attention"),
                     ("--force-enable-xformers", "enable xformers whether or not it seems to work"),
                     ("--opt-split-attention", "use split attention"),
                     ("--opt-sub-quad-attention", "use sub-quadratic attention"),
                     ("--opt-split-attention-invokeai", "use InvokeAI's split attention"),
                     ("--opt-split-attention-v1", "use the older split attention"),
                     ("--disable-opt-split-attention", "use no cross-attention optimization"),
                     ("--opt-channelslast", "the model's convolution weights in the channels-last memory format"),
                     ("--always-batch-cond-uncond", "always run cond and uncond in one batch"),
                     ("--use-ipex", "use Intel XPUs"),
                     ("--disable-model-loading-ram-optimization", "load weights without the meta-device trick")):
    parser.add_argument(_flag, action="store_true", help=_help)
parser.add_argument("--sub-quad-q-chunk-size", type=int, default=1024, help="sub-quadratic attention query chunk")
parser.add_argument("--sub-quad-kv-chunk-size", type=int, default=None, help="sub-quadratic attention key/value chunk")
parser.add_argument("--sub-quad-chunk-threshold", type=int, default=None,
                    help="VRAM percentage at which sub-quadratic attention chunks")
parser.add_argument("--esrgan-models-path", type=str, default=os.path.join(models_path, "ESRGAN"),
                    help="directory with ESRGAN model files")
parser.add_argument("--realesrgan-models-path", type=str, default=os.path.join(models_path, "RealESRGAN"),
                    help="directory with RealESRGAN model files")
parser.add_argument("--dat-models-path", type=str, default=os.path.join(models_path, "DAT"),
                    help="directory with DAT model files")
parser.add_argument("--clip-models-path", type=str, default=None, help="directory with CLIP model files")
parser.add_argument("--ui-config-file", type=str, default=os.path.join(data_path, "ui-config.json"),
                    help="file with the UI element defaults")
parser.add_argument("--ui-settings-file", type=str, default=os.path.join(data_path, "config.json"),
                    help="file with the settings")
parser.add_argument("--styles-file", type=str, action="append", default=[],
                    help="styles file (path or wildcard); may be given several times")

# settings
parser.add_argument("--freeze-settings", action="store_true", help="disable editing of all settings")
parser.add_argument("--freeze-settings-in-sections", type=str, default=None,
                    help="disable editing settings in these sections (comma-separated ids)")
parser.add_argument("--freeze-specific-settings", type=str, default=None,
                    help="disable editing these settings (comma-separated keys)")
parser.add_argument("--hide-ui-dir-config", action="store_true", help="hide directory settings from the UI")

# device and precision
parser.add_argument("--no-half", action="store_true", help="do not switch the model to 16-bit floats")
parser.add_argument("--no-half-vae", action="store_true", help="do not switch the VAE to 16-bit floats")
parser.add_argument("--upcast-sampling", action="store_true", help="upcast sampling; no effect with --no-half")
parser.add_argument("--precision", type=str, choices=["full", "autocast"], default="autocast",
                    help="evaluate at this precision")
parser.add_argument("--use-cpu", nargs="+", type=str.lower, default=[],
                    help="use the CPU as torch device for these modules (or 'all')")
parser.add_argument("--device-id", type=str, default=None, help="CUDA device to use by default")
parser.add_argument("--medvram", action="store_true", help="trade a little speed for lower VRAM use")
parser.add_argument("--medvram-sdxl", action="store_true", help="enable --medvram only for SDXL models")
parser.add_argument("--lowvram", action="store_true", help="trade a lot of speed for very low VRAM use")
parser.add_argument("--lowram", action="store_true", help="load checkpoint weights to VRAM instead of RAM")
parser.add_argument("--opt-sdp-attention", action="store_true", help="use scaled dot product cross-attention")
parser.add_argument("--opt-sdp-no-mem-attention", action="store_true",
                    help="use scaled dot product cross-attention without the memory-efficient kernel (deterministic)")
parser.add_argument("--xformers", action="store_true", help="use xformers for cross attention")
parser.add_argument("--opt-compile", action="store_true",
                    help="compile the UNet with torch.compile (CUDA graphs on a GPU), once per image shape; the "
                         "compiled code is kept in the data dir's cache/torch_compile")
parser.add_argument("--disable-nan-check", action="store_true", help="do not check outputs for NaNs")
parser.add_argument("--no-hashing", action="store_true", help="do not compute sha256 hashes of checkpoints")
parser.add_argument("--disable-safe-unpickle", action="store_true", help="do not check pickled models for malicious code")
parser.add_argument("--skip-load-model-at-start", action="store_true", help="do not load a model at startup")

# server
parser.add_argument("--listen", action="store_true", help="listen on 0.0.0.0 to answer network requests")
parser.add_argument("--port", type=int, default=None, help="server port; defaults to 7860 (7861 with --nowebui)")
parser.add_argument("--server-name", type=str, default=None, help="hostname of the server")
parser.add_argument("--subpath", type=str, default=None, help="serve the UI under this subpath (reverse proxies)")
parser.add_argument("--share", action="store_true", help="make the UI reachable through gradio's share site")
parser.add_argument("--ngrok", type=str, default=None, help="ngrok authtoken: reach the UI through ngrok")
parser.add_argument("--ngrok-region", type=str, default="", help="ngrok region")
parser.add_argument("--ngrok-options", type=str, default=None, help="ngrok options as JSON")
parser.add_argument("--autolaunch", action="store_true", help="open the UI in the default browser at startup")
parser.add_argument("--tls-keyfile", type=str, default=None, help="TLS key file; needs --tls-certfile")
parser.add_argument("--tls-certfile", type=str, default=None, help="TLS certificate file; needs --tls-keyfile")
parser.add_argument("--disable-tls-verify", action="store_false", default=None, help="allow self-signed certificates")
parser.add_argument("--cors-allow-origins", type=str, default=None, help="allowed CORS origins, comma-separated")
parser.add_argument("--cors-allow-origins-regex", type=str, default=None, help="allowed CORS origins as one regex")
parser.add_argument("--timeout-keep-alive", type=int, default=30, help="uvicorn keep-alive timeout, in seconds")
parser.add_argument("--gradio-auth", type=str, default=None,
                    help='UI authentication as "username:password", or several as "u1:p1,u2:p2"')
parser.add_argument("--gradio-auth-path", type=str, default=None, help="file with UI credentials, same format")
parser.add_argument("--gradio-allowed-path", action="append", default=[], help="extra path the UI may serve files from")
parser.add_argument("--gradio-debug", action="store_true", help="launch gradio in debug mode")
parser.add_argument("--no-gradio-queue", action="store_true", help="disable the gradio queue")
parser.add_argument("--ui-debug-mode", action="store_true", help="start the UI without loading a model")
parser.add_argument("--gradio-queue", action="store_true", help="does not do anything")
parser.add_argument("--gradio-img2img-tool", type=str, default=None, help="does not do anything")
parser.add_argument("--gradio-inpaint-tool", type=str, default=None, help="does not do anything")
parser.add_argument("--show-negative-prompt", action="store_true", help="does not do anything")
parser.add_argument("--no-progressbar-hiding", action="store_true", help="do not hide the progress bar in the UI")

# API
parser.add_argument("--api", action="store_true", help="launch the API together with the UI")
parser.add_argument("--nowebui", action="store_true", help="launch only the API, without the UI")
parser.add_argument("--api-auth", type=str, default=None,
                    help='API authentication as "username:password", or several as "u1:p1,u2:p2"')
parser.add_argument("--api-log", action="store_true", help="log every API request")
parser.add_argument("--api-server-stop", action="store_true", help="allow stopping/restarting the server through the API")
parser.add_argument("--add-stop-route", action="store_true", help="does not do anything (see --api-server-stop)")
parser.add_argument("--jobs-history-days", type=non_negative_days, default=30, metavar="DAYS",
                    help="keep finished jobs in the job history (data dir's jobs.sqlite3) for DAYS days; 0 keeps them "
                         "forever")
parser.add_argument("--ray-address", type=str, default=None, metavar="local|auto|HOST:PORT",
                    help="run jobs on workers on a Ray cluster (needs requirements_ray.txt): local starts a private "
                         "one in this process, auto or HOST:PORT joins a running one (ray start --head)")
parser.add_argument("--ray-workers", type=int, default=1, metavar="N", help="with --ray-address: N workers (Ray actors)")
parser.add_argument("--ray-gpus-per-worker", type=float, default=0, metavar="F",
                    help="with --ray-address: GPUs each worker takes (0 on CPU; 0.5 puts two on one GPU)")

# extensions
parser.add_argument("--disable-all-extensions", action="store_true", help="run no extension at all")
parser.add_argument("--disable-extra-extensions", action="store_true", help="run only the built-in extensions")
parser.add_argument("--enable-insecure-extension-access", action="store_true",
                    help="enable the extensions tab even when the UI is reachable from the network")
parser.add_argument("--allow-code", action="store_true", help="allow running custom scripts from the UI")

# UI behaviour
parser.add_argument("--theme", type=str, default=None, choices=("light", "dark"),
                    help="UI theme: light or dark (without it: the browser's preference)")
parser.add_argument("--max-batch-count", type=int, default=16, help="maximum batch count in the UI")
parser.add_argument("--use-textbox-seed", action="store_true", help="use a textbox for seeds in the UI")
parser.add_argument("--disable-console-progressbars", action="store_true", help="print no progress bars to the console")
parser.add_argument("--enable-console-prompts", action="store_true", help="does not do anything")
parser.add_argument("--administrator", action="store_true", help="administrator rights")
parser.add_argument("--no-prompt-history", action="store_true", help="do not remember the last prompt in the UI")
parser.add_argument("--unix-filenames-sanitization", action="store_true", help="sanitize filenames for Unix only")
parser.add_argument("--filenames-max-length", type=int, default=128, help="maximum length of a saved file name")

flag_effects.mark_help(parser)
