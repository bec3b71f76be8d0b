"""Saving, naming, reading, gridding and resizing images (A1111's images module)."""

import datetime
import errno
import hashlib
import io
import logging
import math
import os
import re
import secrets
import string
import struct
from collections import namedtuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import piexif
import piexif.helper
from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps, PngImagePlugin

from modules import output_paths, script_callbacks, shared
from modules.opts_snapshot import options_for, options_or_live
from modules.runtime import job_state
from modules.shared_cmd_options import cmd_opts
from modules.styles import PROMPT_PLACEHOLDER

log = logging.getLogger(__name__)

LANCZOS = Image.Resampling.LANCZOS
NEAREST = Image.Resampling.NEAREST

invalid_filename_chars = "/\0" if cmd_opts.unix_filenames_sanitization else '#<>:"/\\|?*\n\r\t\0'
invalid_filename_prefix = " "
invalid_filename_postfix = " ."
re_nonletters = re.compile(r"[\s" + re.escape(string.punctuation) + "]+")
re_tag = re.compile(r"\[([^\[\]]+)\]")
re_tag_with_args = re.compile(r"([^<>]*)((?:<[^<>]*>)*)")
re_tag_arg = re.compile(r"<([^<>]*)>")
re_repeated_commas = re.compile(r"\s*,(?:\s*,)+")
max_filename_part_length = cmd_opts.filenames_max_length
NOTHING_AND_SKIP_PREVIOUS_TEXT = object()

# Largest side JPEG and WEBP can store; bigger images are saved as PNG.
max_side_by_extension = {"jpg": 65535, "jpeg": 65535, "webp": 16383}

IGNORED_INFO_KEYS = {
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif",
    "loop", "background", "timestamp", "duration", "progressive", "progression",
    "icc_profile", "chromaticity", "photoshop",
}


def sanitize_filename_part(text, replace_spaces=True):
    if text is None:
        return None
    text = str(text)
    if replace_spaces:
        text = text.replace(" ", "_")
    text = text.translate({ord(char): "_" for char in invalid_filename_chars})
    text = text.lstrip(invalid_filename_prefix)[:max_filename_part_length]
    return text.rstrip(invalid_filename_postfix)


