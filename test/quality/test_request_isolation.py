"""M11 through the real API routes in this process, on the tiny real model: each request's options and job state
are its own while other requests run beside it (the generation lock bypassed), /options and config.json only ever
hold the base, and a request's response is built from its own job."""

import base64
import contextlib
import functools
import io
import json
import os
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from modules import processing, shared
from test.api_client import api_app, service_with_workers

TIMEOUT_S = 60
REQUEST = {"prompt": "a red circle", "negative_prompt": "blue", "seed": 5, "steps": 3, "width": 64, "height": 64,
           "sampler_name": "Euler a", "save_images": True}
# what each of the two requests overrides: noise, conditioning, file format, file names and folders
OVERRIDES = {
    "a": {"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337, "samples_format": "jpg",
          "samples_filename_pattern": "a-[seed]-[clip_skip]"},
    "b": {"eta_noise_seed_delta": 7, "samples_format": "webp", "samples_filename_pattern": "b-[seed]-[clip_skip]"},
}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Every image saved below tmp_path/outputs, under no number and no date folder: a file name says who made it."""
    folder = tmp_path / "outputs"
    for key, value in {"outdir_samples": str(folder), "save_images_add_number": False, "save_to_dirs": True,
                       "samples_format": "png", "eta_noise_seed_delta": 0, "CLIP_stop_at_last_layers": 1,
                       "samples_filename_pattern": "", "jpeg_quality": 80}.items():
        monkeypatch.setitem(shared.opts.data, key, value)
    return folder


@functools.cache
def service_without_the_lock():
    """Two local job workers with the generation lock replaced by nothing: isolation must not depend on it."""
    return service_with_workers(2, contextlib.nullcontext())


def client_without_the_lock() -> TestClient:
    return TestClient(api_app(service_without_the_lock()))


def request_for(name: str, folder_name: str, **fields) -> dict:
    overrides = {**OVERRIDES[name], "directories_filename_pattern": folder_name}
    return {**REQUEST, "override_settings": overrides, "force_task_id": f"task({folder_name})", **fields}


def decode(image_text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(image_text)))


def saved(folder) -> dict[str, bytes]:
    if not os.path.isdir(folder):
        return {}
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def outcome(response, outputs, folder_name) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    images = [decode(text) for text in body["images"]]
    return {"formats": [image.format for image in images], "pixels": [np.asarray(image).tolist() for image in images],
            "infotexts": json.loads(body["info"])["infotexts"], "files": saved(outputs / folder_name)}


@contextlib.contextmanager
def at_first_step(monkeypatch, action, once_counted: bool = False):
    """Runs action() once per job at its first sampling step (once_counted: after the step is counted in the job's
    progress), inside the job (the sampler's thread)."""
    real = processing.sampling_progress_callback
    started = set()

    def callback(step, total, latent):
        state = shared.state.current()
        first = id(state) not in started
        started.add(id(state))
        if first and not once_counted:
            action()
        real(step, total, latent)
        if first and once_counted:
            action()

    monkeypatch.setattr(processing, "sampling_progress_callback", callback)
    yield
    monkeypatch.setattr(processing, "sampling_progress_callback", real)


def in_parallel(*calls):
    results = [None] * len(calls)

    def run(index, call):
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


def test_two_requests_at_once_without_the_lock_each_get_exactly_what_each_gets_alone(sd_model, outputs,
                                                                                   monkeypatch):
    client = client_without_the_lock()
    alone = {name: outcome(client.post("/sdapi/v1/txt2img", json=request_for(name, f"alone-{name}")), outputs,
                           f"alone-{name}") for name in ("a", "b")}
    both_sampling = threading.Barrier(2, timeout=TIMEOUT_S)
    with at_first_step(monkeypatch, both_sampling.wait):
        responses = in_parallel(*(lambda n=name: client.post("/sdapi/v1/txt2img", json=request_for(n, f"both-{n}"))
                                  for name in ("a", "b")))
    together = {name: outcome(response, outputs, f"both-{name}") for name, response in zip(("a", "b"), responses)}
    assert together == alone
    assert list(alone["a"]["files"]) == ["a-5-2.jpg"] and list(alone["b"]["files"]) == ["b-5-1.webp"]
    assert "ENSD: 31337" in alone["a"]["infotexts"][0] and "Clip skip: 2" in alone["a"]["infotexts"][0]
    assert "ENSD: 7" in alone["b"]["infotexts"][0] and "Clip skip" not in alone["b"]["infotexts"][0]
    assert alone["a"]["pixels"] != alone["b"]["pixels"]


def test_a_response_is_encoded_with_its_own_jobs_options_not_those_of_a_request_running_next(sd_model, outputs,
                                                                                           monkeypatch):
    """Before M11, B's images were encoded after the lock was released, with whatever samples_format was live: A's
    override. B's response is now built inside B's job; A's override never reaches it (and, as in A1111, a
    request's own samples_format override decides its saved files, not its response)."""
    client = client_without_the_lock()
    b_answered = threading.Event()
    with at_first_step(monkeypatch, lambda: shared.opts.samples_format == "jpg" and b_answered.wait(TIMEOUT_S)):
        def request_b():
            response = client.post("/sdapi/v1/txt2img", json={**REQUEST, "batch_size": 4, "save_images": False})
            b_answered.set()
            return response

        a, b = in_parallel(lambda: client.post("/sdapi/v1/txt2img", json=request_for("a", "a")), request_b)
    assert b_answered.is_set()
    assert [decode(text).format for text in b.json()["images"]] == ["PNG"] * 4
    assert [decode(text).format for text in a.json()["images"]] == ["PNG"]
    assert list(saved(outputs / "a")) == ["a-5-2.jpg"]


def test_options_read_and_posted_during_a_generation_see_and_change_the_base_only(sd_model, outputs, config_on_disk,
                                                                                  monkeypatch):
    """GET /options during a job with overrides shows the base; a POST then (a key the job overrides, and another)
    writes exactly what was posted into config.json and memory, for later jobs, and the job keeps its values."""
    client = client_without_the_lock()
    before_on_disk = json.loads(config_on_disk.read_text())
    seen = {}

    def from_another_request():
        seen["get"] = client.get("/sdapi/v1/options").json()
        seen["post"] = client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 5, "jpeg_quality": 55})

    def during_the_job():
        thread = threading.Thread(target=from_another_request)  # a plain thread: outside the job
        thread.start()
        thread.join(TIMEOUT_S)
        seen["job_after_post"] = (shared.opts.eta_noise_seed_delta, shared.opts.jpeg_quality)

    with at_first_step(monkeypatch, during_the_job):
        result = outcome(client.post("/sdapi/v1/txt2img", json=request_for("a", "a")), outputs, "a")
    assert {key: seen["get"][key] for key in OVERRIDES["a"]} == \
        {"CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0, "samples_format": "png",
         "samples_filename_pattern": ""}
    assert seen["post"].status_code == 200
    assert seen["job_after_post"] == (31337, 80), "the running job keeps its own options"
    assert "ENSD: 31337" in result["infotexts"][0]
    assert json.loads(config_on_disk.read_text()) == {**before_on_disk, "eta_noise_seed_delta": 5, "jpeg_quality": 55}
    after = client.get("/sdapi/v1/options").json()
    assert (after["eta_noise_seed_delta"], after["jpeg_quality"], after["samples_format"]) == (5, 55, "png")


