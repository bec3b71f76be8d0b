"""The old module path of the generation context; it lives in modules.runtime.context."""

from modules.runtime.context import ModelIdentity, RuntimeContext, create_runtime_context  # noqa: F401 (old names)
