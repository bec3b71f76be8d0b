"""The Settings tab, generated from opts.data_labels, and the quicksettings row (A1111's ui_settings)."""

import html
import inspect
import logging
import re

import gradio as gr

from modules import options, options_components, shared
from modules.shared import opts
from modules.ui_components import create_refresh_button

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]+>")


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text or "")).strip()


def frozen_reason(key: str) -> str | None:
    """Why the option cannot be changed here (--freeze-settings, a frozen section, --hide-ui-dir-config, or an option
    the API may not change either), else None."""
    if opts.data_labels[key].restrict_api:
        return f"{key} can only be changed in {shared.config_filename}, while the server is stopped"
    try:
        opts.check_changeable(key)
    except RuntimeError as error:
        return str(error)
    return None


def component_args(info: options.OptionInfo) -> dict:
    args = info.component_args() if callable(info.component_args) else info.component_args
    return dict(args or {})


def _component_class(info: options.OptionInfo):
    if info.component is not None:
        return info.component
    default = info.default
    if isinstance(default, bool):
        return gr.Checkbox
    if isinstance(default, (int, float)):
        return gr.Number
    return gr.Textbox


def _accepts(factory, name: str) -> bool:
    target = getattr(gr, factory.class_name) if isinstance(factory, options_components.LazyComponent) else factory
    try:
        return name in inspect.signature(target.__init__).parameters
    except (TypeError, ValueError):
        return False


def choices_with_value(choices, value) -> list:
    """The choices plus the current value(s) when missing (gradio refuses a value that is not a choice; e.g. the
    face restoration model is set while no restorer is installed)."""
    choices = list(choices)
    known = {choice[1] if isinstance(choice, (tuple, list)) else choice for choice in choices}
    for item in (value if isinstance(value, list) else [value]):
        if item is not None and item not in known:
            choices.append(item)
            known.add(item)
    return choices


def create_setting_component(key: str, is_quicksettings: bool = False):
    """The gradio component editing one option, with the option's label, current value and comments."""
    info = opts.data_labels[key]
    factory = _component_class(info)
    args = component_args(info)
    value = getattr(opts, key)
    kwargs = {"label": info.label, "value": value, "elem_id": f"setting_{key}", **args}
    if isinstance(factory, options_components.LazyComponent) and factory.class_name == "HTML":
        return factory(value=info.default, elem_id=f"setting_{key}")
    if factory is gr.Textbox and value is not None and not isinstance(value, str):
        kwargs["value"] = str(value)
    if kwargs.get("choices") is not None:
        kwargs["choices"] = choices_with_value(kwargs["choices"], value)
    notes = [_plain(info.comment_after)]
    reason = frozen_reason(key)
    if reason:
        kwargs["interactive"] = False
        notes.append(f"cannot be changed: {reason}")
    note = " ".join(n for n in notes if n)
    if note and _accepts(factory, "info"):
        kwargs["info"] = note
    if is_quicksettings:
        kwargs["scale"] = 0 if factory is gr.Checkbox else 1
        kwargs["min_width"] = 240
    return factory(**kwargs)


def coerce_value(key: str, value):
    """A component's value converted back to the option's type (gr.Number gives floats, Textbox gives text)."""
    default = opts.data_labels[key].default
    if value is None:
        return None
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    return value


def apply_settings(keys: list[str], values: list) -> tuple[list[str], list[str]]:
    """Sets each changed option as POST /options does (config.json first, then memory, then its onchange; an option
    the API may not change is refused here too); returns (changed keys, problems)."""
    changed, problems = [], []
    for key, value in zip(keys, values):
        value = coerce_value(key, value)
        if value == getattr(opts, key):
            continue
        try:
            opts.set_and_save({key: value}, shared.config_filename, is_api=True)
            changed.append(key)
        except Exception as error:  # frozen/restricted (RuntimeError), wrong type, no file written, a failing onchange
            log.warning("Could not change setting %s: %s", key, error)
            problems.append(f"{opts.data_labels[key].label or key}: {error}")
    return changed, problems


