"""A1111's callback registry: extensions register functions with on_*(); the webui calls them with *_callback().

A callback that raises is reported with the file that registered it, and the others still run: an extension
never takes the server or a generation down through a callback."""

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class ImageSaveParams:
    image: Any
    """the PIL image about to be saved"""
    p: Any
    """the processing object that made it (may be None)"""
    filename: str
    """the file name it is saved under; a before_image_saved callback may change it"""
    pnginfo: dict
    """text chunks written with the image; "parameters" holds the infotext"""


class CFGDenoiserParams:
    """What the denoiser is about to run at one sampling step; callbacks may replace x, image_cond, text_cond,
    text_uncond."""

    def __init__(self, x, image_cond, sigma, sampling_step, total_sampling_steps, text_cond, text_uncond,
                 denoiser=None):
        self.x = x
        self.image_cond = image_cond
        self.sigma = sigma
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.text_cond = text_cond
        self.text_uncond = text_uncond
        self.denoiser = denoiser


class CFGDenoisedParams:
    """The guided noise prediction of one sampling step; callbacks may replace x."""

    def __init__(self, x, sampling_step, total_sampling_steps, inner_model):
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.inner_model = inner_model


@dataclass
class ImageGridLoopParams:
    imgs: list
    cols: int
    rows: int


@dataclass
class ScriptCallback:
    script: str
    """the file that registered the callback"""
    callback: Callable
    name: str | None = None


CALLBACK_NAMES = (
    "callbacks_app_started",
    "callbacks_model_loaded",
    "callbacks_ui_tabs",
    "callbacks_ui_settings",
    "callbacks_before_image_saved",
    "callbacks_image_saved",
    "callbacks_cfg_denoiser",
    "callbacks_cfg_denoised",
    "callbacks_before_component",
    "callbacks_after_component",
    "callbacks_infotext_pasted",
    "callbacks_script_unloaded",
    "callbacks_before_ui",
    "callbacks_image_grid",
)

callback_map: dict[str, list[ScriptCallback]] = {name: [] for name in CALLBACK_NAMES}

current_script_file: str | None = None
"""Set by the script loader while it imports a script file, so callbacks registered at import are attributed."""


def _registering_file() -> str:
    if current_script_file is not None:
        return current_script_file
    for frame in inspect.stack()[2:]:
        if frame.filename != __file__:
            return frame.filename
    return "unknown"


def add_callback(callbacks: list[ScriptCallback], fun: Callable, name: str | None = None) -> None:
    callbacks.append(ScriptCallback(_registering_file(), fun, name))


def report_exception(callback: ScriptCallback, job: str) -> None:
    log.exception("Error executing callback %s for %s", job, callback.script)
    print(f"Error executing callback {job} for {callback.script}")


def _run(name: str, *args) -> list:
    """Calls every callback registered under name; returns their results (a failing one is reported, skipped)."""
    results = []
    for callback in list(callback_map[name]):
        try:
            results.append(callback.callback(*args))
        except Exception:
            report_exception(callback, name)
    return results


def clear_callbacks() -> None:
    for callbacks in callback_map.values():
        callbacks.clear()


def remove_current_script_callbacks() -> None:
    """Removes the callbacks registered by the script file now being (re)loaded."""
    filename = current_script_file or _registering_file()
    remove_callbacks_for_script(filename)


def remove_callbacks_for_script(filename: str) -> None:
    target = os.path.realpath(filename)
    for callbacks in callback_map.values():
        callbacks[:] = [c for c in callbacks if os.path.realpath(c.script) != target]


def remove_callbacks_for_function(callback_func: Callable) -> None:
    for callbacks in callback_map.values():
        callbacks[:] = [c for c in callbacks if c.callback != callback_func]


# --- what the webui calls --------------------------------------------------------------------------------

def app_started_callback(demo, app) -> None:
    _run("callbacks_app_started", demo, app)


def model_loaded_callback(sd_model) -> None:
    _run("callbacks_model_loaded", sd_model)


def ui_tabs_callback() -> list:
    """The (component, title, elem_id) tabs extensions add to the UI."""
    tabs = []
    for result in _run("callbacks_ui_tabs"):
        tabs.extend(result or [])
    return tabs


