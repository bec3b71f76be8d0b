"""A1111's module path for State; the job state lives in modules.runtime.job_state."""

from modules.runtime.job_state import State  # noqa: F401 (this module's old name)
