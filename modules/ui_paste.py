"""Infotext to UI fields: the ↙️ paste button, the "Send to ..." buttons and PNG Info's buttons.

Each tab registers (component, infotext key) pairs, as A1111's paste fields: the key names a value of
infotext_utils.parse_generation_parameters ("Steps", "Size-1", ...), or is a function of the parsed dict."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from modules import infotext_utils, script_callbacks, shared, ui_common

log = logging.getLogger(__name__)

PasteSource = str | Callable[[dict], object]


@dataclass
class SendTarget:
    """Where "Send to <tab>" puts things: the fields registered for tabname, the image input, and fixed updates
    (gr.update(selected=...) for the tabs to show, the img2img mode, ...)."""

    tabname: str
    fields_of: str = ""
    image: gr.components.Component | None = None
    image_value: Callable = lambda image: image
    updates: list[tuple[gr.blocks.Block, object]] = field(default_factory=list)

    def __post_init__(self):
        self.fields_of = self.fields_of or self.tabname


paste_fields: dict[str, list[tuple[gr.components.Component, PasteSource]]] = {}
send_targets: dict[str, SendTarget] = {}


def add_paste_fields(tabname: str, fields: list[tuple[gr.components.Component, PasteSource]]) -> None:
    paste_fields[tabname] = list(fields)


def add_send_target(target: SendTarget) -> None:
    send_targets[target.tabname] = target


def _choice_values(component) -> list | None:
    choices = getattr(component, "choices", None)
    if choices is None:
        return None
    return [choice[1] if isinstance(choice, (tuple, list)) else choice for choice in choices]


def convert_value(component, value):
    """An infotext value (text) converted for the component; gr.skip() when it does not fit."""
    if isinstance(value, dict):  # already an update, e.g. for an accordion
        return value
    try:
        if isinstance(component, (gr.Slider, gr.Number)):
            number = float(value)
            return int(number) if number.is_integer() else number
        if isinstance(component, gr.Checkbox):
            return value if isinstance(value, bool) else str(value).strip().lower() == "true"
        if isinstance(component, gr.Dropdown) and component.multiselect:
            values = value if isinstance(value, list) else [value]
            choices = _choice_values(component)
            return [v for v in values if choices is None or v in choices]
        if isinstance(component, (gr.Dropdown, gr.Radio)):
            choices = _choice_values(component)
            text = str(value)
            if choices is not None and text not in choices and not getattr(component, "allow_custom_value", False):
                log.info("Ignoring pasted value %r: not a choice of %s", text, component.label)
                return gr.skip()
            return text
    except (TypeError, ValueError):
        log.info("Ignoring pasted value %r for %s", value, getattr(component, "label", component))
        return gr.skip()
    return str(value)


def parse_infotext(text: str | None) -> dict | None:
    """The infotext's parameters, after the extensions' on_infotext_pasted callbacks have seen (and maybe edited)
    them; None for no text."""
    if not text or not text.strip():
        return None
    params = infotext_utils.parse_generation_parameters(text)
    script_callbacks.infotext_pasted_callback(text, params)
    return params


def _skipped_keys(for_send: bool) -> set[str]:
    """Sending to another tab honours the send_seed / send_size settings; the ↙️ button pastes everything."""
    if not for_send:
        return set()
    skipped = set()
    if not shared.opts.send_seed:
        skipped |= {"Seed", "Variation seed"}
    if not shared.opts.send_size:
        skipped |= {"Size-1", "Size-2"}
    return skipped


def field_updates(tabname: str, params: dict | None, for_send: bool = False) -> list:
    """One value (or gr.skip()) per registered field of tabname."""
    fields = paste_fields.get(tabname, [])
    if params is None:
        return [gr.skip() for _ in fields]
    skipped = _skipped_keys(for_send)
    updates = []
    for component, source in fields:
        if callable(source):
            value = source(params)
        elif source in params and source not in skipped:
            value = params[source]
        else:
            updates.append(gr.skip())
            continue
        updates.append(gr.skip() if value is None else convert_value(component, value))
    return updates


def connect_paste(button: gr.Button, tabname: str, text_component: gr.Textbox) -> None:
    """The ↙️ button: parses the infotext typed or pasted into the prompt box and fills the tab's fields."""
    components = [component for component, _ in paste_fields[tabname]]

    def paste(text):
        return field_updates(tabname, parse_infotext(text))

    button.click(fn=paste, inputs=[text_component], outputs=components, show_progress="hidden",
                 api_visibility="private")


def connect_send(button: gr.Button, target_name: str, source: Callable, inputs: list) -> None:
    """A "Send to ..." button: source(*inputs) -> (PIL image or None, infotext or None) goes to the target tab."""
    target = send_targets[target_name]
    components = [component for component, _ in paste_fields.get(target.fields_of, [])]
    image_outputs = [target.image] if target.image is not None else []
    fixed_outputs = [component for component, _ in target.updates]

    def send(*values):
        image, text = source(*values)
        updates = field_updates(target.fields_of, parse_infotext(text), for_send=True)
        image_update = [target.image_value(image) if image is not None else gr.skip()] if image_outputs else []
        return [*image_update, *updates, *(value for _, value in target.updates)]

    button.click(fn=send, inputs=inputs, outputs=[*image_outputs, *components, *fixed_outputs],
                 show_progress="hidden", api_visibility="private")


def connect_binding(binding) -> None:
    """An extension's infotext_utils.ParamBinding, wired as a "Send to ..." button."""
    sources = [binding.source_image_component, binding.source_text_component]

    def source(*values):
        given = iter(values)
        image, text = (next(given) if component is not None else None for component in sources)
        return ui_common.pil_image(image), text

    connect_send(binding.paste_button, binding.tabname, source, [c for c in sources if c is not None])
