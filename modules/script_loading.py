"""Imports a script file by path, as its own module (A1111's script_loading)."""

import importlib.util
import os


def load_module(path: str):
    """Executes the file at path as a module named by its file name with the extension ("xyz_grid.py"), as A1111
    names script modules (extensions look scripts up by that __module__); raises what the file raises."""
    spec = importlib.util.spec_from_file_location(os.path.basename(path), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