def result_html(changed: list[str], problems: list[str]) -> str:
    text = f"{len(changed)} settings changed{': ' if changed else ''}{', '.join(changed)}."
    parts = [f"<p class='settings-changed'>{html.escape(text)}</p>"]
    parts += [f"<p class='error'>{html.escape(problem)}</p>" for problem in problems]
    return "".join(parts)


def _sections() -> dict[tuple, list[str]]:
    sections: dict[tuple, list[str]] = {}
    for key, info in opts.data_labels.items():
        if not info.section or info.section[0] is None:
            continue
        sections.setdefault(tuple(info.section), []).append(key)
    return sections


class UiSettings:
    def __init__(self):
        self.components: dict[str, gr.components.Component] = {}
        self.quicksettings: dict[str, gr.components.Component] = {}
        self.result = None
        self.submit = None
        self.settings_json = None

    def quicksettings_names(self) -> list[str]:
        return [key for key in opts.quicksettings_list if key in opts.data_labels]

    def create_ui(self):
        """The Settings tab's content: Apply settings, the result line, and one sub-tab per options section."""
        quick = set(self.quicksettings_names())
        with gr.Row(elem_id="settings_top"):
            self.submit = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=0,
                                    min_width=200, interactive=not shared.cmd_opts.freeze_settings)
            self.result = gr.HTML("<p>Settings are frozen (--freeze-settings).</p>" if shared.cmd_opts.freeze_settings
                                  else "", elem_id="settings_result")
        with gr.Tabs(elem_id="settings", overflow_behavior="wrap"):
            for index, ((section_id, section_label), keys) in enumerate(_sections().items()):
                with gr.Tab(section_label, id=f"settings_{section_id}_{index}", elem_id=f"settings_{section_id}"):
                    for key in keys:
                        if key in quick:
                            continue
                        component = self._create(key)
                        if component is not None and not opts.data_labels[key].do_not_save:
                            self.components[key] = component

    def _create(self, key: str):
        try:
            component = create_setting_component(key)
        except Exception:  # one broken option template must not take the settings page down
            log.exception("Could not create the settings component for %s", key)
            return gr.HTML(f"<p class='error'>Cannot show setting {html.escape(key)}</p>")
        info = opts.data_labels[key]
        if info.refresh is not None:
            create_refresh_button(component, info.refresh, lambda info=info: component_args(info),
                                  f"refresh_{key}")
        return component

    def add_quicksettings(self):
        """The quicksettings row (checkpoint dropdown by default); each change applies at once."""
        with gr.Row(elem_id="quicksettings", equal_height=True):
            for key in self.quicksettings_names():
                self.quicksettings[key] = self._create(key)

    def add_settings_json(self):
        """A1111's #settings_json: every option as JSON in the page (hidden by style.css), which javascript/script.js
        reads into `opts` and watches for onOptionsChanged."""
        self.settings_json = gr.Textbox(value=opts.dumpjson, elem_id="settings_json", container=False, lines=1,
                                        interactive=False, show_label=False)

    def add_functionality(self):
        keys = list(self.components)

        def run_settings(*values):
            changed, problems = apply_settings(keys, values)
            return [result_html(changed, problems), opts.dumpjson(), *(getattr(opts, key) for key in keys)]

        self.submit.click(fn=run_settings, inputs=[self.components[k] for k in keys],
                          outputs=[self.result, self.settings_json, *(self.components[k] for k in keys)],
                          api_visibility="private")

        for key, component in self.quicksettings.items():
            self._connect_quicksetting(key, component)

    def _connect_quicksetting(self, key: str, component):
        def change(value):
            changed, problems = apply_settings([key], [value])
            for problem in problems:
                gr.Warning(problem)
            if changed:
                gr.Info(f"{opts.data_labels[key].label}: {getattr(opts, key)}")
            return getattr(opts, key), opts.dumpjson()

        # set_and_save runs the option's onchange; for sd_model_checkpoint that is the reload registered by
        # initialize, wrapped in call_queue.wrap_queued_call: the switch waits for a running generation.
        component.input(fn=change, inputs=[component], outputs=[component, self.settings_json],
                        show_progress="minimal", api_visibility="private", trigger_mode="always_last")
