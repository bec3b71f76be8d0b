"""The job queue's costs, each against its target, measured in this run on real servers (launch.py --nowebui):

    python -m benchmarks.job_queue [--baseline REV] [--runs 20] [--submits 1000] [--history 10000]

- submit -> start on an idle server: the job's started_at - submitted_at (the server's clock), median (<= 5 ms)
- /sdapi/v1/txt2img round trip through the queue / the same on REV (before the queue; a git worktree), requests
  alternating between the two servers, ratio of medians (<= 1.05)
- submit throughput, queue paused (no generation): POST /sdapi/v2/jobs from 8 client threads (>= 500 jobs/s)
- one page (50) of a history of 10,000 finished jobs: GET /sdapi/v2/jobs, median (<= 20 ms)"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from benchmarks import common

BASELINE = "2227633"
LATENCY_TARGET_MS = 5.0
ROUNDTRIP_TARGET = 1.05
THROUGHPUT_TARGET = 500.0
LISTING_TARGET_MS = 20.0
CLIENT_THREADS = 8


def submit(session: requests.Session, url: str, payload: dict, **fields) -> str:
    response = session.post(f"{url}/sdapi/v2/jobs", json={"type": "txt2img", "params": payload, **fields}, timeout=60)
    if response.status_code != 202:
        raise RuntimeError(f"submit: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def wait_finished(session: requests.Session, url: str, job_id: str) -> dict:
    while True:
        job = session.get(f"{url}/sdapi/v2/jobs/{job_id}", timeout=60).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.01)


def submit_to_start(server: common.Server, runs: int) -> float:
    session = requests.Session()
    latencies = []
    for run in range(runs):
        job = wait_finished(session, server.url, submit(session, server.url, {**common.SMALL_TXT2IMG, "seed": run}))
        latencies.append(job["started_at"] - job["submitted_at"])
    return statistics.median(latencies) * 1000


def roundtrips(now: common.Server, before: common.Server, runs: int, warmup: int) -> dict[str, float]:
    times = {"now": [], "before": []}
    servers = {"now": now, "before": before}
    for _ in range(warmup):
        for server in servers.values():
            server.post("txt2img", common.SMALL_TXT2IMG)
    for run in range(runs):
        order = ["now", "before"] if run % 2 == 0 else ["before", "now"]
        for name in order:
            started = time.perf_counter()
            servers[name].post("txt2img", common.SMALL_TXT2IMG)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def submit_throughput(server: common.Server, count: int) -> float:
    requests.post(f"{server.url}/sdapi/v2/queue/pause", timeout=60).raise_for_status()
    local = threading.local()

    def one(i: int) -> str:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return submit(local.session, server.url, {**common.SMALL_TXT2IMG, "seed": i})

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(one, range(CLIENT_THREADS * 4)))  # connections open, code warm
        started = time.perf_counter()
        ids = list(pool.map(one, range(count)))
        elapsed = time.perf_counter() - started
    if len(set(ids)) != count:
        raise RuntimeError("duplicate job ids")
    return count / elapsed


def fill_history(data_dir: str, count: int) -> None:
    """count finished jobs written straight into the server's job store before it starts (its own schema)."""
    from modules.jobs.spec import GenerationSpec
    from modules.jobs.store import JobStore

    store = JobStore(os.path.join(data_dir, "jobs.sqlite3"))
    store.close()
    spec = GenerationSpec(mode="txt2img", params=common.SMALL_TXT2IMG)
    now = time.time()
    rows = [(f"task(txt2img-history{i:06d})", "txt2img", "succeeded", 0, spec.fingerprint(), spec.to_json(), 1, 2,
             json.dumps({"images": [], "info": "{}", "infotexts": [], "saved_files": []}), "[]", now + i, now + i,
             now + i) for i in range(count)]
    with sqlite3.connect(os.path.join(data_dir, "jobs.sqlite3")) as db:
        db.executemany("INSERT INTO jobs (id, type, state, priority, fingerprint, spec, attempts, max_attempts, result, "
                       "saved_files, submitted_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?)", rows)


def listing(server: common.Server, runs: int) -> float:
    session = requests.Session()
    times = []
    for run in range(runs + 3):
        started = time.perf_counter()
        response = session.get(f"{server.url}/sdapi/v2/jobs", params={"limit": 50}, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or len(response.json()["jobs"]) != 50:
            raise RuntimeError(f"listing: {response.status_code} {response.text[:300]}")
        if run >= 3:
            times.append(elapsed)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="the revision before the queue (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--submits", type=int, default=1000)
    parser.add_argument("--history", type=int, default=10000)
    args = parser.parse_args()

    data_dir = common.make_data_dir("jobs")
    common.make_checkpoint(data_dir, "tiny-bench", seed=0)
    baseline_dir = tempfile.mkdtemp(prefix="serena-bench-jobs-before-")
    shutil.copytree(common.checkpoint_folder(data_dir), common.checkpoint_folder(baseline_dir))
    history_dir = tempfile.mkdtemp(prefix="serena-bench-jobs-history-")
    shutil.copytree(common.checkpoint_folder(data_dir), common.checkpoint_folder(history_dir))
    fill_history(history_dir, args.history)
    tree = tempfile.mkdtemp(prefix="serena-bench-baseline-")
    subprocess.run(["git", "worktree", "add", "--detach", tree, args.baseline], cwd=common.REPO_ROOT, check=True,
                   capture_output=True)
    try:
        with common.server(data_dir, threads=1) as now, common.server(baseline_dir, threads=1, tree=tree) as before:
            latency_ms = submit_to_start(now, args.runs)
            trips = roundtrips(now, before, args.runs, args.warmup)
            rate = submit_throughput(now, args.submits)
        with common.server(history_dir, threads=1) as history:
            page_ms = listing(history, args.runs)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=common.REPO_ROOT, capture_output=True)
    ratio = trips["now"] / trips["before"]
    checks = [
        (f"submit -> start, idle server: {latency_ms:.2f} ms median (target <= {LATENCY_TARGET_MS} ms)",
         latency_ms <= LATENCY_TARGET_MS),
        (f"/sdapi/v1/txt2img round trip: now {trips['now']:.1f} ms, {args.baseline} {trips['before']:.1f} ms, "
         f"ratio {ratio:.3f} (target <= {ROUNDTRIP_TARGET})", ratio <= ROUNDTRIP_TARGET),
        (f"submit throughput, paused queue, {CLIENT_THREADS} clients: {rate:.0f} jobs/s (target >= "
         f"{THROUGHPUT_TARGET:.0f})", rate >= THROUGHPUT_TARGET),
        (f"one page of a {args.history}-job history: {page_ms:.2f} ms median (target <= {LISTING_TARGET_MS} ms)",
         page_ms <= LISTING_TARGET_MS),
    ]
    print(common.load_note())
    for text, ok in checks:
        print(f"{common.verdict(ok)}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
