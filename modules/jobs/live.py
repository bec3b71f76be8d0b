"""A running job's live numbers, read from its own State: progress and the live preview."""

import io

from modules.runtime import job_state

_remote: dict[str, dict] = {}
"""job id -> {"progress": ..., "preview": (number, PNG bytes)} of jobs running on remote workers, as last reported."""


def report_remote(job_id: str, **numbers) -> None:
    """A remote worker's latest progress ({step, steps, fraction, eta_s}) or preview ((number, PNG)) of its job."""
    _remote.setdefault(job_id, {}).update(numbers)


def forget_remote(job_id: str) -> None:
    _remote.pop(job_id, None)


def progress(job_id: str) -> dict | None:
    """{step, steps, fraction, eta_s} of a running job; None when it does not run here or on a remote worker."""
    state = job_state.running(job_id)
    if state is None:
        return _remote.get(job_id, {}).get("progress")
    return {"step": state.sampling_step, "steps": state.sampling_steps,
            "fraction": round(state.progress(start_offset=0.0), 4), "eta_s": _rounded(state.eta_relative(0.0))}


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 2) if seconds is not None else None


def preview_id(job_id: str) -> int | None:
    """The number of the latest live preview of a running job (refreshed first when it is due)."""
    state = job_state.running(job_id)
    if state is None:
        return None
    state.set_current_image()
    return state.id_live_preview if state.current_image is not None else None


def preview_png(job_id: str) -> bytes | None:
    """The running job's latest live preview as PNG; None when it has none."""
    state = job_state.running(job_id)
    if state is None:
        preview = _remote.get(job_id, {}).get("preview")
        return preview[1] if preview else None
    state.set_current_image()
    image = state.current_image
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
