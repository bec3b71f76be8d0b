"""A running job's live numbers, read from its own State: progress and the live preview."""

import io

from modules.runtime import job_state


def progress(job_id: str) -> dict | None:
    """{step, steps, fraction, eta_s} of a running job (here or, through its RemoteState, on a remote worker); None
    when it is not running."""
    state = job_state.running(job_id)
    if state is None:
        return None
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
        return None
    state.set_current_image()
    image = state.current_image
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