def test_a_response_is_built_from_its_jobs_options_even_when_the_base_changes_meanwhile(sd_model, outputs,
                                                                                       config_on_disk, monkeypatch):
    """The job's options are the base as it was when the job started: a POST /options samples_format=jpg during the
    generation reaches the next request's response, not this one's."""
    client = client_without_the_lock()

    def post_jpg_from_another_request():
        thread = threading.Thread(target=lambda: client.post("/sdapi/v1/options", json={"samples_format": "jpg"}))
        thread.start()
        thread.join(TIMEOUT_S)

    with at_first_step(monkeypatch, post_jpg_from_another_request):
        during = client.post("/sdapi/v1/txt2img", json={**REQUEST, "save_images": False})
    after = client.post("/sdapi/v1/txt2img", json={**REQUEST, "save_images": False})
    assert [decode(text).format for text in during.json()["images"]] == ["PNG"]
    assert [decode(text).format for text in after.json()["images"]] == ["JPEG"]


def test_a_restart_reads_back_no_override(sd_model, outputs, config_on_disk):
    client = client_without_the_lock()
    before = dict(shared.opts.data)
    assert client.post("/sdapi/v1/txt2img", json=request_for("a", "a")).status_code == 200
    client.post("/sdapi/v1/options", json={"jpeg_quality": 60})
    restarted = shared.opts.__class__(shared.opts.data_labels, shared.opts.restricted_opts)
    restarted.load(str(config_on_disk))
    assert {key: restarted.data[key] for key in OVERRIDES["a"]} == {key: before[key] for key in OVERRIDES["a"]}
    assert restarted.jpeg_quality == 60


