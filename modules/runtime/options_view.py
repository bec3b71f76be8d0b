"""A job's options: the base values (what config.json holds) copied when the job starts, and the job's override
layers above them, bound with contextvars to the code that runs on the job's behalf. An Options object (shared.opts)
hands out the values of the layer bound in the caller's context, and the base everywhere else."""

import contextlib
import contextvars
import copy
from collections.abc import Iterator


class Layer:
    """What one layer sees: its parent's values (the base's, for a job's outermost layer) copied when it starts,
    then its overrides and whatever is set while it is bound."""

    __slots__ = ("values", "parent")

    def __init__(self, values: dict, parent: "Layer | None"):
        self.values = values
        self.parent = parent


class OptionLayers:
    """The base values of one Options object and, per context, the layer bound to it."""

    __slots__ = ("base", "bound")

    def __init__(self, base: dict):
        self.base = base
        self.bound: contextvars.ContextVar[Layer | None] = contextvars.ContextVar("options layer", default=None)

    def current(self) -> dict:
        layer = self.bound.get()
        return self.base if layer is None else layer.values

    def replace_current(self, values: dict) -> None:
        layer = self.bound.get()
        if layer is None:
            self.base = values
        else:
            layer.values = values

    @contextlib.contextmanager
    def layer(self) -> Iterator[Layer]:
        """Binds a new layer over the current values to this context for the `with` block."""
        parent = self.bound.get()
        layer = Layer(copy.deepcopy(self.base if parent is None else parent.values), parent)
        token = self.bound.set(layer)
        try:
            yield layer
        finally:
            self.bound.reset(token)

    def keep(self, values: dict) -> None:
        """Writes values into every layer bound here and into the base: they outlive the layer that set them."""
        layer = self.bound.get()
        while layer is not None:
            layer.values.update(copy.deepcopy(values))
            layer = layer.parent
        self.base.update(copy.deepcopy(values))


@contextlib.contextmanager
def job_options(opts) -> Iterator[None]:
    """The options of a new job for the `with` block: a copy of opts' base, bound to this context, so what the job
    reads and sets is its own and nothing written to the base meanwhile reaches it."""
    with opts.layers.layer():
        yield


@contextlib.contextmanager
def override_layer(opts, overrides: dict | None, restore_afterwards: bool = True) -> Iterator[None]:
    """A layer over the current values with each override set as the API sets it (no onchange callbacks; a changed
    value of a restricted option raises RuntimeError, an unknown key KeyError, a value of the wrong type TypeError),
    bound to this context for the `with` block.

    restore_afterwards=False is A1111's override_settings_restore_afterwards=False, and this is the one place it is
    carried out: however the block ends once they are set, the overridden options keep their values from the layer in every enclosing
    layer and in the base, so later jobs start with them. The base changes in memory only; config.json follows when
    the settings are next saved, as in A1111."""
    overrides = overrides or {}
    with opts.layers.layer() as layer:
        for key, value in overrides.items():
            opts.set(key, value, is_api=True, run_callbacks=False)
        try:
            yield
        finally:
            if not restore_afterwards:
                opts.layers.keep({key: layer.values[key] for key in overrides if key in layer.values})
