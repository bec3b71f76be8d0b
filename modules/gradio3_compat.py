"""The Gradio 3 names A1111 extensions still use, mapped onto this Gradio: the `_js=` keyword of event listeners (now
`js=`), `Component.update(...)` (now `gr.update(...)`), `.style(...)` (gone: its settings are constructor arguments,
so it changes nothing), `gr.Box` (now `gr.Group`) and `gr.inputs.*` / `gr.outputs.*` (their `default=` is
`value=`)."""

import functools
import types

import gradio as gr
from gradio.blocks import Block
from gradio.events import EventListener

_WRAPPED = "__serena_gradio3__"


def _accepts_js_underscore(listener):
    if getattr(listener, _WRAPPED, False):
        return listener

    @functools.wraps(listener)
    def event_trigger(*args, **kwargs):
        if "_js" in kwargs:
            kwargs["js"] = kwargs.pop("_js")
        return listener(*args, **kwargs)

    setattr(event_trigger, _WRAPPED, True)
    return event_trigger


def _subclasses(cls) -> list[type]:
    found = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found


def _wrap_event_methods(cls: type) -> None:
    for name in [*(getattr(event, "event_name", event) for event in getattr(cls, "EVENTS", []) or []), "load"]:
        method = cls.__dict__.get(name)
        if callable(method) and not isinstance(method, (staticmethod, classmethod)):
            setattr(cls, name, _accepts_js_underscore(method))


def _update(**kwargs):
    return gr.update(**kwargs)


def _style(self, *args, **kwargs):
    return self


def _with_value_for_default(component_class):
    def create(*args, **kwargs):
        if "default" in kwargs:
            kwargs.setdefault("value", kwargs.pop("default"))
        return component_class(*args, **kwargs)

    return create


def _namespace(name: str) -> types.SimpleNamespace:
    components = {attr: _with_value_for_default(getattr(gr, attr)) for attr in dir(gr)
                  if isinstance(getattr(gr, attr), type) and issubclass(getattr(gr, attr), gr.components.Component)}
    return types.SimpleNamespace(__name__=f"gradio.{name}", **components)


def install() -> None:
    """Idempotent; classes defined later (an extension's own components) get `_js=` through EventListener too."""
    if getattr(EventListener, _WRAPPED, False):
        return
    original_setup = EventListener._setup

    def setup(*args, **kwargs):
        return _accepts_js_underscore(original_setup(*args, **kwargs))

    EventListener._setup = staticmethod(setup)
    setattr(EventListener, _WRAPPED, True)
    for cls in [Block, *_subclasses(Block)]:
        _wrap_event_methods(cls)
    for cls in [gr.components.Component, *_subclasses(gr.components.Component), gr.Blocks, gr.Row, gr.Column,
                gr.Group, gr.Tab, gr.Accordion]:
        if "update" not in cls.__dict__:
            cls.update = staticmethod(_update)
        if not hasattr(cls, "style"):
            cls.style = _style
    if not hasattr(gr, "Box"):
        gr.Box = gr.Group
    for name in ("inputs", "outputs"):
        if not hasattr(gr, name):
            setattr(gr, name, _namespace(name))
