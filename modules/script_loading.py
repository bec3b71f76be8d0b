"""Imports a script file by path, as its own module (A1111's script_loading)."""

import importlib.util
import os
import sys


def load_module(path: str, register: bool = True):
    """Executes the file at path as a module named by its file name with the extension ("xyz_grid.py"), as A1111
    names script modules (extensions look scripts up by that __module__); raises what the file raises. Registered
    in sys.modules under that name (unless register is False), so what is defined in it can be found by its
    __module__ (Gradio looks component classes up there); a file that fails leaves nothing registered."""
    name = os.path.basename(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if register and sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module


MODEL_INTERNALS = {"ldm": "A1111's LDM model code", "sgm": "A1111's SDXL (sgm) model code",
                   "k_diffusion": "k-diffusion's samplers", "repositories": "A1111's repositories/ folder",
                   "taming": "taming-transformers", "open_clip": "open_clip"}
"""Packages A1111 ships for its model internals; this webui runs diffusers and has none of them."""


def missing_model_internals(error: BaseException) -> str | None:
    """For an import of one of MODEL_INTERNALS: a line naming what is missing and why; None for other errors."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    package = error.name.split(".")[0]
    if package not in MODEL_INTERNALS:
        return None
    return (f"it imports {error.name} ({MODEL_INTERNALS[package]}), which this webui does not have: it runs "
            f"diffusers, so extensions that patch the model internals cannot work here")
