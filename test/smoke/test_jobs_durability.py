"""M13 durability against the real server (python webui.py, tiny real checkpoint): kill -9 with one job running and
20 queued, start again: all 21 finish exactly once (the interrupted one on its second attempt), none lost, none
duplicated; 200 concurrent submits: none lost, no duplicate, queued by priority then submit time."""

import os
import random
from concurrent.futures import ThreadPoolExecutor

from test.smoke.api_helpers import TINY, ApiClient
from test.smoke.conftest import start_server
from test.waiting import wait_until

WAIT_S = 600
LONG_STEPS = 60
"""the interrupted job's steps: still sampling (~10 steps a second here; at step 4 when listed) through the 20 submits
and the listing after its second step; it runs them all again after the restart, so no more"""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
FINISHED = ("succeeded", "failed", "cancelled")


def all_jobs(api: ApiClient) -> list[dict]:
    return api.get("/sdapi/v2/jobs", params={"limit": 500}).json()["jobs"]


def saved_images(data_dir: str) -> list[str]:
    found = []
    for folder, _, names in os.walk(os.path.join(data_dir, "outputs")):
        found += [os.path.join(folder, name) for name in names if name.endswith(IMAGE_SUFFIXES)]
    return found


def test_kill_9_with_one_running_and_20_queued_then_restart_finishes_each_exactly_once(tiny_checkpoint, tmp_path):
    data_dir = str(tmp_path / "data")
    server = start_server(tiny_checkpoint, data_dir)
    try:
        api = ApiClient(server.url)
        first = api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": {
            **TINY, "steps": LONG_STEPS, "save_images": True, "seed": 1}}).json()["id"]
        wait_until(lambda: (api.get(f"/sdapi/v2/jobs/{first}").json()["progress"] or {}).get("step", 0) >= 2,
                   "running", WAIT_S)
        queued = [api.post("/sdapi/v2/jobs", {"type": "txt2img", "params": {**TINY, "save_images": True,
                                                                            "seed": 100 + i}}).json()["id"]
                  for i in range(20)]
        states = {job["id"]: job["state"] for job in all_jobs(api)}
        assert states[first] == "running" and {states[job_id] for job_id in queued} == {"queued"}
        server.process.kill()
        server.process.wait(timeout=30)
    finally:
        server.stop()
    assert saved_images(data_dir) == [], "killed while sampling: nothing saved yet"

    restarted = start_server(tiny_checkpoint, data_dir)
    try:
        api = ApiClient(restarted.url)
        jobs = wait_until(lambda: (lambda listed: listed if all(j["state"] in FINISHED for j in listed) else None)(
            all_jobs(api)), "all finished", WAIT_S)
    finally:
        restarted.stop()
    by_id = {job["id"]: job for job in jobs}
    assert {job["state"] for job in jobs} == {"succeeded"}
    assert len(jobs) == len(by_id) == 21 and set(by_id) == {first, *queued}
    assert by_id[first]["attempts"] == 2
    assert {by_id[job_id]["attempts"] for job_id in queued} == {1}
    files = [path for job in jobs for path in job["saved_files"] if path.endswith(IMAGE_SUFFIXES)]
    assert len(files) == len(set(files)) == 21
    assert sorted(files) == sorted(saved_images(data_dir))


def test_200_concurrent_submits_are_all_queued_once_by_priority_then_submit_time(tiny_checkpoint, tmp_path):
    server = start_server(tiny_checkpoint, str(tmp_path / "data"))
    try:
        api = ApiClient(server.url)
        api.post("/sdapi/v2/queue/pause")
        priorities = random.Random(13).choices([-1, 0, 1, 2], k=200)

        def submit(i: int) -> str:
            response = ApiClient(server.url).post("/sdapi/v2/jobs", {
                "type": "txt2img", "params": {**TINY, "seed": i}, "priority": priorities[i]})
            assert response.status_code == 202, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(submit, range(200)))
        listed = [job for job in all_jobs(api) if job["state"] == "queued"]
    finally:
        server.stop()
    assert len(set(ids)) == 200
    assert {job["id"] for job in listed} == set(ids)
    in_line = sorted(listed, key=lambda job: job["position"])
    assert [job["position"] for job in in_line] == list(range(1, 201))
    order = [(-job["priority"], job["submitted_at"]) for job in in_line]
    assert order == sorted(order)
    priority_of = dict(zip(ids, priorities))
    assert [job["priority"] for job in in_line] == sorted((priority_of[job["id"]] for job in in_line), reverse=True)
