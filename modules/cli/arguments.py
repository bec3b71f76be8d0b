"""cli.py's command line: subcommands, and the flags that stand for A1111 request fields.

Imports nothing of the engine: the command line is read before the engine's own argv parsing runs."""

import argparse

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3


class InputError(Exception):
    """Input the command refuses (exit 2); the message starts with the flag, file or field it is about."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


FIELD_FLAGS = (
    # (flag, request field, type, help); txt2img and img2img
    ("--prompt", "prompt", str, "the prompt"),
    ("--negative-prompt", "negative_prompt", str, "the negative prompt"),
    ("--steps", "steps", int, "sampling steps (the API's default: 50)"),
    ("--sampler", "sampler_name", str, 'sampler name or alias, e.g. "Euler a", "DPM++ 2M"'),
    ("--scheduler", "scheduler", str, "schedule type, e.g. Karras"),
    ("--cfg-scale", "cfg_scale", float, "CFG scale"),
    ("--seed", "seed", int, "seed; -1 picks one"),
    ("--subseed", "subseed", int, "variation seed"),
    ("--subseed-strength", "subseed_strength", float, "variation strength"),
    ("--width", "width", int, "width in pixels"),
    ("--height", "height", int, "height in pixels"),
    ("--batch-size", "batch_size", int, "images per batch"),
    ("--n-iter", "n_iter", int, "number of batches"),
    ("--denoising-strength", "denoising_strength", float, "img2img strength, or hires fix's with --hires"),
    ("--restore-faces", "restore_faces", "flag", "restore faces"),
    ("--tiling", "tiling", "flag", "tileable images"),
)
TXT2IMG_FLAGS = (
    ("--hires", "enable_hr", "flag", "hires fix: a second pass at a larger size"),
    ("--hires-scale", "hr_scale", float, "hires fix: upscale by"),
    ("--hires-upscaler", "hr_upscaler", str, 'hires fix: upscaler, e.g. "Latent", "Lanczos"'),
    ("--hires-steps", "hr_second_pass_steps", int, "hires fix: second pass steps (0: as the first)"),
    ("--hires-resize-x", "hr_resize_x", int, "hires fix: resize width to"),
    ("--hires-resize-y", "hr_resize_y", int, "hires fix: resize height to"),
    ("--hires-checkpoint", "hr_checkpoint_name", str, "hires fix: checkpoint of the second pass"),
    ("--hires-sampler", "hr_sampler_name", str, "hires fix: sampler of the second pass"),
    ("--hires-scheduler", "hr_scheduler", str, "hires fix: schedule type of the second pass"),
    ("--hires-prompt", "hr_prompt", str, "hires fix: prompt of the second pass"),
    ("--hires-negative-prompt", "hr_negative_prompt", str, "hires fix: negative prompt of the second pass"),
)
IMG2IMG_FLAGS = (
    ("--resize-mode", "resize_mode", int, "0 just resize, 1 crop and resize, 2 resize and fill, 3 latent upscale"),
    ("--mask-blur", "mask_blur", int, "mask blur in pixels"),
    ("--inpainting-fill", "inpainting_fill", int, "masked content: 0 fill, 1 original, 2 latent noise, 3 nothing"),
    ("--inpaint-full-res", "inpaint_full_res", "flag", "inpaint only the masked area"),
    ("--inpainting-mask-invert", "inpainting_mask_invert", int, "1 repaints the black part of the mask"),
    ("--image-cfg-scale", "image_cfg_scale", float, "image CFG scale (instruct-pix2pix models)"),
)
IMAGE_FLAGS = (("--init-image", "init_images"), ("--mask", "mask"))
OTHER_FLAGS = {"styles": "--styles", "override_settings": "--override", "script_name": "--script",
               "script_args": "--script-args", "infotext": "infotext"}


def flag_of(field: str) -> str:
    """The flag that sets a request field ("steps" -> "--steps"); a field no flag sets is named as "--param FIELD"."""
    root = field.split(".")[0].split("[")[0]
    for flag, name, *_ in (*FIELD_FLAGS, *TXT2IMG_FLAGS, *IMG2IMG_FLAGS):
        if name == root:
            return flag
    for flag, name in IMAGE_FLAGS:
        if name == root:
            return flag
    if root == "override_settings" and "." in field:
        key = field.split(".", 1)[1]
        return "--checkpoint" if key == "sd_model_checkpoint" else f"--override {key}"
    return OTHER_FLAGS.get(root, f"--param {root}")


def _add_common(parser: argparse.ArgumentParser, generates: bool = True) -> None:
    common = parser.add_argument_group("common")
    common.add_argument("--data-dir", help="the data dir (settings, models, styles, outputs), as the server's")
    common.add_argument("--server", metavar="URL", help="submit to a running server's queue (/sdapi/v2) instead")
    common.add_argument("--api-auth", metavar="USER:PASSWORD", help="credentials for --server (its --api-auth)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    if generates:
        common.add_argument("--out", metavar="DIR", help="save images here (default: the data dir's outputs/)")
        common.add_argument("--priority", type=int, help="queue priority on --server (default: the server's)")


def _add_field(parser, flag: str, field: str, kind, text: str) -> None:
    if kind == "flag":
        parser.add_argument(flag, dest=field, action="store_true", default=argparse.SUPPRESS, help=text)
    else:
        parser.add_argument(flag, dest=field, type=kind, default=argparse.SUPPRESS, metavar=field.upper(), help=text)


def _add_generation(parser: argparse.ArgumentParser, mode: str) -> None:
    fields = parser.add_argument_group("generation (A1111 request fields; unset ones take the API's defaults)")
    flags = (*FIELD_FLAGS, *(TXT2IMG_FLAGS if mode == "txt2img" else IMG2IMG_FLAGS))
    for flag, field, kind, text in flags:
        _add_field(fields, flag, field, kind, text)
    fields.add_argument("--checkpoint", metavar="NAME", help="checkpoint (title, file name or hash)")
    fields.add_argument("--styles", action="append", metavar="NAME", help="a prompt style (repeatable)")
    fields.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for this generation only (repeatable; VALUE as JSON, else text)")
    fields.add_argument("--param", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other request field (repeatable; VALUE as JSON, else text)")
    fields.add_argument("--script", metavar="NAME", help="a script by title, e.g. \"X/Y/Z plot\"")
    fields.add_argument("--script-args", metavar="JSON", help="the script's arguments, a JSON list")
    if mode == "img2img":
        fields.add_argument("--init-image", action="append", metavar="PATH", help="the image to start from "
                                                                                  "(repeatable)")
        fields.add_argument("--mask", metavar="PATH", help="inpainting mask: white is repainted")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="cli.py", description="Serena webui on the command line: generate in this process "
                                                       "(as the server would), or through a running server.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for mode in ("txt2img", "img2img"):
        command = commands.add_parser(mode, help=f"one {mode} generation")
        _add_generation(command, mode)
        _add_common(command)
    run = commands.add_parser("run", help="A1111 request bodies from a file: one JSON object, or JSONL (one a line)")
    run.add_argument("file", help='a .json or .jsonl file ("-" reads stdin); a body with init_images is img2img')
    _add_common(run)
    infotext = commands.add_parser("infotext", help="generate again from a PNG's parameters or pasted infotext")
    infotext.add_argument("source", help="a PNG (or other image) that holds parameters, or the infotext itself")
    _add_generation(infotext, "txt2img")
    _add_common(infotext)
    jobs = commands.add_parser("jobs", help="a running server's jobs (needs --server)")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=ArgumentParser)
    listing = jobs_commands.add_parser("list", help="recent jobs, newest first")
    listing.add_argument("--state", help="only jobs in this state (queued, running, succeeded, failed, cancelled)")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    _add_common(listing, generates=False)
    for name, text in (("show", "one job"), ("cancel", "cancel a job"), ("wait", "wait until a job ends")):
        command = jobs_commands.add_parser(name, help=text)
        command.add_argument("job_id")
        _add_common(command, generates=False)
    return parser