class FilenameGenerator:
    """Expands [tag] and [tag<arg><arg>] patterns of the filename options; unknown tags stay as written."""

    default_time_format = "%Y%m%d%H%M%S"

    def __init__(self, p, seed, prompt, image, zip=False, basename=""):
        self.p = p
        self.seed = seed
        self.prompt = prompt
        self.image = image
        self.zip = zip
        self.basename = basename

    def _p(self, name, default=None):
        return getattr(self.p, name, default)

    def _single_image_batch(self):
        return self._p("batch_size", 1) == 1

    def seed_first(self):
        all_seeds = self._p("all_seeds")
        return self.seed if self._single_image_batch() or not all_seeds else all_seeds[0]

    def seed_last(self):
        all_seeds = self._p("all_seeds")
        return NOTHING_AND_SKIP_PREVIOUS_TEXT if self._single_image_batch() or not all_seeds else all_seeds[-1]

    def image_size(self, axis):
        if self.image is not None:
            return self.image.size[axis]
        return self._p(("width", "height")[axis])

    def styles(self):
        if self.p is None:
            return None
        names = ", ".join(style for style in self._p("styles") or [] if style != "None")
        return sanitize_filename_part(names or "None", replace_spaces=False)

    def scheduler(self):
        """The schedule label, "Automatic" resolved to the sampler's default schedule."""
        from modules import sd_samplers

        scheduler = self._p("scheduler") or "Automatic"
        if scheduler == "Automatic":
            sampler = sd_samplers.find_sampler_config(self._p("sampler_name"))
            scheduler = (sampler.default_schedule if sampler else "") or "Automatic"
        return scheduler.capitalize()

    def sampler_scheduler(self):
        if self.p is None:
            return None
        return sanitize_filename_part(f"{self._p('sampler_name')} {self.scheduler()}", replace_spaces=False)

    def model_hash(self):
        checkpoint = getattr(shared.sd_model, "sd_checkpoint_info", None)
        return self._p("sd_model_hash") or (checkpoint.known_shorthash() if checkpoint is not None else None)

    def job_timestamp(self):
        return self._p("job_timestamp") or shared.state.job_timestamp

    def clip_skip(self):
        return self._p("clip_skip") or options_for(self.p).CLIP_stop_at_last_layers

    def denoising(self):
        return self._p("denoising_strength") or NOTHING_AND_SKIP_PREVIOUS_TEXT

    def batch_number(self):
        if self._single_image_batch() or self.zip or self.p is None:
            return NOTHING_AND_SKIP_PREVIOUS_TEXT
        return self._p("batch_index", 0) + 1

    def generation_number(self):
        if (self._p("n_iter", 1) == 1 and self._single_image_batch()) or self.zip or self.p is None:
            return NOTHING_AND_SKIP_PREVIOUS_TEXT
        return self._p("iteration", 0) * self._p("batch_size", 1) + self._p("batch_index", 0) + 1

    def datetime(self, *args):
        """[datetime], [datetime<strftime format>], [datetime<format><IANA time zone>]."""
        time_format = args[0] if args and args[0] else self.default_time_format
        try:
            time_zone = ZoneInfo(args[1]) if len(args) > 1 and args[1] else None
        except (ZoneInfoNotFoundError, ValueError):
            time_zone = None
        now = datetime.datetime.now().astimezone(time_zone)
        try:
            formatted = now.strftime(time_format)
        except ValueError:
            formatted = now.strftime(self.default_time_format)
        return sanitize_filename_part(formatted, replace_spaces=False)

    @staticmethod
    def string_hash(text, *args):
        length = int(args[0]) if args and args[0] else 8
        return hashlib.sha256(text.encode()).hexdigest()[:length]

    def image_hash(self, *args):
        length = int(args[0]) if args and args[0] else None
        return hashlib.sha256(self.image.tobytes()).hexdigest()[:length]

    def prompt_words(self):
        words = [word for word in re_nonletters.split(self.prompt or "") if word] or ["empty"]
        max_words = options_for(self.p).directories_max_prompt_words
        return sanitize_filename_part(" ".join(words[:max_words]), replace_spaces=False)

    def prompt_no_styles(self):
        """The prompt with the text of its styles removed."""
        if self.p is None or self.prompt is None:
            return None
        style_database = shared.prompt_styles
        style_prompts = style_database.get_style_prompts(self._p("styles") or []) if style_database else []

        text = self.prompt
        for style_prompt in filter(None, style_prompts):
            for fragment in style_prompt.split(PROMPT_PLACEHOLDER):
                fragment = fragment.strip(" ,")
                if fragment:
                    text = text.replace(fragment, "")
        text = re_repeated_commas.sub(",", text).strip(" ,")
        return sanitize_filename_part(text, replace_spaces=False)

    def hasprompt(self, *args):
        """[hasprompt<word|text if missing><word2>...]: each word found in the prompt, or its replacement."""
        if self.p is None or self.prompt is None:
            return None
        prompt = self.prompt.lower()
        result = ""
        for arg in filter(None, args):
            expected, _, default = arg.partition("|")
            result += expected.lower() if expected.lower() in prompt else default
        return sanitize_filename_part(result)

    def vae_filename(self):
        """The loaded VAE's file name without extension; "NoneType" when none is loaded (as A1111)."""
        vae_name = self._p("sd_vae_name")
        if not vae_name:
            return "NoneType"
        parts = os.path.basename(vae_name).split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]

    replacements = {
        "basename": lambda self: self.basename or "img",
        "seed": lambda self: self.seed if self.seed is not None else "",
        "seed_first": seed_first,
        "seed_last": seed_last,
        "steps": lambda self: self._p("steps"),
        "cfg": lambda self: self._p("cfg_scale"),
        "width": lambda self: self.image_size(0),
        "height": lambda self: self.image_size(1),
        "styles": styles,
        "sampler": lambda self: sanitize_filename_part(self._p("sampler_name"), replace_spaces=False),
        "sampler_scheduler": sampler_scheduler,
        "scheduler": lambda self: self.scheduler() if self.p is not None else None,
        "model_hash": model_hash,
        "model_name": lambda self: sanitize_filename_part(self._p("sd_model_name"), replace_spaces=False),
        "date": lambda self: datetime.datetime.now().strftime("%Y-%m-%d"),
        "datetime": datetime,
        "job_timestamp": job_timestamp,
        "prompt_hash": lambda self, *args: self.string_hash(self.prompt or "", *args),
        "negative_prompt_hash": lambda self, *args: self.string_hash(self._p("negative_prompt") or "", *args),
        "full_prompt_hash": lambda self, *args: self.string_hash(
            f"{self._p('prompt') or ''} {self._p('negative_prompt') or ''}", *args
        ),
        "prompt": lambda self: sanitize_filename_part(self.prompt),
        "prompt_no_styles": prompt_no_styles,
        "prompt_spaces": lambda self: sanitize_filename_part(self.prompt, replace_spaces=False),
        "prompt_words": prompt_words,
        "negative_prompt": lambda self: sanitize_filename_part(self._p("negative_prompt"), replace_spaces=False),
        "batch_number": batch_number,
        "batch_size": lambda self: self._p("batch_size"),
        "generation_number": generation_number,
        "hasprompt": hasprompt,
        "clip_skip": clip_skip,
        "denoising": denoising,
        "user": lambda self: self._p("user"),
        "vae_filename": vae_filename,
        "none": lambda self: "",
        "image_hash": image_hash,
    }

    def _expand_tag(self, tag):
        """The text for one tag, NOTHING_AND_SKIP_PREVIOUS_TEXT, or None to keep the tag as written."""
        match = re_tag_with_args.fullmatch(tag)
        if match is None:
            return None
        name, args_text = match.groups()
        replacement = self.replacements.get(name.lower())
        if replacement is None:
            return None
        try:
            return replacement(self, *re_tag_arg.findall(args_text))
        except Exception:  # a failing tag (extensions add their own) must not lose the image
            log.exception("Error adding [%s] to filename", tag)
            return None

    def apply(self, x):
        result = ""
        position = 0
        for match in re_tag.finditer(x):
            text_before = x[position:match.start()]
            position = match.end()
            value = self._expand_tag(match.group(1))
            if value is NOTHING_AND_SKIP_PREVIOUS_TEXT:
                continue
            result += text_before + (match.group(0) if value is None else str(value))
        return result + x[position:]


