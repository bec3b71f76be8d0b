"""Server memory over many consecutive API generations.

    python -m benchmarks.memory_soak [--generations 100] [--settle 10] [--lora]

A real server (launch.py --nowebui) on a tiny checkpoint runs --generations txt2img requests (varying seed and
prompt); its RSS is read after each. Prints the growth from generation --settle to the last (target: at most 2 %).
With --lora every other request names a tiny LoRA, so LoRA adapters are loaded and removed 50 times."""

import argparse
import sys

from benchmarks import common

TARGET_GROWTH = 0.02
PROMPTS = ["a red cube on a table", "a (blue:1.2) sphere, studio light", "[cat|dog] in a garden", "a house BREAK snow"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--settle", type=int, default=10, help="generations before the baseline RSS is taken")
    parser.add_argument("--lora", action="store_true", help="every other request uses <lora:tiny-bench:0.8>")
    args = parser.parse_args()

    data_dir = common.make_data_dir("soak")
    common.make_checkpoint(data_dir, "tiny-bench", seed=0)
    if args.lora:
        from tools.make_tiny_lora import make_tiny_lora

        make_tiny_lora("sd15", f"{data_dir}/models/Lora/tiny-bench.safetensors")
    rss = []
    with common.server(data_dir) as server:
        start_rss = server.rss()
        for i in range(args.generations):
            lora = " <lora:tiny-bench:0.8>" if args.lora and i % 2 else ""
            payload = common.SMALL_TXT2IMG | {"seed": 1000 + i, "prompt": PROMPTS[i % len(PROMPTS)] + lora}
            assert len(server.post("txt2img", payload)["images"]) == 1
            rss.append(server.rss())

    baseline, final = rss[args.settle - 1], rss[-1]
    growth = (final - baseline) / baseline
    print(f"memory_soak: {args.generations} API txt2img generations, 64x64, tiny SD1 checkpoint"
          f"{', every other one with a LoRA' if args.lora else ''} (server RSS)")
    print(f"  after start-up             : {common.mib(start_rss)}")
    for n in sorted({1, *range(args.settle, args.generations + 1, args.settle)}):
        print(f"  after {n:3d} generation(s)  : {common.mib(rss[n - 1])}")
    print(f"  peak                       : {common.mib(max(rss))}")
    print(f"  growth after {args.settle} (baseline) : {growth * 100:+.2f} %  (ratio {final / baseline:.4f}, "
          f"target <= {TARGET_GROWTH * 100:.0f} %) {common.verdict(growth <= TARGET_GROWTH)}")
    print(f"  {common.load_note()}")
    return 0 if growth <= TARGET_GROWTH else 1


if __name__ == "__main__":
    sys.exit(main())
