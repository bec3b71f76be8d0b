"""Lets extensions see every Gradio component the UI creates (A1111's on_before_component/on_after_component and
Script.before_component/after_component), by wrapping gradio's Component.__init__ once."""

import contextlib

import gradio as gr
from gradio.context import Context

from modules import gradio3_compat, script_callbacks, scripts

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
    gradio3_compat.install()
    if gr.components.Component.__init__ is not _component_init:
        gr.components.Component.__init__ = _component_init


@contextlib.contextmanager
def outside_blocks():
    """No Blocks is being built inside the `with` (A1111 builds extension tabs so): Blocks made there are their own,
    and one that fails (Gradio then drops the Blocks being built) leaves the enclosing UI as it was."""
    saved = Context.root_block, Context.block
    Context.root_block, Context.block = None, None
    try:
        yield
    finally:
        Context.root_block, Context.block = saved
