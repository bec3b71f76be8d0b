"""process_images as the UI and API start it: inside shared.state.begin/end, so interrupts and job state behave."""

from modules import processing, shared


def process_as_a_job(p, job: str = "txt2img") -> processing.Processed:
    shared.state.begin(job=job)
    try:
        return processing.process_images(p)
    finally:
        shared.state.end()
