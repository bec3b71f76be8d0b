"""A1111 request bodies (/sdapi/v1/txt2img and img2img JSON) from cli.py's flags, from a JSON/JSONL file, or from
an image's infotext; and the check that a body is one of those requests (errors name the flag or the line)."""

import argparse
import base64
import dataclasses
import json
import os
import sys

from modules.cli.arguments import FIELD_FLAGS, IMG2IMG_FLAGS, TXT2IMG_FLAGS, InputError, flag_of

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif")


@dataclasses.dataclass
class Body:
    mode: str
    """txt2img or img2img"""
    fields: dict
    label: str = ""
    """Where it came from in errors: "" for flags (errors name the flag), "FILE:LINE" for a file."""

    def refuse(self, field: str, message: str) -> InputError:
        where = f"{self.label}: {field}" if self.label else flag_of(field)
        return InputError(f"{where}: {message}")


def key_value(text: str, flag: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON when it is JSON (2, true, [1, 2]), else as text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise InputError(f"{flag}: expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def image_base64(path: str, flag: str) -> str:
    try:
        with open(path, "rb") as file:
            return base64.b64encode(file.read()).decode("ascii")
    except OSError as e:
        raise InputError(f"{flag}: cannot read {path!r}: {e.strerror or e}") from e


def from_flags(args: argparse.Namespace, mode: str) -> Body:
    flags = (*FIELD_FLAGS, *(TXT2IMG_FLAGS if mode == "txt2img" else IMG2IMG_FLAGS))
    fields = {field: getattr(args, field) for _, field, *_ in flags if hasattr(args, field)}
    for text in args.param:
        key, value = key_value(text, "--param")
        if flag_of(key) != f"--param {key}" and key != "override_settings":
            raise InputError(f"--param {key}: set it with {flag_of(key)}")
        fields[key] = value
    overrides = dict(fields.pop("override_settings", None) or {})
    overrides.update(key_value(text, "--override") for text in args.override)
    if args.checkpoint:
        overrides["sd_model_checkpoint"] = args.checkpoint
    if overrides:
        fields["override_settings"] = overrides
    if args.styles:
        fields["styles"] = list(args.styles)
    if args.script:
        fields["script_name"] = args.script
    if args.script_args is not None:
        try:
            fields["script_args"] = json.loads(args.script_args)
        except json.JSONDecodeError as e:
            raise InputError(f"--script-args: not JSON: {e}") from e
    if mode == "img2img":
        if not args.init_image:
            raise InputError("--init-image: img2img needs an image to start from")
        fields["init_images"] = [image_base64(path, "--init-image") for path in args.init_image]
        if args.mask:
            fields["mask"] = image_base64(args.mask, "--mask")
    return Body(mode, fields)


def from_file(path: str) -> list[Body]:
    """One body from a JSON object, or one a line from JSONL; a body with init_images is img2img."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8-sig") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"file: cannot read {path!r}: {getattr(e, 'strerror', None) or e}") from e
    name = "<stdin>" if path == "-" else os.path.basename(path)
    if not text.strip():
        raise InputError(f"file: {path!r} holds no request")
    try:
        documents = [(f"{name}", json.loads(text))]
    except json.JSONDecodeError as whole:
        lines = text.split("\n")
        if len([line for line in lines if line.strip()]) < 2 or not _is_json(lines[0]):
            raise InputError(f"{name}: not JSON: {whole}") from whole
        documents = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    documents.append((f"{name}:{number}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise InputError(f"{name}:{number}: not JSON: {e}") from e
    bodies = []
    for label, document in documents:
        if not isinstance(document, dict):
            raise InputError(f"{label}: expected a JSON object (an A1111 request body), got {type(document).__name__}")
        bodies.append(Body("img2img" if document.get("init_images") else "txt2img", document, label))
    return bodies


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def check_fields(body: Body, known: set[str], warn) -> None:
    """A field the request does not have is refused when a flag (--param) set it; from a file, where an A1111 client
    may have written it, it is ignored as the API ignores it, and warn() says so."""
    unknown = sorted(set(body.fields) - known)
    if not unknown:
        return
    if not body.label:
        raise InputError(f"--param {unknown[0]}: not a field of A1111's {body.mode} request")
    warn(f"{body.label}: ignored (not fields of A1111's {body.mode} request): {', '.join(unknown)}")


def infotext_of(source: str) -> str:
    """The parameters an image holds (PNG text, EXIF), or source itself when it names no file."""
    if not os.path.isfile(source):
        if not source.strip():
            raise InputError("source: empty infotext")
        if "\n" not in source and (os.sep in source or source.lower().endswith(IMAGE_EXTENSIONS)):
            raise InputError(f"source: no such file: {source!r}")
        return source
    from PIL import Image, UnidentifiedImageError

    from modules import images

    try:
        with Image.open(source) as image:
            parameters, _ = images.read_info_from_image(image)
    except (OSError, UnidentifiedImageError) as e:
        raise InputError(f"source: {source!r} is not an image this can read: {e}") from e
    if not parameters:
        raise InputError(f"source: {source!r} holds no generation parameters")
    return parameters


def from_infotext(args: argparse.Namespace) -> Body:
    """What PNG Info's "Send to txt2img" does: the infotext fills every field the flags do not set."""
    body = from_flags(args, "txt2img")
    body.fields["infotext"] = infotext_of(args.source)
    return body
