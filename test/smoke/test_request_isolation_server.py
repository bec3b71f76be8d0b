"""M11 against the real server (python webui.py, tiny real checkpoint): 200 concurrent mixed requests (txt2img with
their own overrides, GET and POST /options) each get exactly their own images, formats, infotexts and saved files;
/options never shows an override; config.json afterwards is the base plus exactly what was posted; a restart keeps
no override."""

import json
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from test.smoke.api_helpers import ApiClient, from_base64
from test.smoke.conftest import start_server

GENERATIONS = 150
READS = 25
POSTS = 25
WORKERS = 8
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
UNIQUE_OVERRIDES = ("eta_noise_seed_delta", "samples_filename_pattern", "directories_filename_pattern")
"""options every request overrides with a value of its own: seeing one in /options is seeing a request's override"""


def generation(i: int) -> dict:
    """Request i: its own seed, ENSD, clip skip, file format, file name and folder; every third saves nothing. 48x48:
    the size decides nothing here, and each of the 150 generations costs half what it does at 64x64."""
    return {"prompt": f"a red circle {i}", "seed": i, "steps": 2, "width": 48, "height": 48, "sampler_name": "Euler a",
            "save_images": i % 3 != 0, "override_settings": {
                "samples_format": list(FORMATS)[i % 3], "CLIP_stop_at_last_layers": 1 + i % 2,
                "eta_noise_seed_delta": 1000 + i, "samples_filename_pattern": f"r{i}-[seed]",
                "directories_filename_pattern": f"d{i}", "save_to_dirs": True, "save_images_add_number": False}}


def posted(j: int) -> dict:
    return {"jpeg_quality": 60 + j, "eta_noise_seed_delta": j, "samples_filename_pattern": f"posted{j}-[seed]"}


def check_generation(i: int, body: dict, outputs: str) -> None:
    """The answer and the files of request i are its own."""
    overrides = generation(i)["override_settings"]
    infotext = json.loads(body["info"])["infotexts"][0]
    assert f"Seed: {i}," in infotext and f"ENSD: {1000 + i}" in infotext, infotext
    assert ("Clip skip: 2" in infotext) == (overrides["CLIP_stop_at_last_layers"] == 2), infotext
    images = [from_base64(text) for text in body["images"]]
    assert [image.format for image in images] == ["PNG"], "encoded with the job's base options, as A1111 does"
    folder = os.path.join(outputs, f"d{i}")
    if not generation(i)["save_images"]:
        assert not os.path.exists(folder), f"request {i} saves nothing"
        return
    extension = overrides["samples_format"]
    assert sorted(os.listdir(folder)) == [f"r{i}-{i}.{extension}"], f"request {i}'s own file, in its own folder"
    with Image.open(os.path.join(folder, f"r{i}-{i}.{extension}")) as saved:
        assert saved.format == FORMATS[extension]
        if extension == "png":
            assert saved.info["parameters"] == infotext
            assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(images[0].convert("RGB")))


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("isolation-server"))
    started = start_server(tiny_checkpoint, data_dir, ["--api"])
    yield started
    started.stop()


def test_a_response_never_takes_the_format_another_request_overrides(server, server_factory):
    """The repro: B (a batch of 8, no override) and right behind it A (samples_format jpg). B's images are
    encoded inside B's job, so none comes back as JPEG. It runs on this module's fresh --api server before the test
    below stops that one (saving a server start); run after it, it gets a fresh --api server of its own."""
    api = ApiClient((server if server.is_running() else server_factory(["--api"])).url)
    request_b = {"prompt": "a blue square", "seed": 3, "steps": 2, "width": 64, "height": 64, "batch_size": 8,
                 "save_images": False}
    request_a = {**request_b, "batch_size": 1, "save_images": True,
                 "override_settings": {"samples_format": "jpg"}}
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            b = pool.submit(api.post, "txt2img", request_b)
            a = pool.submit(api.post, "txt2img", request_a)
            answers = {"b": b.result(), "a": a.result()}
        assert answers["a"].status_code == answers["b"].status_code == 200
        assert [from_base64(text).format for text in answers["b"].json()["images"]] == ["PNG"] * 8


def test_concurrent_mixed_requests_each_get_their_own_and_the_base_holds_only_what_was_posted(server,
                                                                                             tiny_checkpoint):
    api = ApiClient(server.url)
    outputs = os.path.join(server.data_dir, "outputs", "isolation")
    api.ok("POST", "options", {"outdir_samples": outputs, "samples_format": "png"})
    base_before = api.ok("GET", "options")
    overridden = {(key, generation(i)["override_settings"][key]) for i in range(GENERATIONS) for key in UNIQUE_OVERRIDES}
    assert not {(key, base_before[key]) for key in UNIQUE_OVERRIDES} & overridden

    tasks = [("txt2img", i) for i in range(GENERATIONS)] + [("read", j) for j in range(READS)]
    random.Random(11).shuffle(tasks)
    posts_done, errors, reads = [], [], []

    def post_all():
        for j in range(POSTS):
            response = api.post("options", posted(j))
            (posts_done if response.status_code == 200 else errors).append((j, response.status_code))

    def run(task):
        kind, index = task
        try:
            if kind == "txt2img":
                response = api.post("txt2img", generation(index))
                assert response.status_code == 200, response.text[:2000]
                check_generation(index, response.json(), outputs)
            else:
                reads.append(api.ok("GET", "options"))
        except Exception as error:  # every failure is reported below, with the request it belongs to
            errors.append((task, repr(error)))

    poster = threading.Thread(target=post_all)
    poster.start()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(run, tasks))
    poster.join(600)

    assert errors == []
    assert len(reads) == READS and len(posts_done) == POSTS
    for read in reads:
        shown = {(key, read[key]) for key in UNIQUE_OVERRIDES}
        assert not shown & overridden, f"/options showed a request's override: {shown & overridden}"
        assert (read["samples_format"], read["CLIP_stop_at_last_layers"]) == \
            (base_before["samples_format"], base_before["CLIP_stop_at_last_layers"])

    expected_base = {**base_before, **posted(POSTS - 1)}
    assert api.ok("GET", "options") == expected_base
    with open(os.path.join(server.data_dir, "config.json"), encoding="utf8") as file:
        assert json.load(file) == expected_base

    server.stop()
    restarted = start_server(tiny_checkpoint, server.data_dir, ["--api"])
    try:
        assert ApiClient(restarted.url).ok("GET", "options") == expected_base, "a restart keeps no override"
    finally:
        restarted.stop()
