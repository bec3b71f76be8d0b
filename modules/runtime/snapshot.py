"""A read-only copy of every option value, taken once per generation (p.opts_snapshot): the options a generation
ran with, whatever its job's options layer or the base options do afterwards."""

import copy
from collections.abc import Iterator
from types import MappingProxyType

_UNCHANGEABLE_TYPES = (str, bytes, int, float, complex, bool, type(None))


class OptsSnapshot:
    """Option values read by attribute, as from shared.opts (snapshot.samples_format). Nothing can be set or
    deleted, and a list or dict value is handed out as a fresh copy, so no reader can change what the next one
    sees."""

    __slots__ = ("_values",)

    def __new__(cls, values: dict):
        snapshot = super().__new__(cls)
        object.__setattr__(snapshot, "_values", MappingProxyType(copy.deepcopy(values)))
        return snapshot

    def __getattr__(self, name):
        if name == "_values":
            raise AttributeError(name)
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(f"unknown option: {name}") from None
        return value if isinstance(value, _UNCHANGEABLE_TYPES) else copy.deepcopy(value)

    def __setattr__(self, name, value):
        raise AttributeError(f"the options snapshot is read-only: cannot set {name}")

    def __delattr__(self, name):
        raise AttributeError(f"the options snapshot is read-only: cannot delete {name}")

    def __contains__(self, name) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict:
        """A copy of every value by option name."""
        return copy.deepcopy(dict(self._values))

    def __eq__(self, other):
        if not isinstance(other, OptsSnapshot):
            return NotImplemented
        return self._values == other._values

    __hash__ = None

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return OptsSnapshot, (dict(self._values),)

    def __repr__(self):
        return f"<OptsSnapshot of {len(self._values)} options>"


def create_opts_snapshot(opts) -> OptsSnapshot:
    """Every value shared.opts (or another Options) holds now: its data, and the default for each registered
    option that data does not hold yet."""
    values = {key: info.default for key, info in opts.data_labels.items()}
    values.update(opts.data)
    return OptsSnapshot(values)

