"""Start-up: devices, styles, checkpoint list, option callbacks, and the first model load."""

import argparse
import logging
import os

from modules import (
    call_queue,
    cmd_args,
    devices,
    extensions,
    flag_effects,
    gradio3_compat,
    live_preview,
    script_callbacks,
    scripts,
    sd_models,
    sd_vae,
    shared,
    styles,
    upscaler,
)

log = logging.getLogger(__name__)


def initialize(load_model: bool = True) -> None:
    """load_model False: the first generation loads the checkpoint it asks for (the command line)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_logging(shared.cmd_opts.loglevel)
    shared.device = devices.init(this_process_engine(shared.cmd_opts))
    say_flags_with_no_effect(shared.cmd_opts)
    shared.prompt_styles = styles.StyleDatabase(shared.styles_filename)
    shared.sd_upscalers = upscaler.sd_upscalers
    shared.state.preview_decoder = live_preview.decode_preview
    extensions.list_extensions()
    gradio3_compat.install()  # before extension scripts import: some use Gradio 3 names at import
    scripts.initialize_scripts()
    os.makedirs(sd_models.checkpoint_search_dirs()[0], exist_ok=True)  # where the first-run message says to look
    sd_models.list_models()
    sd_vae.refresh_vae_list()
    register_model_options()
    if not load_model:
        return
    if shared.cmd_opts.skip_load_model_at_start or shared.cmd_opts.ui_debug_mode:
        print("No model loaded at start (--skip-load-model-at-start): the first generation loads it")
    else:
        load_first_model()


def this_process_engine(cmd_opts) -> argparse.Namespace:
    """The flags this process computes with: with --ray-address the jobs run on the workers' GPUs, and the model
    this process loads (the selected checkpoint, as the settings and routes show it) waits in RAM."""
    if getattr(cmd_opts, "ray_address", None):
        return argparse.Namespace(**{**vars(cmd_opts), "use_cpu": ["all"]})
    return cmd_opts


def configure_logging(level: str | None) -> None:
    """--loglevel: log records of that level and above go to the console (Python's default: warnings only)."""
    if level:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s [%(name)s] %(message)s", force=True)


def say_flags_with_no_effect(cmd_opts) -> None:
    line = flag_effects.startup_line(cmd_args.parser, cmd_opts)
    if line:
        print(line)


def register_model_options() -> None:
    """Changing the checkpoint or VAE option (POST /options, the settings page) loads it, after the running
    generation."""
    shared.opts.onchange("sd_model_checkpoint",
                         call_queue.wrap_queued_call(lambda: sd_models.reload_model_weights()), call=False)
    shared.opts.onchange("sd_vae", call_queue.wrap_queued_call(lambda: sd_vae.reload_vae_weights()), call=False)


def load_first_model() -> None:
    """Loads the selected checkpoint, else the first listed one that loads; with none on disk (or none loadable)
    the server still starts and says so."""
    if not sd_models.checkpoints_list:
        log.warning("No checkpoint found. Put a .safetensors file in %s; the server starts without a model.",
                    sd_models.checkpoint_search_dirs()[0])
        print(f"No checkpoint found: put a .safetensors file in {sd_models.checkpoint_search_dirs()[0]}")
        return
    selected = sd_models.select_checkpoint()
    candidates = [selected, *(info for info in sd_models.checkpoints_list.values() if info is not selected)]
    with call_queue.queue_lock:
        for info in candidates:
            try:
                sd_models.reload_model_weights(info=info)
                return
            except Exception as error:  # a broken checkpoint must not stop the server: the next one is tried
                log.error("Could not load the checkpoint: %s", error)
                print(f"Could not load the checkpoint: {error}")
    print("No checkpoint could be loaded; the server starts without a model.")


def register_options_without_ui() -> None:
    """The UI runs these while it builds; without it (--nowebui, the command line) extensions still get to register
    their options."""
    script_callbacks.before_ui_callback()
    script_callbacks.ui_settings_callback()


def job_environment(generation_lock):
    """What job workers generate with: this process's options, model and preview decoder, under generation_lock."""
    from modules.api.images_io import encode_to_text
    from modules.jobs import worker

    return worker.Environment(generation_lock=generation_lock, live_options=shared.opts,
                              preview_decoder=lambda: shared.state.preview_decoder, sd_model=lambda: shared.sd_model,
                              encode_image=encode_to_text, device=lambda: shared.device)


def checkpoint_name(requested: str | None) -> str | None:
    """The name (file name in its models folder) of the checkpoint a job runs with: the one its request names, else
    (none named, or none known by that: processing then drops the override) the selected one; None when there is
    no checkpoint. Names, unlike titles, are the same in every process."""
    info = sd_models.get_closet_checkpoint_match(requested) or sd_models.select_checkpoint()
    return info.name if info is not None else None