def get_next_sequence_number(path, basename):
    """The number for the next file: 1 + the largest leading number of the files named "{basename}-N...".
    With no basename, that is the files' own leading number ("00012-1234.png"). Starts at 0."""
    prefix = f"{basename}-" if basename != "" else ""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return 0

    result = -1
    for name in names:
        if not name.startswith(prefix):
            continue
        first_part = os.path.splitext(name[len(prefix):])[0].split("-")[0]
        if first_part.isdecimal():
            result = max(int(first_part), result)
    return result + 1


def _exif_with_user_comment(text):
    return piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text, encoding="unicode")}})


def save_image_with_geninfo(image, geninfo, filename, extension=None, existing_pnginfo=None,
                            pnginfo_section_name="parameters", options=None):
    """Writes the image with the infotext: a PNG text chunk, EXIF UserComment (JPEG/WEBP) or GIF comment; options:
    those of the generation that made it (save_image passes them), by default shared.opts."""
    options = options_or_live(options)
    extension = (extension or os.path.splitext(filename)[1]).lower()
    extension = extension if extension.startswith(".") else f".{extension}"
    image_format = Image.registered_extensions()[extension]

    if extension == ".png":
        pnginfo_data = None
        if options.enable_pnginfo:
            chunks = {**(existing_pnginfo or {}), pnginfo_section_name: geninfo}
            pnginfo_data = PngImagePlugin.PngInfo()
            for key, value in chunks.items():
                if value is not None:
                    pnginfo_data.add_text(key, str(value))
        image.save(filename, format=image_format, pnginfo=pnginfo_data)

    elif extension in (".jpg", ".jpeg", ".webp"):
        if image.mode == "RGBA":
            image = image.convert("RGB")
        elif image.mode == "I;16":
            image = image.point(lambda value: value * (255 / 65535)).convert("RGB" if extension == ".webp" else "L")
        exif = _exif_with_user_comment(geninfo) if options.enable_pnginfo and geninfo is not None else b""
        image.save(filename, format=image_format, quality=options.jpeg_quality, lossless=options.webp_lossless,
                   exif=exif)

    elif extension == ".gif":
        image.save(filename, format=image_format, comment=geninfo or "")

    else:
        image.save(filename, format=image_format, quality=options.jpeg_quality)


def _replace_atomically(write, final_path):
    """Runs write(temp_path), then renames the temp file to final_path, so a half-written file never appears
    under its final name."""
    temp_path = f"{os.path.splitext(final_path)[0]}.{secrets.token_hex(4)}.tmp"
    try:
        write(temp_path)
        os.replace(temp_path, final_path)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