def test_restore_afterwards_false_makes_the_overrides_the_base_in_memory(sd_model, outputs, config_on_disk,
                                                                         monkeypatch):
    client = client_without_the_lock()
    on_disk = config_on_disk.read_text()
    monkeypatch.setitem(shared.opts.data, "eta_noise_seed_delta", 0)
    response = client.post("/sdapi/v1/txt2img", json={**REQUEST, "save_images": False,
                                                      "override_settings": {"eta_noise_seed_delta": 4242},
                                                      "override_settings_restore_afterwards": False})
    assert response.status_code == 200
    assert client.get("/sdapi/v1/options").json()["eta_noise_seed_delta"] == 4242
    assert config_on_disk.read_text() == on_disk, "kept in memory only, as in A1111"


@pytest.mark.parametrize(("key", "value"), [("sd_model_checkpoint", "no-such-model"),
                                            ("sd_vae", "no-such.vae.safetensors")])
def test_an_unknown_checkpoint_or_vae_override_is_a_404_naming_it_and_nothing_runs(sd_model, monkeypatch, key,
                                                                                   value):
    ran = []
    monkeypatch.setattr(processing, "process_images_inner", lambda p: ran.append(p))
    response = client_without_the_lock().post("/sdapi/v1/txt2img",
                                              json={**REQUEST, "override_settings": {key: value}})
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"override_settings.{key}:")
    assert ran == []


def test_progress_answers_each_running_request_from_its_own_job(sd_model, outputs, monkeypatch):
    client = client_without_the_lock()
    both_sampling = threading.Barrier(3, timeout=TIMEOUT_S)
    answers_read = threading.Event()

    def park():
        both_sampling.wait()
        answers_read.wait(TIMEOUT_S)

    def read_progress():
        both_sampling.wait()
        try:
            return {id_task: client.post("/internal/progress", json={"id_task": id_task, "live_preview": False}).json()
                    for id_task in ("task(four)", "task(eight)")}
        finally:
            answers_read.set()

    with at_first_step(monkeypatch, park, once_counted=True):
        *_, answers = in_parallel(
            lambda: client.post("/sdapi/v1/txt2img", json={**REQUEST, "steps": 4, "force_task_id": "task(four)"}),
            lambda: client.post("/sdapi/v1/txt2img", json={**REQUEST, "steps": 8, "force_task_id": "task(eight)"}),
            read_progress)
    assert answers["task(four)"]["active"] and answers["task(eight)"]["active"]
    assert (answers["task(four)"]["progress"], answers["task(eight)"]["progress"]) == (0.25, 0.125), \
        "one step of each done"
    assert client.post("/internal/progress", json={"id_task": "task(four)"}).json()["completed"]
