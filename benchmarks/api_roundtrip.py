"""API txt2img round trip vs in-process process_images of the same request, both in this run.

    python -m benchmarks.api_roundtrip [--runs 20] [--warmup 3]

A real server (launch.py --nowebui) and this process load the same tiny checkpoint; requests alternate between
the two. Prints the time the API adds, as the median of the per-run differences (target: at most 30 ms)."""

import argparse
import sys
import time

from benchmarks import common

TARGET_MS = 30.0
PAUSE_S = 0.2


def load_in_process(threads: int):
    """This process set up as the server is: initialize() (same data dir and checkpoint) and the same FastAPI app
    built but not served, so that the garbage collector passes that process_images makes see as many objects."""
    import torch

    import webui
    from modules import initialize, processing

    if threads:
        torch.set_num_threads(threads)
    initialize.initialize()
    app = webui.create_app()

    def generate(payload: dict):
        p = processing.StableDiffusionProcessingTxt2Img(**payload, do_not_save_samples=True, do_not_save_grid=True)
        return processing.process_images(p)

    generate.app = app
    return generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads on both sides (0: torch's default); 1 keeps a busy CPU from "
                             "making two OpenMP threads wait on each other")
    args = parser.parse_args()

    data_dir = common.make_data_dir("roundtrip")
    sys.argv = sys.argv[:1] + ["--nowebui"]  # what the server was started with, for create_app()
    common.make_checkpoint(data_dir, "tiny-bench", seed=0)
    payload = dict(common.SMALL_TXT2IMG)
    api_s, server_s, local_s = [], [], []
    with common.server(data_dir, threads=args.threads) as server:
        generate = load_in_process(args.threads)
        for _ in range(args.warmup):
            server.post("txt2img", payload)
            generate(payload)
        for run in range(args.runs):
            calls = ["api", "local"] if run % 2 == 0 else ["local", "api"]
            for call in calls:
                time.sleep(PAUSE_S)  # lets the other side's idle worker threads stop spinning
                started = time.perf_counter()
                if call == "api":
                    response = server.post_response("txt2img", payload)
                    api_s.append(time.perf_counter() - started)
                    assert len(response.json()["images"]) == 1
                    server_s.append(float(response.headers["X-Process-Time"]))
                else:
                    assert len(generate(payload).images) == 1
                    local_s.append(time.perf_counter() - started)

    api, local, inside = common.median_ms(api_s), common.median_ms(local_s), common.median_ms(server_s)
    added = common.median_ms([a - b for a, b in zip(api_s, local_s)])  # pairs taken side by side: drift cancels
    print(f"api_roundtrip: {args.runs} runs of txt2img {payload['width']}x{payload['height']}, "
          f"{payload['steps']} steps, tiny SD1 checkpoint, {args.threads or 'default'} torch thread(s) (medians)")
    print(f"  in-process process_images : {local:8.1f} ms  (baseline)")
    print(f"  API round trip            : {api:8.1f} ms  (ratio {api / local:.3f})")
    print(f"    of which inside server  : {inside:8.1f} ms  (X-Process-Time)")
    print(f"  {common.load_note()}")
    print(f"  added by the API          : {added:8.1f} ms  (median of the per-run differences, "
          f"target <= {TARGET_MS:.0f} ms) {common.verdict(added <= TARGET_MS)}")
    return 0 if added <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
