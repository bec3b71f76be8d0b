"""process_images as the UI and API start it: inside shared.state.begin/end, so interrupts and job state behave."""

from modules import processing, shared


def process_as_a_job(p, job: str = "txt2img") -> processing.Processed:
    shared.state.begin(job=job)
    try:
        return processing.process_images(p)
    finally:
        shared.state.end()


class Hooks:
    """A script runner stand-in: each hook named in `actions` is called with p; every other hook does nothing."""

    def __init__(self, **actions):
        self.actions = actions

    def __getattr__(self, name):
        action = self.__dict__["actions"].get(name)
        return (lambda p, *args, **kwargs: action(p)) if action else (lambda *args, **kwargs: None)
