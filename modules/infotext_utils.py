"""Infotext: the generation parameters text stored in saved images (A1111's format, writing and parsing)."""

import json
import math
import re

re_param_code = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'
re_param = re.compile(re_param_code)
re_imagesize = re.compile(r"^(\d+)x(\d+)$")

NEGATIVE_PROMPT_PREFIX = "Negative prompt:"

# Values A1111 assumes for keys an infotext leaves out (older versions wrote fewer keys).
missing_key_defaults = {
    "Clip skip": "1",
    "Hires resize-1": 0,
    "Hires resize-2": 0,
    "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler",
    "Hires checkpoint": "Use same checkpoint",
    "Hires prompt": "",
    "Hires negative prompt": "",
    "Mask mode": "Inpaint masked",
    "Masked content": "original",
    "Inpaint area": "Whole picture",
    "Masked area padding": 32,
    "RNG": "GPU",
    "Schedule type": "Automatic",
    "Schedule max sigma": 0,
    "Schedule min sigma": 0,
    "Schedule rho": 0,
    "VAE Encoder": "Full",
    "VAE Decoder": "Full",
    "FP8 weight": "Disable",
    "Refiner switch by sampling steps": False,
}


class PasteField(tuple):
    """A paste field (A1111's): the pair (component, target), target being an infotext key or a function of the
    parsed infotext; api names the API request field it corresponds to, when there is one."""

    def __new__(cls, component, target, *, api=None):
        return super().__new__(cls, (component, target))

    def __init__(self, component, target, *, api=None):
        super().__init__()
        self.api = api
        self.component = component
        self.label = target if isinstance(target, str) else None
        self.function = target if callable(target) else None


def quote(text):
    """JSON-quotes a value that would otherwise break the "Key: value, ..." line."""
    as_text = str(text)
    if "," not in as_text and "\n" not in as_text and ":" not in as_text:
        return text
    return json.dumps(as_text, ensure_ascii=False)


def unquote(text):
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def create_infotext_line(params: dict) -> str:
    return ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)


def build_infotext(prompt: str, negative_prompt: str, params: dict) -> str:
    negative_prompt_text = f"\n{NEGATIVE_PROMPT_PREFIX} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative_prompt_text}\n{create_infotext_line(params)}".strip()


def old_hires_fix_first_pass_dimensions(width: int, height: int) -> tuple[int, int]:
    """First pass size of the pre-1.0 hires fix: about 512x512 pixels, multiples of 64."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def restore_old_hires_fix_params(res: dict) -> None:
    """Old infotexts give "First pass size"; turn it into Size + Hires resize."""
    firstpass_width, firstpass_height = res.get("First pass size-1"), res.get("First pass size-2")
    if firstpass_width is None or firstpass_height is None:
        return

    width, height = int(res.get("Size-1", 512)), int(res.get("Size-2", 512))
    firstpass_width, firstpass_height = int(firstpass_width), int(firstpass_height)
    if firstpass_width == 0 or firstpass_height == 0:
        firstpass_width, firstpass_height = old_hires_fix_first_pass_dimensions(width, height)

    res["Size-1"], res["Size-2"] = firstpass_width, firstpass_height
    res["Hires resize-1"], res["Hires resize-2"] = width, height


def _append_line(text: str, line: str) -> str:
    return f"{text}\n{line}" if text else line


def _split_prompts(lines: list[str]) -> tuple[str, str]:
    """Lines up to "Negative prompt:" are the prompt, the rest the negative prompt."""
    prompt, negative_prompt, in_negative = "", "", False
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PROMPT_PREFIX):
            in_negative, line = True, line[len(NEGATIVE_PROMPT_PREFIX):].strip()
        if in_negative:
            negative_prompt = _append_line(negative_prompt, line)
        else:
            prompt = _append_line(prompt, line)
    return prompt, negative_prompt


def _parse_params_line(line: str) -> dict:
    res = {}
    for key, value in re_param.findall(line):
        if value[:1] == '"' and value[-1:] == '"':
            value = unquote(value)
        size = re_imagesize.match(value)
        if size is not None:
            res[f"{key}-1"], res[f"{key}-2"] = size.group(1), size.group(2)
        else:
            res[key] = value
    return res


def _split_legacy_sampler_names(res: dict) -> None:
    """"Sampler: DPM++ 2M Karras" (before A1111 1.9) -> Sampler "DPM++ 2M", Schedule type "Karras"."""
    from modules import sd_samplers

    for sampler_key, schedule_key in (("Sampler", "Schedule type"), ("Hires sampler", "Hires schedule type")):
        if sampler_key not in res:
            continue
        sampler, schedule = sd_samplers.split_sampler_name(res[sampler_key])
        if schedule is not None:
            res[sampler_key], res[schedule_key] = sampler, schedule


def _extract_styles(res: dict, prompt: str, negative_prompt: str) -> tuple[str, str]:
    """A1111's infotext_styles option: "Ignore", "Apply", "Discard" or "Apply if any"."""
    from modules import shared

    mode = shared.opts.infotext_styles
    style_database = shared.prompt_styles
    if mode == "Ignore" or style_database is None:
        return prompt, negative_prompt

    found_styles, prompt_no_styles, negative_prompt_no_styles = style_database.extract_styles_from_prompt(
        prompt, negative_prompt
    )
    if mode == "Apply" or (mode == "Apply if any" and found_styles):
        res["Styles array"] = found_styles
    return prompt_no_styles, negative_prompt_no_styles


