"""Gradio rewrites the .pyi typing stubs of its components each time it is imported (about 1 s on this machine,
nothing a running program uses); skip_stub_writing() makes the next import of Gradio leave them alone."""

import importlib.abc
import importlib.machinery
import sys

STUB_MODULE = "gradio.component_meta"


class _SkipStubWriting(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != STUB_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            module.create_or_modify_pyi = lambda *args, **kwargs: None

        spec.loader.exec_module = exec_module
        return spec


def skip_stub_writing() -> None:
    """Before Gradio is first imported; later it changes nothing."""
    if STUB_MODULE not in sys.modules and not any(isinstance(f, _SkipStubWriting) for f in sys.meta_path):
        sys.meta_path.insert(0, _SkipStubWriting())