def _free_filename(filename_without_extension, extension, options):
    """With save_images_replace_action "Add number suffix", an existing file is kept: "name-1.png", ..."""
    filename = f"{filename_without_extension}{extension}"
    if options.save_images_replace_action == "Replace":
        return filename
    n = 0
    while os.path.exists(filename):
        n += 1
        filename = f"{filename_without_extension}-{n}{extension}"
    return filename


def _save_atomically(image, geninfo, filename_without_extension, extension, pnginfo, pnginfo_section_name, options):
    filename = _free_filename(filename_without_extension, extension, options)
    _replace_atomically(
        lambda temp_path: save_image_with_geninfo(image, geninfo, temp_path, extension, pnginfo, pnginfo_section_name,
                                                  options),
        filename,
    )
    return filename


def write_bytes_atomically(data: bytes, filename: str) -> None:
    def write(temp_path):
        with open(temp_path, "wb") as file:
            file.write(data)

    _replace_atomically(write, filename)


def _write_text_atomically(text, filename):
    def write(temp_path):
        with open(temp_path, "w", encoding="utf8") as file:
            file.write(text)

    _replace_atomically(write, filename)


def write_bytes_new(data: bytes, filename: str) -> bool:
    """Writes data as a new file, whole or not at all; False (nothing written) when the name is taken."""
    temp_path = f"{os.path.splitext(filename)[0]}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp_path, "wb") as file:
            file.write(data)
        os.link(temp_path, filename)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in NO_HARD_LINKS:
            raise
        return _write_exclusively(data, filename)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)
"""os.link's errors on file systems without hard links (FAT, exFAT, some network shares)."""


def _write_exclusively(data: bytes, filename: str) -> bool:
    """write_bytes_new where hard links are not supported: created only when the name is free, then written."""
    try:
        descriptor = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return True


def _fit_name_length(fullfn):
    """(path without extension, extension), the name shortened so that it and its temp/.txt/"-N" variants fit the
    file system's name length limit."""
    folder, name = os.path.split(fullfn)
    stem, extension = os.path.splitext(name)
    name_max = os.statvfs(folder).f_namemax if hasattr(os, "statvfs") else 255
    return os.path.join(folder, stem[: name_max - max(len(extension), 4) - 16]), extension


def _sample_file_decoration(namegen, p, seed, short_filename, options):
    """The file name after the number: samples_filename_pattern (per-request override first) expanded."""
    if short_filename or seed is None:
        return ""
    pattern = (getattr(p, "override_settings", None) or {}).get("samples_filename_pattern")
    if pattern is None:
        pattern = options.samples_filename_pattern or ("[seed]" if options.save_to_dirs else "[seed]-[prompt_spaces]")
    return namegen.apply(pattern)


def _record_number(staging, path_without_extension: str, basename: str, index: int, rest: str) -> None:
    """The number parts of a staged name, its rest as kept when the name was shortened to fit."""
    stem, prefix = os.path.basename(path_without_extension), numbered_stem(basename, index, "")
    if stem.startswith(prefix):
        staging.record_number(path_without_extension, basename, index, stem[len(prefix):])


def numbered_stem(basename: str, index: int, rest: str) -> str:
    return (f"{basename}-{index:04}" if basename else f"{index:05}") + rest


def _numbered_filename(path, basename, decoration, extension) -> tuple[str, int]:
    """(the first free numbered file name, its number)"""
    basecount = get_next_sequence_number(path, basename)
    fullfn, index = None, basecount
    for i in range(500):
        index = basecount + i
        fullfn = os.path.join(path, f"{numbered_stem(basename, index, decoration)}.{extension}")
        if not os.path.exists(fullfn):
            break
    return fullfn, index


def _downscale_for_4chan(image, fullfn, options):
    """export_for_4chan: a big image (side or file size) also gets a smaller .jpg copy; None when not needed."""
    side = options.target_side_length
    oversize = image.width > side or image.height > side
    if not oversize and os.stat(fullfn).st_size <= options.img_downscale_threshold * 1024 * 1024:
        return None
    if not oversize:
        return image
    if image.width > image.height:
        size = round(side), round(image.height * side / image.width)
    else:
        size = round(image.width * side / image.height), round(side)
    return image.resize(size, LANCZOS) if image.mode in ("RGB", "RGBA", "L") else image.resize(size)


