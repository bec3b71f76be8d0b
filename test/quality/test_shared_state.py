import re
import threading

import pytest
from PIL import Image

from modules import shared
from modules.runtime import job_state
from modules.shared_state import State


@pytest.fixture
def live_previews(monkeypatch):
    """Live previews on, every 2 steps, PNG; returns the opts data to tweak further."""
    for key, value in {"live_previews_enable": True, "show_progress_every_n_steps": 2,
                       "live_previews_image_format": "png"}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    return shared.opts.data


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(job_state.time, "time", lambda: now[0])
    return now


@pytest.mark.parametrize("job_count, job_no, steps, step, expected", [
    (0, 0, 20, 10, 0.0),
    (1, 0, 20, 0, 0.01),
    (2, 1, 10, 5, 0.01 + 0.5 + 0.25),
    (4, 0, 0, 3, 0.01),
    (1, 1, 20, 20, 1.0),
])
def test_progress_formula(job_count, job_no, steps, step, expected):
    state = State(live_options=shared.opts)
    state.job_count, state.job_no, state.sampling_steps, state.sampling_step = job_count, job_no, steps, step
    assert state.progress() == pytest.approx(expected)


def test_progress_without_head_start():
    state = State(live_options=shared.opts)
    state.job_count, state.job_no, state.sampling_steps, state.sampling_step = 2, 1, 10, 5
    assert state.progress(start_offset=0.0) == pytest.approx(0.75)


def test_eta_relative(clock):
    state = State(live_options=shared.opts)
    assert state.eta_relative() is None
    state.begin("txt2img")
    state.job_count, state.sampling_steps, state.sampling_step = 1, 100, 24  # progress 0.25 with the head start
    clock[0] += 10.0
    assert state.eta_relative() == pytest.approx(30.0)


def test_flags_are_set_by_requests_and_reset_by_begin():
    state = State(live_options=shared.opts)
    state.interrupt()
    state.skip()
    state.stop_generating()
    assert (state.interrupted, state.skipped, state.stopping_generation) == (True, True, True)
    state.begin("img2img")
    assert (state.interrupted, state.skipped, state.stopping_generation) == (False, False, False)


def test_begin_nextjob_end(live_previews):
    state = State(live_options=shared.opts)
    state.begin("txt2img")
    assert state.job == "txt2img"
    assert state.job_count == -1
    assert re.fullmatch(r"\d{14}", state.job_timestamp)
    state.job_count = 2
    state.sampling_step = 7
    state.nextjob()
    assert (state.job_no, state.sampling_step) == (1, 0)
    assert state.dict() == {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "txt2img",
                            "job_count": 2, "job_timestamp": state.job_timestamp, "job_no": 1, "sampling_step": 0,
                            "sampling_steps": 0}
    state.end()
    assert (state.job, state.job_count, state.progress()) == ("", 0, 0.0)


def test_live_preview_decoded_every_n_steps(live_previews):
    state = State(live_options=shared.opts)
    decoded = []
    state.preview_decoder = lambda latent, options: decoded.append(latent) or Image.new("RGB", (8, 8))
    state.begin("txt2img")
    state.current_latent = "latent-1"
    state.sampling_step = 1
    state.set_current_image()
    assert decoded == [] and state.current_image is None

    state.sampling_step = 2
    state.set_current_image()
    assert decoded == ["latent-1"]
    assert state.id_live_preview == 1 and state.current_image.size == (8, 8)

    state.sampling_step = 3
    state.set_current_image()
    assert decoded == ["latent-1"]


def test_live_preview_disabled(live_previews):
    live_previews["live_previews_enable"] = False
    state = State(live_options=shared.opts)
    state.preview_decoder = lambda latent, options: pytest.fail("decoder must not run")
    state.current_latent = "latent"
    state.sampling_step = 50
    state.set_current_image()
    assert state.current_image is None


