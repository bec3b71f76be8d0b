"""Lets extensions see every Gradio component the UI creates (A1111's on_before_component/on_after_component and
Script.before_component/after_component), by wrapping gradio's Component.__init__ once."""

import gradio as gr

from modules import script_callbacks, scripts

_original_component_init = gr.components.Component.__init__


def _component_init(self, *args, **kwargs):
    runner = scripts.scripts_current
    if runner is not None:
        runner.before_component(self, **kwargs)
    script_callbacks.before_component_callback(self, **kwargs)
    result = _original_component_init(self, *args, **kwargs)
    script_callbacks.after_component_callback(self, **kwargs)
    if runner is not None:
        runner.after_component(self, **kwargs)
    return result


def install() -> None:
    if gr.components.Component.__init__ is not _component_init:
        gr.components.Component.__init__ = _component_init
