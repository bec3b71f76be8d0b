"""M13 /sdapi/v2 against the real server (python webui.py, tiny real checkpoint): submit -> result under one id,
validation before anything is queued, cancel of a queued job while another runs, priority, retry, idempotency,
pause/resume, history pages, preview, the events of one job in order, and /sdapi/v1 on top of the queue."""

import json
import time

import pytest
import requests

from test.smoke.api_helpers import TINY, ApiClient, from_base64

LONG = {**TINY, "steps": 150}
"""a job that runs long enough to act on it while it runs (seconds on the tiny model)"""
WAIT_S = 300
STREAM_S = 60


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory()
    yield server
    server.stop()


@pytest.fixture
def api(server):
    client = ApiClient(server.url)
    yield client
    client.post("/sdapi/v2/queue/resume")


def submit(api: ApiClient, params: dict, expected: int = 202, **fields) -> dict:
    response = api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": params, **fields})
    assert response.status_code == expected, response.text
    return response.json()


def job(api: ApiClient, job_id: str) -> dict:
    response = api.get(f"/sdapi/v2/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(api: ApiClient, job_id: str, states=("succeeded", "failed", "cancelled"), running_step: int = 0) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        info = job(api, job_id)
        if info["state"] in states and (info["state"] != "running" or (info["progress"] or {}).get("step", 0)
                                        >= running_step):
            return info
        time.sleep(0.05)
    pytest.fail(f"{job_id} not {states} after {WAIT_S} s: {info}")


def test_a_job_goes_from_submit_to_its_result_under_one_id(api):
    submitted = submit(api, {**TINY, "prompt": "a red circle", "seed": 77})
    assert submitted["state"] == "queued" and submitted["id"].startswith("task(txt2img-")
    done = wait_for(api, submitted["id"])
    assert (done["state"], done["attempts"], done["error"]) == ("succeeded", 1, None)
    assert done["finished_at"] >= done["started_at"] >= done["submitted_at"]
    result = api.get(f"/sdapi/v2/jobs/{submitted['id']}/result").json()
    assert set(result) == {"images", "parameters", "info"}
    assert from_base64(result["images"][0]).size == (64, 64)
    assert json.loads(result["info"])["seed"] == 77
    assert result["parameters"]["prompt"] == "a red circle"
    listed = api.get("/sdapi/v2/jobs", params={"state": "succeeded"}).json()["jobs"]
    assert submitted["id"] in [entry["id"] for entry in listed]


def test_a_bad_request_is_refused_before_anything_is_queued(api):
    before = api.get("/sdapi/v2/queue").json()["queued"]
    api.post("/sdapi/v2/queue/pause")
    unknown = api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": {**TINY, "sampler_name": "Nope"}})
    assert unknown.status_code == 404 and "sampler_name" in unknown.json()["detail"]
    bad_type = api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": {"steps": "many"}})
    assert bad_type.status_code == 422
    assert ["body", "params", "steps"] in [error["loc"] for error in bad_type.json()["errors"]]
    no_image = api.post("/sdapi/v2/jobs", {"type": "img2img", "params": TINY})
    assert no_image.status_code == 422 and "init_images" in no_image.json()["detail"]
    assert api.post("/sdapi/v2/jobs", {"type": "video", "params": {}}).status_code == 422
    assert api.get("/sdapi/v2/queue").json()["queued"] == before


def test_cancelling_a_queued_job_while_another_runs_leaves_the_running_one(api):
    running = submit(api, {**LONG, "seed": 1})
    waiting = submit(api, {**TINY, "seed": 2})
    wait_for(api, running["id"], states=("running",), running_step=1)
    assert job(api, waiting["id"])["position"] == 1
    cancelled = api.post(f"/sdapi/v2/jobs/{waiting['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert job(api, running["id"])["state"] == "running"
    assert api.post(f"/sdapi/v2/jobs/{waiting['id']}/cancel").status_code == 409
    done = wait_for(api, running["id"])
    assert done["state"] == "succeeded"
    result = api.get(f"/sdapi/v2/jobs/{running['id']}/result").json()
    assert json.loads(result["info"])["steps"] == 150, "the running job was not interrupted"
    refused = api.get(f"/sdapi/v2/jobs/{waiting['id']}/result")
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
    retried = api.post(f"/sdapi/v2/jobs/{waiting['id']}/retry").json()
    assert retried["state"] == "queued" and retried["id"] == waiting["id"]
    assert wait_for(api, waiting["id"])["state"] == "succeeded"


def test_cancelling_the_running_job_interrupts_it(api):
    running = submit(api, {**LONG, "seed": 3})
    wait_for(api, running["id"], states=("running",), running_step=1)
    assert api.post(f"/sdapi/v2/jobs/{running['id']}/cancel").status_code == 200
    assert wait_for(api, running["id"])["state"] == "cancelled"


def test_priority_order_and_a_patch_while_queued(api):
    api.post("/sdapi/v2/queue/pause")
    low = submit(api, {**TINY, "seed": 4}, priority=-1)
    normal = submit(api, {**TINY, "seed": 5})
    assert (job(api, normal["id"])["position"], job(api, low["id"])["position"]) == (1, 2)
    patched = api.session.patch(f"{api.base_url}/sdapi/v2/jobs/{low['id']}", json={"priority": 5})
    assert patched.status_code == 200 and patched.json()["position"] == 1
    assert api.session.patch(f"{api.base_url}/sdapi/v2/jobs/{low['id']}", json={"priority": 10**6}).status_code == 422
    queue = api.get("/sdapi/v2/queue").json()
    assert queue["paused"] is True and queue["queued"] >= 2 and queue["workers"][0]["alive"] is True
    assert api.get(f"/sdapi/v2/jobs/{low['id']}/result").status_code == 409
    assert api.get(f"/sdapi/v2/jobs/{low['id']}/preview").status_code == 204
    api.post("/sdapi/v2/queue/resume")
    first, second = wait_for(api, low["id"]), wait_for(api, normal["id"])
    assert first["started_at"] <= second["started_at"]
    moved = api.session.patch(f"{api.base_url}/sdapi/v2/jobs/{low['id']}", json={"priority": 1})
    assert moved.status_code == 409 and "state" in moved.json()["detail"]


def test_the_same_idempotency_key_twice_makes_one_job(api):
    api.post("/sdapi/v2/queue/pause")
    first = submit(api, {**TINY, "seed": 6}, idempotency_key="order-17", batch_id="b-1")
    again = submit(api, {**TINY, "seed": 6}, expected=200, idempotency_key="order-17", batch_id="b-1")
    assert again["id"] == first["id"]
    other = api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": {**TINY, "seed": 7},
                                        "idempotency_key": "order-17"})
    assert other.status_code == 409 and "idempotency_key" in other.json()["detail"]
    in_batch = api.get("/sdapi/v2/jobs", params={"batch_id": "b-1"}).json()["jobs"]
    assert [entry["id"] for entry in in_batch] == [first["id"]]