def ui_settings_callback() -> None:
    _run("callbacks_ui_settings")


def before_ui_callback() -> None:
    _run("callbacks_before_ui")


def image_grid_callback(params: ImageGridLoopParams) -> None:
    _run("callbacks_image_grid", params)


def before_image_saved_callback(params: ImageSaveParams) -> None:
    _run("callbacks_before_image_saved", params)


def image_saved_callback(params: ImageSaveParams) -> None:
    _run("callbacks_image_saved", params)


def cfg_denoiser_callback(params: CFGDenoiserParams) -> None:
    _run("callbacks_cfg_denoiser", params)


def cfg_denoised_callback(params: CFGDenoisedParams) -> None:
    _run("callbacks_cfg_denoised", params)


def before_component_callback(component, **kwargs) -> None:
    _run_with_kwargs("callbacks_before_component", component, kwargs)


def after_component_callback(component, **kwargs) -> None:
    _run_with_kwargs("callbacks_after_component", component, kwargs)


def _run_with_kwargs(name: str, component, kwargs: dict) -> None:
    for callback in list(callback_map[name]):
        try:
            callback.callback(component, **kwargs)
        except Exception:
            report_exception(callback, name)


def infotext_pasted_callback(infotext: str, params: dict) -> None:
    _run("callbacks_infotext_pasted", infotext, params)


def script_unloaded_callback() -> None:
    _run("callbacks_script_unloaded")


# --- what extensions call ---------------------------------------------------------------------------------

def on_app_started(callback: Callable) -> None:
    """callback(demo, app) after the server is built: demo is the Gradio Blocks (None without UI), app FastAPI."""
    add_callback(callback_map["callbacks_app_started"], callback)


def on_model_loaded(callback: Callable) -> None:
    """callback(sd_model) after a checkpoint is loaded."""
    add_callback(callback_map["callbacks_model_loaded"], callback)


def on_ui_tabs(callback: Callable) -> None:
    """callback() returns a list of (gradio Blocks, tab title, elem_id) to add as tabs."""
    add_callback(callback_map["callbacks_ui_tabs"], callback)


def on_ui_settings(callback: Callable) -> None:
    """callback() adds options with shared.opts.add_option before the Settings tab is built."""
    add_callback(callback_map["callbacks_ui_settings"], callback)


def on_before_ui(callback: Callable) -> None:
    add_callback(callback_map["callbacks_before_ui"], callback)


def on_image_grid(callback: Callable) -> None:
    """callback(ImageGridLoopParams) before a grid is assembled; it may change the images, columns and rows."""
    add_callback(callback_map["callbacks_image_grid"], callback)


def on_before_image_saved(callback: Callable) -> None:
    """callback(ImageSaveParams) before an image is written; it may change the image, file name or text chunks."""
    add_callback(callback_map["callbacks_before_image_saved"], callback)


def on_image_saved(callback: Callable) -> None:
    """callback(ImageSaveParams) after an image is written."""
    add_callback(callback_map["callbacks_image_saved"], callback)


def on_cfg_denoiser(callback: Callable) -> None:
    """callback(CFGDenoiserParams) before the UNet runs at each sampling step."""
    add_callback(callback_map["callbacks_cfg_denoiser"], callback)


def on_cfg_denoised(callback: Callable) -> None:
    """callback(CFGDenoisedParams) after guidance is combined at each sampling step."""
    add_callback(callback_map["callbacks_cfg_denoised"], callback)


def on_before_component(callback: Callable) -> None:
    """callback(component, **kwargs) before a Gradio component is created (kwargs are its arguments)."""
    add_callback(callback_map["callbacks_before_component"], callback)


def on_after_component(callback: Callable) -> None:
    """callback(component, **kwargs) after a Gradio component is created."""
    add_callback(callback_map["callbacks_after_component"], callback)


def on_infotext_pasted(callback: Callable) -> None:
    """callback(infotext, params) after infotext is parsed for pasting; it may edit params."""
    add_callback(callback_map["callbacks_infotext_pasted"], callback)


def on_script_unloaded(callback: Callable) -> None:
    """callback() before scripts are reloaded."""
    add_callback(callback_map["callbacks_script_unloaded"], callback)
