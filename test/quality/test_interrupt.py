"""Interrupting from the step callback: sampling stops at once, the image comes back, shared.state stays sane."""

import numpy as np
import pytest

from modules import processing, sd_models, shared
from test.generation_job import process_as_a_job

STEPS = 6
INTERRUPT_AFTER = 2  # steps completed when the interrupt arrives


@pytest.fixture
def unet_calls(sd_model, tiny_checkpoint):
    """Counts forward passes of the loaded model's real UNet (a hook that only counts)."""
    model = sd_models.reload_model_weights(info=sd_models.CheckpointInfo(tiny_checkpoint))
    calls = []
    handle = model.unet.register_forward_hook(lambda module, args, output: calls.append(1))
    yield calls
    handle.remove()


class Interrupter:
    """Calls state.interrupt(), as the UI's button would, from inside the step callback once a step has finished."""

    def __init__(self):
        self.armed = True
        self.steps_seen: list[int] = []

    def wrap(self, real_callback):
        def callback(step, total, latent):
            self.steps_seen.append(step)
            if self.armed and step + 1 == INTERRUPT_AFTER:
                shared.state.interrupt()
            real_callback(step, total, latent)

        return callback


@pytest.fixture
def interrupter(monkeypatch):
    interrupter = Interrupter()
    monkeypatch.setattr(processing, "sampling_progress_callback", interrupter.wrap(processing.sampling_progress_callback))
    return interrupter


def generate(**kwargs) -> processing.Processed:
    return process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", seed=1234, steps=STEPS, width=64, height=64, sampler_name="Euler",
        do_not_save_samples=True, do_not_save_grid=True, **kwargs))


def test_uninterrupted_run_calls_the_unet_once_per_step(unet_calls):
    result = generate()
    assert len(unet_calls) == STEPS
    assert len(result.images) == 1


def test_interrupt_stops_sampling_within_one_step(unet_calls, interrupter):
    assert processing.state is shared.state, "processing reports to the same state the UI interrupts"
    result = generate(n_iter=2)
    assert interrupter.steps_seen == list(range(INTERRUPT_AFTER))
    assert len(unet_calls) == INTERRUPT_AFTER, "no UNet call after the interrupting step"
    assert len(result.images) == 1, "the interrupted batch is returned and the next one never starts"
    assert result.images[0].size == (64, 64)
    assert shared.state.interrupted
    assert shared.state.job_no == 1 and shared.state.sampling_step == 0, "the batch was closed with nextjob()"
    assert shared.state.job == "" and shared.state.job_count == 0, "the job ended"


def test_interrupted_image_differs_from_the_full_run(interrupter):
    interrupted = generate()
    interrupter.armed = False
    full = generate()
    assert not np.array_equal(np.asarray(interrupted.images[0]), np.asarray(full.images[0]))


def test_next_job_after_an_interrupt_runs_in_full(unet_calls, interrupter):
    generate()
    assert len(unet_calls) == INTERRUPT_AFTER
    interrupter.armed = False
    unet_calls.clear()
    result = generate()
    assert not shared.state.interrupted, "begin() cleared the previous job's interrupt"
    assert len(unet_calls) == STEPS and len(result.images) == 1