def test_history_pages_and_bad_listing_arguments(api):
    ids = [submit(api, {**TINY, "seed": 100 + i})["id"] for i in range(3)]
    for job_id in ids:
        wait_for(api, job_id)
    page = api.get("/sdapi/v2/jobs", params={"limit": 2}).json()
    rest = api.get("/sdapi/v2/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [entry["id"] for entry in page["jobs"]] == ids[:0:-1]
    assert rest["jobs"][0]["id"] == ids[0]
    assert api.get("/sdapi/v2/jobs", params={"state": "sleeping"}).status_code == 422
    for cursor in ("abc", "²", "9" * 20, "-1"):
        assert api.get("/sdapi/v2/jobs", params={"cursor": cursor}).status_code == 422, cursor
    assert api.get("/sdapi/v2/jobs/task(nope)").status_code == 404


def test_the_events_of_one_job_come_in_order_and_end_with_it(api, server):
    api.post("/sdapi/v2/queue/pause")
    submitted = submit(api, {**TINY, "steps": 20, "seed": 8})
    seen = []
    with requests.get(f"{server.url}/sdapi/v2/events", params={"job": submitted["id"]}, stream=True,
                      timeout=WAIT_S) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        api.post("/sdapi/v2/queue/resume")
        deadline = time.monotonic() + STREAM_S
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                seen.append(json.loads(line[len("data: "):]))
            assert time.monotonic() < deadline, f"the job's stream did not end after its last event: {seen}"
    types = [event["type"] for event in seen]
    assert types[0] == "job.queued" and types[1] == "job.started" and types[-1] == "job.succeeded"
    assert set(types[2:-1]) <= {"job.progress", "job.preview"}
    assert [event["seq"] for event in seen] == sorted(event["seq"] for event in seen)
    assert {event["job"] for event in seen} == {submitted["id"]}
    after = requests.get(f"{server.url}/sdapi/v2/events", params={"job": submitted["id"]}, timeout=WAIT_S)
    assert after.status_code == 200 and "job.succeeded" in after.text


def test_v1_runs_as_a_job_under_its_force_task_id_and_stays_retrievable(api):
    response = api.post("txt2img", {**TINY, "prompt": "a blue square", "force_task_id": "task(mine-1)"})
    assert response.status_code == 200, response.text
    info = job(api, "task(mine-1)")
    assert (info["state"], info["priority"]) == ("succeeded", 100)
    again = api.get("/sdapi/v2/jobs/task(mine-1)/result").json()
    assert again["images"] == response.json()["images"] and again["info"] == response.json()["info"]
    running = submit(api, LONG)
    taken = api.post("txt2img", {**TINY, "force_task_id": running["id"]})
    assert taken.status_code == 409 and "force_task_id" in taken.json()["detail"]
    api.post(f"/sdapi/v2/jobs/{running['id']}/cancel")
    reused = api.post("txt2img", {**TINY, "seed": 4321, "force_task_id": "task(mine-1)"})
    assert reused.status_code == 200, "as in A1111, a finished task's id may be given again"
    assert json.loads(api.get("/sdapi/v2/jobs/task(mine-1)/result").json()["info"])["seed"] == 4321
    progress = api.get("progress", params={"id_task": "task(mine-1)"}).json()
    assert set(progress) == {"progress", "eta_relative", "state", "current_image", "textinfo"}


def test_v1_while_the_queue_is_paused_is_refused_not_left_waiting(api):
    api.post("/sdapi/v2/queue/pause")
    response = api.post("txt2img", TINY)
    assert response.status_code == 503 and "paused" in response.json()["detail"]


def test_a_running_job_has_progress_and_a_preview(api):
    running = submit(api, {**LONG, "seed": 9})
    # a preview comes every show_progress_every_n_steps (10) steps
    info = wait_for(api, running["id"], states=("running",), running_step=12)
    assert info["progress"]["steps"] == 150 and 0 < info["progress"]["fraction"] < 1
    preview = api.get(f"/sdapi/v2/jobs/{running['id']}/preview")
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
    api.post(f"/sdapi/v2/jobs/{running['id']}/cancel")
    wait_for(api, running["id"])