def save_image(image, path, basename, seed=None, prompt=None, extension="png", info=None, short_filename=False,
               no_prompt=False, grid=False, pnginfo_section_name="parameters", p=None, existing_info=None,
               forced_filename=None, suffix="", save_to_dirs=None):
    """Saves an image with its infotext under A1111's naming scheme; returns (file path, .txt path or None). The
    saving options are those p's generation took (options_for(p)), without p the live shared.opts."""
    options = options_for(p)
    namegen = FilenameGenerator(p, seed, prompt, image, basename=basename)
    extension = extension.lstrip(".")

    max_side = max_side_by_extension.get(extension.lower())
    if max_side is not None and max(image.size) > max_side:
        log.warning("Image dimensions too large for %s; saving as PNG", extension)
        extension = "png"

    path = output_paths.save_folder(path)
    if save_to_dirs is None:
        save_to_dirs = (grid and options.grid_save_to_dirs) or (not grid and options.save_to_dirs and not no_prompt)
    if save_to_dirs:
        dirname = namegen.apply(options.directories_filename_pattern or "[prompt_words]").lstrip(" ").rstrip("\\ /")
        path = os.path.join(path, output_paths.relative_folder(dirname))
    os.makedirs(path, exist_ok=True)

    number = None
    if forced_filename is not None:
        fullfn = os.path.join(path, f"{output_paths.file_name(forced_filename)}.{extension}")
    else:
        decoration = output_paths.file_name(_sample_file_decoration(namegen, p, seed, short_filename, options)) + suffix
        if options.save_images_add_number or decoration == "":
            rest = f"-{decoration}" if decoration else ""
            fullfn, index = _numbered_filename(path, basename, rest, extension)
            number = (fullfn, basename, index, rest)
        else:
            fullfn = os.path.join(path, f"{decoration}.{extension}")

    pnginfo = dict(existing_info or {})
    if info is not None:
        pnginfo[pnginfo_section_name] = info

    params = script_callbacks.ImageSaveParams(image, p, fullfn, pnginfo)
    script_callbacks.before_image_saved_callback(params)
    image, fullfn, pnginfo = params.image, params.filename, params.pnginfo
    info = pnginfo.get(pnginfo_section_name)

    fullfn_without_extension, extension = _fit_name_length(fullfn)
    fullfn = _save_atomically(image, info, fullfn_without_extension, extension, pnginfo, pnginfo_section_name, options)
    image.already_saved_as = fullfn
    staging = output_paths.staging.get()
    planned = number is not None and number[0] == params.filename and fullfn == fullfn_without_extension + extension
    if staging is not None and planned:  # saved under its numbered name (at most shortened to fit)
        _record_number(staging, fullfn_without_extension, *number[1:])

    if options.export_for_4chan:
        small_image = _downscale_for_4chan(image, fullfn, options)
        if small_image is not None:
            _save_atomically(small_image, info, fullfn_without_extension, ".jpg", pnginfo, pnginfo_section_name,
                             options)

    txt_fullfn = None
    if options.save_txt and info is not None:
        txt_fullfn = f"{fullfn_without_extension}.txt"
        _write_text_atomically(f"{info}\n", txt_fullfn)

    params.filename = fullfn
    job_state.record_saved_file(fullfn)
    script_callbacks.image_saved_callback(params)

    return fullfn, txt_fullfn


def _exif_user_comment(exif_data):
    try:
        exif = piexif.load(exif_data)
    except (OSError, ValueError, struct.error):
        return None
    comment = exif.get("Exif", {}).get(piexif.ExifIFD.UserComment, b"")
    try:
        return piexif.helper.UserComment.load(comment)
    except ValueError:
        return comment.decode("utf8", errors="ignore")


def read_info_from_image(image: Image.Image) -> tuple[str | None, dict]:
    """(infotext or None, the image's other info items): PNG "parameters", else EXIF UserComment, else GIF comment."""
    items = dict(image.info or {})
    geninfo = items.pop("parameters", None)

    if "exif" in items:
        geninfo = _exif_user_comment(items["exif"]) or geninfo
    elif "comment" in items:
        comment = items["comment"]
        geninfo = comment.decode("utf8", errors="ignore") if isinstance(comment, bytes) else comment

    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    return geninfo, items


def image_data(data: bytes) -> tuple[str | None, None]:
    """The infotext of an uploaded file: from the image, or the file itself when it is short text."""
    try:
        image = read(io.BytesIO(data))
        return read_info_from_image(image)[0], None
    except OSError:
        pass
    try:
        text = data.decode("utf8")
    except UnicodeDecodeError:
        return None, None
    return (text if len(text) < 10000 else None), None


