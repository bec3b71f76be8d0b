"""Small building blocks shared by the UI tabs (A1111's ui_components names)."""

import gradio as gr

random_symbol = "\U0001f3b2\ufe0f"  # 🎲️
reuse_symbol = "\u267b\ufe0f"  # ♻️
paste_symbol = "\u2199\ufe0f"  # ↙️
refresh_symbol = "\U0001f504"  # 🔄
clear_prompt_symbol = "\U0001f5d1\ufe0f"  # 🗑️
switch_values_symbol = "\U000021c5"  # ⇅


def ToolButton(value: str, elem_id: str | None = None, **kwargs) -> gr.Button:
    """A small square icon button."""
    classes = ["tool", *kwargs.pop("elem_classes", [])]
    return gr.Button(value=value, elem_id=elem_id, elem_classes=classes, size="sm", min_width=0, scale=0, **kwargs)


def FormRow(**kwargs) -> gr.Row:
    return gr.Row(elem_classes=["form-row", *kwargs.pop("elem_classes", [])], **kwargs)


def create_refresh_button(component, refresh_method, refreshed_args, elem_id: str) -> gr.Button:
    """A 🔄 button next to component: runs refresh_method, then updates the component with refreshed_args
    (a dict, or a callable returning one), keeping its current value when that is still a choice."""

    def refresh(current):
        refresh_method()
        args = refreshed_args() if callable(refreshed_args) else refreshed_args
        choices = args.get("choices")
        if choices is not None and "value" not in args:
            choice_values = [c[1] if isinstance(c, tuple) else c for c in choices]
            args = {**args, "value": current if current in choice_values else (choice_values or [None])[0]}
        return gr.update(**args)

    button = ToolButton(refresh_symbol, elem_id=elem_id)
    button.click(fn=refresh, inputs=[component], outputs=[component], show_progress="hidden")
    return button
