"""Workers on Ray against the server's own worker, measured in this run on real servers (launch.py --nowebui, the
tiny real checkpoint, one torch thread per worker, 2 cores):

    python -m benchmarks.ray_workers [--jobs 40] [--steps 20] [--probes 20]

- throughput: --jobs small txt2img jobs submitted at once to /sdapi/v2/jobs, first submit to last finish, on a
  server with --ray-workers 2 against one with --ray-workers 1: ratio >= 1.6
- dispatch overhead: --probes one-step jobs one after another, submit to finish (the server's clock), median on a
  server with one Ray worker minus the median on a server with its own local worker: <= 30 ms"""

import argparse
import statistics
import sys
import time

import requests

from benchmarks import common

THROUGHPUT_TARGET = 1.6
OVERHEAD_TARGET_MS = 30.0
JOB = {"prompt": "a red circle", "width": 64, "height": 64, "cfg_scale": 7, "sampler_name": "Euler"}


def submit(session: requests.Session, url: str, params: dict) -> str:
    response = session.post(f"{url}/sdapi/v2/jobs", json={"type": "txt2img", "params": params}, timeout=60)
    response.raise_for_status()
    return response.json()["id"]


def finished(session: requests.Session, url: str, job_id: str) -> dict:
    while True:
        job = session.get(f"{url}/sdapi/v2/jobs/{job_id}", timeout=60).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            if job["state"] != "succeeded":
                raise RuntimeError(f"job {job_id}: {job['state']} {job['error']}")
            return job
        time.sleep(0.02)


def wait_for_workers(server: common.Server) -> None:
    deadline = time.monotonic() + common.STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        workers = requests.get(f"{server.url}/sdapi/v2/queue", timeout=60).json()["workers"]
        if all(worker["state"] == "idle" for worker in workers):
            return
        time.sleep(0.2)
    raise RuntimeError("the workers did not start")


def throughput(server: common.Server, jobs: int, steps: int) -> float:
    """Jobs per second: all submitted at once, first submit to last finish (the server's clock)."""
    session = requests.Session()
    finished(session, server.url, submit(session, server.url, {**JOB, "steps": steps, "seed": 0}))  # warm-up
    ids = [submit(session, server.url, {**JOB, "steps": steps, "seed": n}) for n in range(jobs)]
    done = [finished(session, server.url, job_id) for job_id in ids]
    return jobs / (max(job["finished_at"] for job in done) - min(job["submitted_at"] for job in done))


def per_job_ms(server: common.Server, probes: int) -> float:
    session = requests.Session()
    times = []
    for n in range(probes + 2):
        job = finished(session, server.url, submit(session, server.url, {**JOB, "steps": 1, "seed": n}))
        times.append(job["finished_at"] - job["submitted_at"])
    return statistics.median(times[2:]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    data_dir = common.make_data_dir("ray-workers")
    common.make_checkpoint(data_dir, "bench-tiny")
    rates, overheads = {}, {}
    for label, extra in (("local", ()), ("ray-1", ("--ray-address", "local", "--ray-workers", "1")),
                         ("ray-2", ("--ray-address", "local", "--ray-workers", "2"))):
        with common.server(data_dir, *extra, threads=1, keep=label != "ray-2") as server:
            wait_for_workers(server)
            if label != "ray-2":
                overheads[label] = per_job_ms(server, args.probes)
            if label != "local":
                rates[label] = throughput(server, args.jobs, args.steps)
    ratio = rates["ray-2"] / rates["ray-1"]
    overhead = overheads["ray-1"] - overheads["local"]
    print(f"{args.jobs} jobs of {args.steps} steps at 64x64, tiny checkpoint, one torch thread per worker")
    print(f"throughput: 1 Ray worker {rates['ray-1']:.2f} jobs/s, 2 Ray workers {rates['ray-2']:.2f} jobs/s: "
          f"{ratio:.2f}x (target >= {THROUGHPUT_TARGET}) {common.verdict(ratio >= THROUGHPUT_TARGET)}")
    print(f"one-step job, submit to finish: local worker {overheads['local']:.1f} ms, Ray worker "
          f"{overheads['ray-1']:.1f} ms: overhead {overhead:.1f} ms (target <= {OVERHEAD_TARGET_MS:.0f}) "
          f"{common.verdict(overhead <= OVERHEAD_TARGET_MS)}")
    print(common.load_note())
    return 0 if ratio >= THROUGHPUT_TARGET and overhead <= OVERHEAD_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