def image_grid(imgs, batch_size=1, rows=None, options=None):
    """Pastes images into a grid; cells take the largest image size, smaller images are centred. options: those
    of the generation the grid is for, by default shared.opts."""
    options = options_or_live(options)
    if rows is None:
        if options.n_rows > 0:
            rows = options.n_rows
        elif options.n_rows == 0:
            rows = batch_size
        elif options.grid_prevent_empty_spots:
            rows = math.floor(math.sqrt(len(imgs)))
            while len(imgs) % rows != 0:
                rows -= 1
        else:
            rows = round(math.sqrt(len(imgs)))
    rows = min(rows, len(imgs))
    cols = math.ceil(len(imgs) / rows)

    params = script_callbacks.ImageGridLoopParams(imgs, cols, rows)
    script_callbacks.image_grid_callback(params)
    imgs, cols, rows = params.imgs, params.cols, params.rows

    w, h = map(max, zip(*(img.size for img in imgs)))
    background = ImageColor.getcolor(options.grid_background_color, "RGB")
    grid = Image.new("RGB", size=(cols * w, rows * h), color=background)
    for i, img in enumerate(imgs):
        x, y = i % cols * w + (w - img.width) // 2, i // cols * h + (h - img.height) // 2
        grid.paste(img, box=(x, y))
    return grid


def _resize(im, width, height, upscaler_name):
    """Masks ("L") always use Lanczos; other images the named upscaler (None: Lanczos)."""
    if im.size == (width, height):
        return im
    if im.mode == "L":
        return im.resize((width, height), resample=LANCZOS)
    from modules import upscaler

    return upscaler.upscale_image(im, width, height, upscaler_name)


def _paste_centred(resized, width, height):
    res = Image.new(resized.mode if resized.mode in ("L", "RGBA") else "RGB", (width, height))
    res.paste(resized, box=(width // 2 - resized.width // 2, height // 2 - resized.height // 2))
    return res


def _fill_with_edges(res, resized):
    """Fills the bands left around a centred image by stretching its outermost row or column."""
    width, height = res.size
    top = height // 2 - resized.height // 2
    left = width // 2 - resized.width // 2
    bottom, right = top + resized.height, left + resized.width
    bands = (
        ((0, 0, resized.width, 1), (0, 0, width, top)),
        ((0, resized.height - 1, resized.width, resized.height), (0, bottom, width, height)),
        ((0, 0, 1, resized.height), (0, 0, left, height)),
        ((resized.width - 1, 0, resized.width, resized.height), (right, 0, width, height)),
    )
    for edge, (x0, y0, x1, y1) in bands:
        if x1 > x0 and y1 > y0:
            res.paste(resized.crop(edge).resize((x1 - x0, y1 - y0)), box=(x0, y0))


def resize_image(resize_mode, im, width, height, upscaler_name=None, options=None):
    """A1111's img2img resize modes: 0 just resize, 1 crop and resize (cover, centre crop), 2 resize and fill
    (fit, edges stretched into the bands); 3 (latent upscale) is done on latents elsewhere, here as 0. Without
    upscaler_name, the upscaler_for_img2img of options (the live options when None)."""
    if upscaler_name is None:
        upscaler_name = options_or_live(options).upscaler_for_img2img
    if im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGB")

    if resize_mode not in (1, 2):
        return _resize(im, width, height, upscaler_name)

    ratio = width / height
    src_ratio = im.width / im.height
    match_width = ratio > src_ratio if resize_mode == 1 else ratio < src_ratio
    src_w = width if match_width else im.width * height // im.height
    src_h = im.height * width // im.width if match_width else height

    resized = _resize(im, src_w, src_h, upscaler_name)
    res = _paste_centred(resized, width, height)
    if resize_mode == 2:
        _fill_with_edges(res, resized)
    return res


def flatten(img, bgcolor):
    """Replaces transparency with bgcolor ("#ffffff"); returns an RGB image."""
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, bgcolor)
        background.paste(img, mask=img)
        img = background
    return img.convert("RGB")


def fix_png_transparency(image: Image.Image) -> Image.Image:
    """Palette/RGB PNGs with a tRNS chunk become RGBA so the transparency is not lost."""
    if image.mode not in ("RGB", "P") or not isinstance(image.info.get("transparency"), bytes):
        return image
    return image.convert("RGBA")


def fix_image(image: Image.Image | None) -> Image.Image | None:
    """Applies the EXIF orientation and PNG transparency of an uploaded image."""
    if image is None:
        return None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF raises assorted errors; the image is still usable as it is
        log.warning("Could not apply EXIF orientation", exc_info=True)
    return fix_png_transparency(image)


IMAGE_FILE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def image_files_in(folder: str) -> list[str]:
    """The image files of a folder (by extension), sorted by name; ValueError naming it when it is not a folder."""
    if not folder or not os.path.isdir(folder):
        raise ValueError(f"{folder!r} is not a folder")
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if name.lower().endswith(IMAGE_FILE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name))]


