"""Gradio component factories for settings, resolved on first use so option tables import without gradio."""


class LazyComponent:
    """Callable like a gradio component class: LazyComponent("Slider")(minimum=0, ...) builds gr.Slider."""

    def __init__(self, class_name: str, **preset):
        self.class_name = class_name
        self.preset = preset

    def __call__(self, **kwargs):
        import gradio as gr

        return getattr(gr, self.class_name)(**{**self.preset, **kwargs})

    def __repr__(self) -> str:
        return f"LazyComponent({self.class_name!r}, {self.preset!r})"


Slider = LazyComponent("Slider")
Number = LazyComponent("Number")
Radio = LazyComponent("Radio")
Dropdown = LazyComponent("Dropdown")
DropdownMulti = LazyComponent("Dropdown", multiselect=True)
DropdownEditable = LazyComponent("Dropdown", allow_custom_value=True)
CheckboxGroup = LazyComponent("CheckboxGroup")
Textbox = LazyComponent("Textbox")
ColorPicker = LazyComponent("ColorPicker")
HTML = LazyComponent("HTML", elem_classes="settings-info")
