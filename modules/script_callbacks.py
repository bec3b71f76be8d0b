"""A1111's callback registry: extensions register functions with on_*(); the webui calls them with *_callback().

A callback that raises is reported with the file that registered it, and the others still run: an extension
never takes the server or a generation down through a callback."""

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modules import extension_errors


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


class AfterCFGCallbackParams:
    """The latent after a sampling step's guidance; callbacks may replace x."""

    def __init__(self, x, sampling_step, total_sampling_steps):
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps


class ExtraNoiseParams:
    def __init__(self, noise, x, xi):
        self.noise = noise
        self.x = x
        self.xi = xi


@dataclass
class UiTrainTabParams:
    txt2img_preview_params: Any


@dataclass
class BeforeTokenCounterParams:
    prompt: str
    steps: int
    styles: list
    is_positive: bool = True


@dataclass
class ScriptCallback:
    script: str
    """the file that registered the callback"""
    callback: Callable
    name: str | None = None
    category: str = "unknown"


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
    "callbacks_before_reload",
    "callbacks_ui_train_tabs",
    "callbacks_list_optimizers",
    "callbacks_list_unets",
    "callbacks_cfg_after_cfg",
    "callbacks_extra_noise",
    "callbacks_before_token_counter",
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


def add_callback(callbacks: list[ScriptCallback], fun: Callable, *, name: str | None = None,
                 category: str = "unknown") -> None:
    """Registers fun; a callback registered again under the same name by the same file replaces the old one."""
    script = _registering_file()
    if name is not None:
        callbacks[:] = [c for c in callbacks if not (c.name == name and c.script == script)]
    callbacks.append(ScriptCallback(script, fun, name, category))


def report_exception(callback: ScriptCallback, job: str) -> None:
    """Reports a callback that raised and takes it off that hook: it is not called again until the webui restarts."""
    extension_errors.report(callback.script, f"Error executing callback {job} for {callback.script}; it is "
                                             "disabled for this hook")
    callbacks = callback_map.get(job)
    if callbacks is not None and callback in callbacks:
        callbacks.remove(callback)


def _run(name: str, *args, reverse: bool = False) -> list:
    """Calls every callback registered under name (last registered first with reverse); returns their results
    (a failing one is reported and skipped)."""
    results = []
    callbacks = list(callback_map[name])
    for callback in reversed(callbacks) if reverse else callbacks:
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
    _run("callbacks_before_ui", reverse=True)


def before_reload_callback() -> None:
    _run("callbacks_before_reload")


def ui_train_tabs_callback(params: UiTrainTabParams) -> None:
    _run("callbacks_ui_train_tabs", params)


def list_optimizers_callback() -> list:
    optimizers = []
    for result in _run("callbacks_list_optimizers", optimizers):
        optimizers.extend(result or [])
    return optimizers


def list_unets_callback() -> list:
    unets = []
    for result in _run("callbacks_list_unets", unets):
        unets.extend(result or [])
    return unets


def cfg_after_cfg_callback(params: AfterCFGCallbackParams) -> None:
    _run("callbacks_cfg_after_cfg", params)


def extra_noise_callback(params: ExtraNoiseParams) -> None:
    _run("callbacks_extra_noise", params)


def before_token_counter_callback(params: BeforeTokenCounterParams) -> None:
    _run("callbacks_before_token_counter", params)


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
    _run("callbacks_script_unloaded", reverse=True)


# --- what extensions call ---------------------------------------------------------------------------------

def on_app_started(callback: Callable, *, name: str | None = None) -> None:
    """callback(demo, app) after the server is built: demo is the Gradio Blocks (None without UI), app FastAPI."""
    add_callback(callback_map["callbacks_app_started"], callback, name=name)


def on_model_loaded(callback: Callable, *, name: str | None = None) -> None:
    """callback(sd_model) after a checkpoint is loaded."""
    add_callback(callback_map["callbacks_model_loaded"], callback, name=name)


def on_ui_tabs(callback: Callable, *, name: str | None = None) -> None:
    """callback() returns a list of (gradio Blocks, tab title, elem_id) to add as tabs."""
    add_callback(callback_map["callbacks_ui_tabs"], callback, name=name)


