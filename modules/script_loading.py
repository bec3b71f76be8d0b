"""Imports a script file by path, as its own module (A1111's script_loading)."""

import importlib.util
import os


def load_module(path: str):
    """Executes the file at path as a module named after it; raises what the file raises."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