def test_live_preview_only_at_batch_end(live_previews):
    live_previews["show_progress_every_n_steps"] = -1
    state = State(live_options=shared.opts)
    state.preview_decoder = lambda latent, options: Image.new("RGB", (4, 4))
    state.current_latent = "latent"
    state.sampling_step = 50
    state.set_current_image()
    assert state.current_image is None
    state.nextjob()
    assert state.current_image is not None and state.id_live_preview == 1


def test_failing_preview_decoder_is_ignored(live_previews):
    state = State(live_options=shared.opts)

    def broken(latent, options):
        raise RuntimeError("vae on wrong device")

    state.preview_decoder = broken
    state.current_latent = "latent"
    state.sampling_step = 10
    state.set_current_image()
    assert state.current_image is None and state.id_live_preview == 0


def test_assign_current_image_drops_alpha_for_jpeg(live_previews):
    live_previews["live_previews_image_format"] = "jpeg"
    state = State(live_options=shared.opts)
    state.assign_current_image(Image.new("RGBA", (4, 4)))
    assert state.current_image.mode == "RGB"


def test_live_previews_follow_the_generations_options_while_it_runs(live_previews):
    """state.job_options (the generation's snapshot) decides the previews, whatever shared.opts says meanwhile;
    begin and end forget it."""
    from modules.opts_snapshot import create_opts_snapshot

    state = State(live_options=shared.opts)
    seen = []
    state.preview_decoder = lambda latent, options: seen.append(options.show_progress_type) or Image.new("RGBA", (4, 4))
    state.begin("txt2img")
    live_previews["show_progress_type"] = "Full"
    state.job_options = create_opts_snapshot(shared.opts)
    live_previews.update(show_progress_every_n_steps=1, show_progress_type="Approx cheap",
                         live_previews_image_format="jpeg")
    state.current_latent = "latent"
    state.sampling_step = 1
    state.set_current_image()
    assert seen == [], "every 2 steps, as the generation's options say"
    state.sampling_step = 2
    state.set_current_image()
    assert seen == ["Full"] and state.current_image.mode == "RGBA"
    state.end()
    assert state.job_options is None
    state.job_options = "left over"
    state.begin("txt2img")
    assert state.job_options is None


def test_server_command_wakes_waiter():
    state = State(live_options=shared.opts)
    assert state.wait_for_server_command(timeout=0.01) is None
    received = []
    waiter = threading.Thread(target=lambda: received.append(state.wait_for_server_command(timeout=5)))
    waiter.start()
    state.request_restart()
    waiter.join(timeout=5)
    assert received == ["restart"]
    assert state.interrupted
    assert state.server_command is None


def test_requests_reading_the_preview_at_once_decode_it_once(live_previews):
    state = State(live_options=shared.opts)
    decoding, release, decoded = threading.Event(), threading.Event(), []

    def slow_decoder(latent, options):
        decoded.append(latent)
        decoding.set()
        release.wait(timeout=10)
        return Image.new("RGB", (8, 8))

    state.preview_decoder = slow_decoder
    state.begin("txt2img")
    state.current_latent, state.sampling_step = "latent-2", 2
    first = threading.Thread(target=state.set_current_image)
    first.start()
    assert decoding.wait(timeout=10)
    state.set_current_image()  # a second request while the first decodes: answered with the preview there is
    release.set()
    first.join(timeout=10)
    assert decoded == ["latent-2"] and state.id_live_preview == 1


@pytest.mark.parametrize("from_sampler", [False, True])
def test_the_preview_is_decoded_by_requests_or_by_the_sampler_never_both(live_previews, from_sampler):
    state = State(live_options=shared.opts)
    decoded = []
    state.preview_decoder = lambda latent, options: decoded.append(latent) or Image.new("RGB", (8, 8))
    state.begin("txt2img")
    state.previews_from_sampler = from_sampler
    state.current_latent, state.sampling_step = "latent-2", 2
    state.set_current_image()  # a progress request
    assert decoded == ([] if from_sampler else ["latent-2"])
    state.current_latent, state.sampling_step = "latent-4", 4
    state.preview_from_sampler()  # the step callback
    assert decoded == (["latent-4"] if from_sampler else ["latent-2"])