def on_ui_settings(callback: Callable, *, name: str | None = None) -> None:
    """callback() adds options with shared.opts.add_option before the Settings tab is built."""
    add_callback(callback_map["callbacks_ui_settings"], callback, name=name)


def on_before_ui(callback: Callable, *, name: str | None = None) -> None:
    add_callback(callback_map["callbacks_before_ui"], callback, name=name)


def on_image_grid(callback: Callable, *, name: str | None = None) -> None:
    """callback(ImageGridLoopParams) before a grid is assembled; it may change the images, columns and rows."""
    add_callback(callback_map["callbacks_image_grid"], callback, name=name)


def on_before_image_saved(callback: Callable, *, name: str | None = None) -> None:
    """callback(ImageSaveParams) before an image is written; it may change the image, file name or text chunks."""
    add_callback(callback_map["callbacks_before_image_saved"], callback, name=name)


def on_image_saved(callback: Callable, *, name: str | None = None) -> None:
    """callback(ImageSaveParams) after an image is written."""
    add_callback(callback_map["callbacks_image_saved"], callback, name=name)


def on_cfg_denoiser(callback: Callable, *, name: str | None = None) -> None:
    """callback(CFGDenoiserParams) before the UNet runs at each sampling step."""
    add_callback(callback_map["callbacks_cfg_denoiser"], callback, name=name)


def on_cfg_denoised(callback: Callable, *, name: str | None = None) -> None:
    """callback(CFGDenoisedParams) after guidance is combined at each sampling step."""
    add_callback(callback_map["callbacks_cfg_denoised"], callback, name=name)


def on_before_component(callback: Callable, *, name: str | None = None) -> None:
    """callback(component, **kwargs) before a Gradio component is created (kwargs are its arguments)."""
    add_callback(callback_map["callbacks_before_component"], callback, name=name)


def on_after_component(callback: Callable, *, name: str | None = None) -> None:
    """callback(component, **kwargs) after a Gradio component is created."""
    add_callback(callback_map["callbacks_after_component"], callback, name=name)


def on_infotext_pasted(callback: Callable, *, name: str | None = None) -> None:
    """callback(infotext, params) after infotext is parsed for pasting; it may edit params."""
    add_callback(callback_map["callbacks_infotext_pasted"], callback, name=name)


def on_script_unloaded(callback: Callable, *, name: str | None = None) -> None:
    """callback() before scripts are reloaded."""
    add_callback(callback_map["callbacks_script_unloaded"], callback, name=name)


def on_before_reload(callback: Callable, *, name: str | None = None) -> None:
    """callback() before the UI is reloaded."""
    add_callback(callback_map["callbacks_before_reload"], callback, name=name)


def on_ui_train_tabs(callback: Callable, *, name: str | None = None) -> None:
    """callback(UiTrainTabParams) while the Train tab is built (this webui has no Train tab: never called)."""
    add_callback(callback_map["callbacks_ui_train_tabs"], callback, name=name)


def on_list_optimizers(callback: Callable, *, name: str | None = None) -> None:
    """callback(list) adds cross-attention optimizers (this webui uses diffusers' attention: never called)."""
    add_callback(callback_map["callbacks_list_optimizers"], callback, name=name)


def on_list_unets(callback: Callable, *, name: str | None = None) -> None:
    """callback(list) adds alternative UNets (not supported here: never called)."""
    add_callback(callback_map["callbacks_list_unets"], callback, name=name)


def on_cfg_after_cfg(callback: Callable, *, name: str | None = None) -> None:
    """callback(AfterCFGCallbackParams) after each sampling step's guidance."""
    add_callback(callback_map["callbacks_cfg_after_cfg"], callback, name=name)


def on_extra_noise(callback: Callable, *, name: str | None = None) -> None:
    """callback(ExtraNoiseParams) when img2img adds extra noise (not used by this webui's samplers: never called)."""
    add_callback(callback_map["callbacks_extra_noise"], callback, name=name)


def on_before_token_counter(callback: Callable, *, name: str | None = None) -> None:
    """callback(BeforeTokenCounterParams) before a prompt's tokens are counted for the UI."""
    add_callback(callback_map["callbacks_before_token_counter"], callback, name=name)
