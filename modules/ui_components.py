"""Small building blocks shared by the UI tabs (A1111's ui_components names)."""

import inspect

import gradio as gr

random_symbol = "\U0001f3b2\ufe0f"  # 🎲️
reuse_symbol = "\u267b\ufe0f"  # ♻️
paste_symbol = "\u2199\ufe0f"  # ↙️
refresh_symbol = "\U0001f504"  # 🔄
clear_prompt_symbol = "\U0001f5d1\ufe0f"  # 🗑️
switch_values_symbol = "\U000021c5"  # ⇅


def _gradio_base(cls: type) -> type:
    return next(c for c in cls.__mro__ if c.__module__.startswith("gradio."))


class _GradioSubclass:
    """A subclass of a gradio block that gradio sees as that block: the same front-end component, and the same
    config (gradio reads a block's config through the parameters of its class' __init__)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__.__signature__ = inspect.signature(_gradio_base(cls).__init__)

    def get_block_name(self) -> str:
        return _gradio_base(type(self)).__name__.lower()

    def get_block_class(self) -> str:
        return self.get_block_name()


class FormComponent(_GradioSubclass):
    """A1111's mark of a control that belongs in a form: gradio groups consecutive ones into one gr.Form."""

    webui_do_not_create_gradio_pyi_thank_you = True

    def get_expected_parent(self):
        return gr.layouts.Form if isinstance(self, gr.components.Component) else None


def _classes(extra: list[str], kwargs: dict) -> list[str]:
    given = kwargs.pop("elem_classes", None) or []
    return [*extra, *([given] if isinstance(given, str) else given)]


class ToolButton(FormComponent, gr.Button):
    """A small square icon button."""

    def __init__(self, value: str = "", elem_id: str | None = None, **kwargs):
        kwargs = {"size": "sm", "min_width": 0, "scale": 0, **kwargs}
        super().__init__(value=value, elem_id=elem_id, elem_classes=_classes(["tool"], kwargs), **kwargs)

    def get_expected_parent(self):
        return None  # stays a bare button beside the controls it serves, as gradio lays out a gr.Button


class FormRow(FormComponent, gr.Row):
    def __init__(self, **kwargs):
        super().__init__(elem_classes=_classes(["form-row"], kwargs), **kwargs)


class FormColumn(FormComponent, gr.Column):
    pass


class FormGroup(FormComponent, gr.Group):
    pass


class FormHTML(FormComponent, gr.HTML):
    pass


class FormColorPicker(FormComponent, gr.ColorPicker):
    pass


class DropdownMulti(FormComponent, gr.Dropdown):
    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "multiselect": True})


class DropdownEditable(FormComponent, gr.Dropdown):
    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "allow_custom_value": True})


class ResizeHandleRow(_GradioSubclass, gr.Row):
    """A row of two columns (A1111 lets the user drag the border between them)."""

    def __init__(self, **kwargs):
        super().__init__(elem_classes=_classes(["resize-handle-row"], kwargs), **kwargs)


class InputAccordion(_GradioSubclass, gr.Checkbox):
    """A1111's accordion that is also a checkbox: `with InputAccordion(False, label="ADetailer") as enabled:` puts
    the controls inside the accordion, and `enabled` is the checkbox, usable as an input (its value: whether the
    feature is on). The checkbox is the accordion's first row; opening the accordion ticks it, closing unticks it,
    and (un)ticking it opens or closes the accordion."""

    global_index = 0

    def __init__(self, value=False, **kwargs):
        self.accordion_id = kwargs.get("elem_id")
        if self.accordion_id is None:
            self.accordion_id = f"input-accordion-{InputAccordion.global_index}"
            InputAccordion.global_index += 1
        label = kwargs.get("label") or "Accordion"
        self.accordion = gr.Accordion(label=label, open=bool(value), elem_id=self.accordion_id,
                                      elem_classes=["input-accordion"], visible=kwargs.get("visible", True))
        with self.accordion:
            super().__init__(value=value, **{**kwargs, "label": label, "elem_id": f"{self.accordion_id}-checkbox",
                                             "visible": True})
        self.change(fn=lambda checked: gr.update(open=bool(checked)), inputs=[self], outputs=[self.accordion],
                    show_progress="hidden", queue=False, api_visibility="private")
        self.accordion.expand(fn=lambda: True, outputs=[self], show_progress="hidden", queue=False,
                              api_visibility="private")
        self.accordion.collapse(fn=lambda: False, outputs=[self], show_progress="hidden", queue=False,
                                api_visibility="private")

    def extra(self):
        """A row for extra controls next to the checkbox (A1111 moves them into the accordion's header)."""
        return gr.Row(elem_id=f"{self.accordion_id}-extra", elem_classes=["input-accordion-extra"])

    def __enter__(self):
        self.accordion.__enter__()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.accordion.__exit__(exc_type, exc_val, exc_tb)


def _still_listed(current, choice_values: list):
    """current if it is still a choice, else the choice it became when its "[hash]" came or changed (a checkpoint
    hashed since it was listed, or replaced on disk), else the first choice."""
    if current in choice_values:
        return current
    first = (choice_values or [None])[0]
    if not isinstance(current, str):
        return first
    from modules.sd_models import title_without_hash

    name = title_without_hash(current)
    return next((value for value in choice_values if isinstance(value, str) and title_without_hash(value) == name),
                first)


def create_refresh_button(component, refresh_method, refreshed_args, elem_id: str) -> gr.Button:
    """A 🔄 button next to component: runs refresh_method, then updates the component with refreshed_args
    (a dict, or a callable returning one), keeping its current value when that is still a choice."""

    def refresh(current):
        refresh_method()
        args = refreshed_args() if callable(refreshed_args) else refreshed_args
        choices = args.get("choices")
        if choices is not None and "value" not in args:
            choice_values = [c[1] if isinstance(c, tuple) else c for c in choices]
            args = {**args, "value": _still_listed(current, choice_values)}
        return gr.update(**args)

    button = ToolButton(refresh_symbol, elem_id=elem_id)
    button.click(fn=refresh, inputs=[component], outputs=[component], show_progress="hidden")
    return button
