"""Server memory while switching checkpoints A -> B -> A, against the same server holding one model.

    python -m benchmarks.checkpoint_switch [--cycles 10] [--tiny]

Two random SD1 checkpoints (~155 MB each in fp16, ~310 MB as fp32 in memory; --tiny for the small ones) go in a
fresh data dir; a real server (launch.py --nowebui) loads A and generates once: that RSS is the baseline. Each
cycle switches to B and back to A through POST /sdapi/v1/options, generating once after each switch. Prints the
peak and final RSS against the baseline (target: within 5 %)."""

import argparse
import sys
import time

from benchmarks import common

TARGET_RATIO = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--tiny", action="store_true", help="use the tiny checkpoints (quick check of the script)")
    args = parser.parse_args()

    data_dir = common.make_data_dir("switch")
    started = time.perf_counter()
    for name, seed in (("bench-a", 1), ("bench-b", 2)):
        common.make_checkpoint(data_dir, name, seed=seed, large=not args.tiny)
    made_s = time.perf_counter() - started

    payload = dict(common.SMALL_TXT2IMG)
    rss, switch_s = [], []
    with common.server(data_dir) as server:
        titles = {m["model_name"]: m["title"] for m in server.get("sd-models")}
        server.post("options", {"sd_model_checkpoint": titles["bench-a"]})
        server.post("txt2img", payload)
        baseline = server.rss()
        for _ in range(args.cycles):
            for name in ("bench-b", "bench-a"):
                started = time.perf_counter()
                server.post("options", {"sd_model_checkpoint": titles[name]})
                switch_s.append(time.perf_counter() - started)
                info = server.post("txt2img", payload)["info"]
                assert f'"sd_model_name": "{name}"' in info, info[:300]
                rss.append(server.rss())

    peak, final = max(rss), rss[-1]
    size = "tiny" if args.tiny else "large (UNet 320/640)"
    print(f"checkpoint_switch: {args.cycles} cycles A->B->A, two {size} random SD1 checkpoints "
          f"(made in {made_s:.1f} s), server RSS")
    print(f"  one model loaded (baseline): {common.mib(baseline)}")
    print(f"  after each switch          : {', '.join(f'{r / baseline:.3f}' for r in rss)}")
    print(f"  final (A again)            : {common.mib(final)}  (ratio {final / baseline:.3f})")
    print(f"  median switch time         : {common.median_ms(switch_s):.0f} ms")
    ok = peak <= TARGET_RATIO * baseline
    print(f"  peak after a switch        : {common.mib(peak)}  (ratio {peak / baseline:.3f}, "
          f"target <= {TARGET_RATIO:.2f}) {common.verdict(ok)}")
    print(f"  {common.load_note()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
