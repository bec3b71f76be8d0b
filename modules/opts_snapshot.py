"""The options a generation reads: its snapshot (modules.runtime.snapshot) once taken, else shared.opts, which inside
a job is that job's options layer."""

from modules import shared
from modules.runtime.snapshot import OptsSnapshot, create_opts_snapshot  # noqa: F401 (this module's old names)


def options_or_live(options):
    """options when there are some (a generation's snapshot), else shared.opts: the job's layer when called on a
    job's behalf, the base options otherwise."""
    return options if options is not None else shared.opts


def options_for(p=None):
    """The options p's generation reads: its snapshot once process_images_inner has taken it, else (no p, a p
    that was never generated, or before the snapshot) shared.opts."""
    return options_or_live(getattr(p, "opts_snapshot", None))
