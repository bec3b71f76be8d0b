"""What a failed job's error means for the one who asked: a status (as the API answers it), the request field it is
about, and a message; stored with the job, and turned back into the same answer by /sdapi/v1."""

import dataclasses

from modules import safe, scripts
from modules.jobs.builder import ScriptArgumentError
from modules.jobs.spec import GenerationSpec


@dataclasses.dataclass(frozen=True)
class Failure:
    status: int
    field: str | None
    message: str
    type: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class RemoteFailure(Exception):
    """A job that failed on a remote worker, as that worker described it; error_type: the name of the error there
    (what an API answer names)."""

    def __init__(self, failure: Failure):
        prefix = f"{failure.type}: "
        super().__init__(failure.message.removeprefix(prefix) if failure.status >= 500 else failure.message)
        self.failure, self.error_type = failure, failure.type


def error_name(error: BaseException) -> str:
    """The error's type name; for a remote worker's failure, the name it had there."""
    return getattr(error, "error_type", None) or type(error).__name__


def unexpected(error: BaseException) -> Failure:
    kind = type(error).__name__
    return Failure(500, None, f"{kind}: {error}", kind)


def unreadable_spec(error: BaseException) -> Failure:
    """A stored spec this version cannot read."""
    return Failure(422, "spec", f"the stored request cannot be read: {error}", type(error).__name__)


def describe(error: BaseException, spec: GenerationSpec) -> Failure:
    """A script rejecting its arguments (ValueError) or an overriding checkpoint that does not load is the request's
    fault (422); the selected checkpoint not loading is 503; an HTTP error keeps its status; anything else is 500."""
    kind = type(error).__name__
    if isinstance(error, RemoteFailure):
        return error.failure
    if isinstance(error, ScriptArgumentError):
        return Failure(error.status, error.field, error.message, kind)
    if isinstance(error, safe.CheckpointLoadError):
        if spec.requested_checkpoint() is not None:
            return Failure(422, "override_settings.sd_model_checkpoint", str(error), kind)
        return Failure(503, None, f"the selected checkpoint cannot be loaded: {error}", kind)
    if isinstance(error, scripts.ScriptError) and isinstance(error.__cause__, ValueError):
        return Failure(422, "script_args", str(error), kind)
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        detail = getattr(error, "detail", str(error))
        return Failure(status, getattr(error, "field", None), detail if isinstance(detail, str) else str(detail), kind)
    return unexpected(error)