def _uses_emphasis(prompt: str, negative_prompt: str) -> bool:
    from modules import prompt_parser

    attention = prompt_parser.parse_prompt_attention(prompt) + prompt_parser.parse_prompt_attention(negative_prompt)
    return any(weight != 1.0 and text != "BREAK" for text, weight in attention)


def _default_skip_fields() -> list[str]:
    from modules import shared

    return list(shared.opts.infotext_skip_pasting)


def parse_generation_parameters(x: str, skip_fields: list[str] | None = None) -> dict:
    """Parses an infotext into {"Prompt", "Negative prompt", "Steps", "Size-1", "Size-2", ...}, all values as text
    except the defaults filled in for missing keys."""
    if skip_fields is None:
        skip_fields = _default_skip_fields()

    *lines, lastline = x.strip().split("\n")
    if len(re_param.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""

    res = {}
    prompt, negative_prompt = _extract_styles(res, *_split_prompts(lines))
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    res.update(_parse_params_line(lastline))

    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] += f"<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"

    _split_legacy_sampler_names(res)
    for key, value in missing_key_defaults.items():
        res.setdefault(key, value)
    restore_old_hires_fix_params(res)
    # infotexts from before the "Emphasis" option was written used the original emphasis
    if "Emphasis" not in res and _uses_emphasis(prompt, negative_prompt):
        res["Emphasis"] = "Original"

    for key in skip_fields:
        res.pop(key, None)

    return res


def create_override_settings_dict(text_pairs: list[str]) -> dict:
    """override_settings from "Name: value" pairs, as the UI's override-settings box holds them: each infotext name of
    an option (e.g. "Clip skip: 2") becomes that option, cast to its type (A1111's function)."""
    from modules import shared

    params = {}
    for pair in text_pairs:
        name, _, value = pair.partition(":")
        params[name.strip()] = value.strip()
    return {key: shared.opts.cast_value(key, params[info.infotext]) for key, info in shared.opts.data_labels.items()
            if info.infotext and info.infotext in params}


class ParamBinding:
    """An extension's "send to <tab>" button (A1111's): on click, the infotext in source_text_component (and the image
    in source_image_component) go to tabname's fields ("txt2img", "img2img" or "inpaint"), and that tab is shown.
    source_tabname, override_settings_component and paste_field_names are kept for extensions that read them."""

    def __init__(self, paste_button, tabname: str, source_text_component=None, source_image_component=None,
                 source_tabname=None, override_settings_component=None, paste_field_names=None):
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


registered_param_bindings: list[ParamBinding] = []


def reset() -> None:
    """Forgets the bindings of a UI built before (A1111 calls it as it starts building the UI)."""
    registered_param_bindings.clear()


def register_paste_params_button(binding: ParamBinding) -> None:
    registered_param_bindings.append(binding)


def connect_paste_params_buttons() -> None:
    """Wires every registered binding (the UI calls this once its tabs exist); one to a tab that does not exist is
    reported and left unwired."""
    from modules import errors, ui_paste

    for binding in registered_param_bindings:
        if binding.tabname not in ui_paste.send_targets:
            errors.report(f"Cannot send to the {binding.tabname!r} tab: there is no such tab", exc_info=False)
            continue
        ui_paste.connect_binding(binding)
