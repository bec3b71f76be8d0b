"""A1111's flags that this webui accepts (so A1111 launch lines and scripts keep working) but that change nothing
here, each with why: named once at start-up when given, and marked in --help."""

ATTENTION = "attention runs on PyTorch's scaled_dot_product_attention (through diffusers), always"
NO_FACE_RESTORER = "no face restorer (GFPGAN, CodeFormer) is included"
NO_UPSCALER_MODELS = "no upscaler models are loaded: the upscalers are Lanczos, Nearest and the latent modes"
NO_INSTALLS = "launch.py installs and updates nothing: requirements come from requirements_versions.txt"
NO_TUNNELS = "no tunnels: the server listens on this machine (--listen opens it to the network)"
GRADIO_3 = "a Gradio 3 setting; this UI runs on Gradio 5"
NO_INTERROGATOR = "no interrogation (CLIP, DeepBooru) models are included"
ALREADY = "already what this webui does"

NO_EFFECT = {
    "-f": "no administrator check is made",
    "--administrator": "no administrator check is made",
    "--update-all-extensions": NO_INSTALLS,
    "--skip-python-version-check": NO_INSTALLS,
    "--reinstall-xformers": NO_INSTALLS,
    "--reinstall-torch": NO_INSTALLS,
    "--update-check": NO_INSTALLS,
    "--skip-version-check": NO_INSTALLS,
    "--tests": "A1111's launch-time test runner is not included (this repository's tests run with pytest)",
    "--no-tests": "A1111's launch-time test runner is not included (this repository's tests run with pytest)",
    "--skip-torch-cuda-test": "launch.py makes no CUDA test",
    "--test-server": ALREADY + " for a test server",
    "--no-download-sd-model": ALREADY + ": nothing is ever downloaded",
    "--do-not-download-clip": ALREADY + ": nothing is ever downloaded",
    "--gfpgan-dir": NO_FACE_RESTORER,
    "--gfpgan-model": NO_FACE_RESTORER,
    "--gfpgan-models-path": NO_FACE_RESTORER,
    "--codeformer-models-path": NO_FACE_RESTORER,
    "--unload-gfpgan": NO_FACE_RESTORER,
    "--esrgan-models-path": NO_UPSCALER_MODELS,
    "--realesrgan-models-path": NO_UPSCALER_MODELS,
    "--bsrgan-models-path": NO_UPSCALER_MODELS,
    "--scunet-models-path": NO_UPSCALER_MODELS,
    "--swinir-models-path": NO_UPSCALER_MODELS,
    "--ldsr-models-path": NO_UPSCALER_MODELS,
    "--dat-models-path": NO_UPSCALER_MODELS,
    "--clip-models-path": NO_INTERROGATOR,
    "--deepdanbooru": NO_INTERROGATOR,
    "--textual-inversion-templates-dir": "textual inversion training is not included",
    "--hypernetwork-dir": "hypernetworks are not supported",
    "--localizations-dir": "the UI has no localizations",
    "--allow-code": "the \"Custom code\" script is not included",
    "--lowram": "checkpoints already load straight to their device, without a second copy in memory",
    "--always-batch-cond-uncond": ALREADY + ": cond and uncond are one batch",
    "--xformers": ATTENTION,
    "--force-enable-xformers": ATTENTION,
    "--xformers-flash-attention": ATTENTION,
    "--opt-split-attention": ATTENTION,
    "--opt-sub-quad-attention": ATTENTION,
    "--sub-quad-q-chunk-size": ATTENTION,
    "--sub-quad-kv-chunk-size": ATTENTION,
    "--sub-quad-chunk-threshold": ATTENTION,
    "--opt-split-attention-invokeai": ATTENTION,
    "--opt-split-attention-v1": ATTENTION,
    "--opt-sdp-attention": ALREADY + ": " + ATTENTION,
    "--opt-sdp-no-mem-attention": ATTENTION,
    "--disable-opt-split-attention": ATTENTION,
    "--use-ipex": "Intel XPUs are not supported",
    "--share": NO_TUNNELS,
    "--ngrok": NO_TUNNELS,
    "--ngrok-region": NO_TUNNELS,
    "--ngrok-options": NO_TUNNELS,
    "--ui-config-file": "the UI does not read ui-config.json",
    "--gradio-debug": GRADIO_3,
    "--gradio-img2img-tool": GRADIO_3,
    "--gradio-inpaint-tool": GRADIO_3,
    "--gradio-queue": ALREADY + ": the UI always runs on Gradio's queue",
    "--no-gradio-queue": "the UI always runs on Gradio's queue (its generations run on the job queue)",
    "--show-negative-prompt": GRADIO_3,
    "--no-progressbar-hiding": GRADIO_3,
    "--ui-debug-mode": "the UI always builds completely",
    "--use-textbox-seed": "the seed is always a number field",
    "--disable-tls-verify": "the server makes no TLS requests it would verify",
    "--add-stop-route": "replaced by --api-server-stop",
    "--no-prompt-history": "no prompt history file is written",
    "--disable-model-loading-ram-optimization": ALREADY + ": weights load without A1111's meta-device trick",
    "--lyco-dir-backcompat": "LyCORIS networks are not supported",
    "--disable-safe-unpickle": ".ckpt files are always read through the restricted unpickler (safety); convert "
                               "one to .safetensors to load what it refuses",
    "--enable-console-prompts": "prompts are not printed to the console",
}


def _differs(action, value) -> bool:
    return value is not None and value != action.default and value is not False


def given(parser, cmd_opts) -> list[tuple[str, str]]:
    """(flag, why) for each flag of NO_EFFECT set to something other than its default, in --help order."""
    found = []
    for action in parser._actions:
        flag = next((name for name in action.option_strings if name in NO_EFFECT), None)
        if flag is not None and _differs(action, getattr(cmd_opts, action.dest, None)):
            found.append((flag, NO_EFFECT[flag]))
    return found


def startup_line(parser, cmd_opts) -> str | None:
    """One line naming the given flags that change nothing here, and why; None when there are none."""
    found = given(parser, cmd_opts)
    if not found:
        return None
    return "Flags with no effect here: " + "; ".join(f"{flag} ({why})" for flag, why in found)


def mark_help(parser) -> None:
    """--help says of each flag in NO_EFFECT that it changes nothing here, and why."""
    for action in parser._actions:
        flag = next((name for name in action.option_strings if name in NO_EFFECT), None)
        if flag is not None:
            action.help = f"{action.help or ''} [no effect here: {NO_EFFECT[flag]}]".lstrip()