def read(fp, **kwargs) -> Image.Image:
    image = Image.open(fp, **kwargs)
    return fix_image(image)


# --- grids with text (A1111's GridAnnotation / draw_grid_annotations / draw_prompt_matrix) ----------------------

class GridAnnotation:
    """One line of a grid label; an inactive one is drawn greyed out and struck through."""

    def __init__(self, text="", is_active=True):
        self.text = text
        self.is_active = is_active
        self.size = None
        self.allowed_width = None


def get_font(fontsize):
    """opts.font when it names a readable TrueType font, else Pillow's built-in scalable font."""
    if shared.opts.font:
        try:
            return ImageFont.truetype(shared.opts.font, fontsize)
        except OSError:
            log.warning("Cannot read font %s; using the built-in font", shared.opts.font)
    return ImageFont.load_default(size=max(fontsize, 1))


def _wrap_words(drawing, text, font, line_length):
    lines = [""]
    for word in text.split():
        line = f"{lines[-1]} {word}".strip()
        if drawing.textlength(line, font=font) <= line_length:
            lines[-1] = line
        else:
            lines.append(word)
    return lines


def _measure_annotations(groups, allowed_widths, font):
    """Wraps each group's lines to its allowed width (in place) and records each line's drawn size."""
    drawing = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for lines, allowed_width in zip(groups, allowed_widths):
        wrapped = [GridAnnotation(text, line.is_active)
                   for line in lines for text in _wrap_words(drawing, line.text, font, allowed_width)]
        lines[:] = wrapped
        for line in lines:
            left, top, right, bottom = drawing.multiline_textbbox((0, 0), line.text, font=font) if line.text \
                else (0, 0, 0, 0)
            line.size = (right - left, bottom - top)
            line.allowed_width = allowed_width


def _draw_annotation_lines(drawing, centre_x, top_y, lines, fontsize, line_spacing, colors):
    """Draws lines centred on centre_x from top_y down, shrinking the font of a line too wide for its cell."""
    active_color, inactive_color = colors
    for line in lines:
        size = fontsize
        font = get_font(size)
        while size > 1 and drawing.multiline_textbbox((0, 0), line.text, font=font)[2] > line.allowed_width:
            size -= 1
            font = get_font(size)
        color = active_color if line.is_active else inactive_color
        drawing.multiline_text((centre_x, top_y + line.size[1] / 2), line.text, font=font, fill=color, anchor="mm",
                               align="center")
        if not line.is_active:
            half_w, mid_y = line.size[0] // 2, top_y + line.size[1] // 2
            drawing.line((centre_x - half_w, mid_y, centre_x + half_w, mid_y), fill=inactive_color, width=4)
        top_y += line.size[1] + line_spacing


def draw_grid_annotations(im, width, height, hor_texts, ver_texts, margin=0):
    """A grid of width x height cells with column labels (hor_texts: one list of GridAnnotation per column) above
    and row labels (ver_texts: one list per row) to the left, and `margin` pixels between cells."""
    opts = shared.opts
    colors = (ImageColor.getcolor(opts.grid_text_active_color, "RGB"),
              ImageColor.getcolor(opts.grid_text_inactive_color, "RGB"))
    background = ImageColor.getcolor(opts.grid_background_color, "RGB")
    fontsize = (width + height) // 25
    line_spacing = fontsize // 2
    font = get_font(fontsize)
    has_row_labels = any(line.text for lines in ver_texts for line in lines)
    pad_left = width * 3 // 4 if has_row_labels else 0
    cols, rows = im.width // width, im.height // height
    if cols != len(hor_texts):
        raise ValueError(f"bad number of horizontal texts: {len(hor_texts)}; must be {cols}")
    if rows != len(ver_texts):
        raise ValueError(f"bad number of vertical texts: {len(ver_texts)}; must be {rows}")

    _measure_annotations(hor_texts + ver_texts, [width] * len(hor_texts) + [pad_left] * len(ver_texts), font)
    hor_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing for lines in hor_texts]
    ver_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing * len(lines)
                   for lines in ver_texts]
    pad_top = max(hor_heights) + line_spacing * 2 if sum(hor_heights) > 0 else 0

    result = Image.new("RGB", (im.width + pad_left + margin * (cols - 1), im.height + pad_top + margin * (rows - 1)),
                       background)
    for row in range(rows):
        for col in range(cols):
            cell = im.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (pad_left + (width + margin) * col, pad_top + (height + margin) * row))

    drawing = ImageDraw.Draw(result)
    for col, lines in enumerate(hor_texts):
        centre_x = pad_left + (width + margin) * col + width / 2
        _draw_annotation_lines(drawing, centre_x, pad_top / 2 - hor_heights[col] / 2, lines, fontsize, line_spacing,
                               colors)
    for row, lines in enumerate(ver_texts):
        top_y = pad_top + (height + margin) * row + height / 2 - ver_heights[row] / 2
        _draw_annotation_lines(drawing, pad_left / 2, top_y, lines, fontsize, line_spacing, colors)
    return result


