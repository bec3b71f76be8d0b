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