def draw_prompt_matrix(im, width, height, all_prompts, margin=0):
    """Labels a prompt-matrix grid: the first half of the variable parts across, the rest down; each label shows
    every part of its half, active where that column's (row's) bit of the combination number is set."""
    prompts = all_prompts[1:]
    boundary = math.ceil(len(prompts) / 2)
    across, down = prompts[:boundary], prompts[boundary:]

    def annotations(parts):
        return [[GridAnnotation(text, is_active=bool(pos & (1 << i))) for i, text in enumerate(parts)]
                for pos in range(1 << len(parts))]

    return draw_grid_annotations(im, width, height, annotations(across), annotations(down), margin)


# --- tiles (A1111's Grid / split_grid / combine_grid, used by SD upscale) --------------------------------------

Grid = namedtuple("Grid", ["tiles", "tile_w", "tile_h", "image_w", "image_h", "overlap"])
"""tiles: one [y, tile_h, row] per row; row: one [x, tile_w, tile image] per column"""


def _tile_starts(length, tile, overlap):
    """Evenly spread start offsets of the tiles covering `length` with at least `overlap` shared pixels."""
    count = max(math.ceil((length - overlap) / (tile - overlap)), 1)
    step = (length - tile) / (count - 1) if count > 1 else 0
    return [min(int(i * step), length - tile) for i in range(count)]


def split_grid(image, tile_w=512, tile_h=512, overlap=64):
    """Cuts image into overlapping tile_w x tile_h tiles (the image must be at least one tile in each direction)."""
    if tile_w <= overlap or tile_h <= overlap:
        raise ValueError(f"tile size {tile_w}x{tile_h} must be larger than the overlap {overlap}")
    w, h = image.size
    if w < tile_w or h < tile_h:
        raise ValueError(f"image {w}x{h} is smaller than one {tile_w}x{tile_h} tile")
    grid = Grid([], tile_w, tile_h, w, h, overlap)
    for y in _tile_starts(h, tile_h, overlap):
        row = [[x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))] for x in _tile_starts(w, tile_w, overlap)]
        grid.tiles.append([y, tile_h, row])
    return grid


def _overlap_ramp(overlap, length, horizontal):
    """An "L" mask rising from 0 to 255 across the overlap: left to right, or top to bottom."""
    ramp = (np.arange(overlap, dtype=np.float32) * 255 / overlap).astype(np.uint8)
    array = np.tile(ramp, (length, 1)) if horizontal else np.tile(ramp[:, None], (1, length))
    return Image.fromarray(array, "L")


def combine_grid(grid):
    """Pastes the tiles back into one image, blending each tile into its left and upper neighbours over the
    overlap."""
    overlap = grid.overlap
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    for y, h, row in grid.tiles:
        combined_row = Image.new("RGB", (grid.image_w, h))
        for x, w, tile in row:
            if x == 0 or overlap == 0:
                combined_row.paste(tile, (x, 0))
                continue
            combined_row.paste(tile.crop((0, 0, overlap, h)), (x, 0), mask=_overlap_ramp(overlap, h, True))
            combined_row.paste(tile.crop((overlap, 0, w, h)), (x + overlap, 0))
        if y == 0 or overlap == 0:
            combined.paste(combined_row, (0, y))
            continue
        combined.paste(combined_row.crop((0, 0, grid.image_w, overlap)), (0, y),
                       mask=_overlap_ramp(overlap, grid.image_w, False))
        combined.paste(combined_row.crop((0, overlap, grid.image_w, h)), (0, y + overlap))
    return combined
