"""Memory over many turns: does a serving process level off?

Builds the assistant as `serve` does (prepared models, the demo index), warms it, then runs `--turns`
turns, each conversation `--per-conversation` turns long, over the customer messages of the test
split. Prints RSS after warm-up and every `--every` turns, and (with `--tracemalloc`) the Python
allocations that grew most between the first and the last sample, so a growing cache shows up by
file and line. Prints figures; asserts nothing. Needs `make assistant-ready`.

    .venv/bin/python bench/memory.py [--turns 600] [--every 100] [--mode templates|model] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import tempfile
import time
import tracemalloc
from pathlib import Path

from assistant.evaluation.replay import load_conversations
from assistant.factory import build_assistant
from assistant.settings import load_settings


def memory_mb() -> dict[str, float]:
    """Resident memory: all of it, the process's own (anonymous) and pages of mapped files (model
    weights that safetensors maps; the kernel can drop those under pressure and read them back)."""
    fields = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    out = dict.fromkeys(fields.values(), float("nan"))
    for line in Path("/proc/self/status").read_text().splitlines():
        name = line.split()[0] if line.strip() else ""
        if name in fields:
            out[fields[name]] = int(line.split()[1]) / 1024
    return out


def rss_mb() -> float:
    return memory_mb()["rss"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--per-conversation", type=int, default=4)
    parser.add_argument("--mode", choices=["templates", "model"], default="templates")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also show which allocations grew (slower)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides=[f"generation.mode={args.mode}",
                                            f"store.database_url=sqlite:///{tmp}/memory.db"])  # fmt: skip
        assistant = build_assistant(settings)
        assistant.warm_up()
        messages = [t["text"] for c in load_conversations(settings.paths.shop_dir, "test")
                    for t in c["turns"] if t["role"] == "customer"]  # fmt: skip
        warm = memory_mb()
        print(f"mode {args.mode}; {len(messages)} distinct customer messages; after warm-up RSS {warm['rss']:.0f} MB "
              f"(anonymous {warm['anon']:.0f}, mapped files {warm['file']:.0f})")  # fmt: skip
        if args.tracemalloc:
            tracemalloc.start(10)
        first = None
        started = time.perf_counter()
        source = itertools.cycle(messages)
        conversation = ""
        print(f"{'turns':>6} {'RSS MB':>7} {'anon MB':>8} {'files MB':>9} {'s/turn':>7}")
        for turn in range(1, args.turns + 1):
            if (turn - 1) % args.per_conversation == 0:
                conversation = f"c_mem_{turn:06d}"
            assistant.respond(conversation, next(source))
            if turn % args.every == 0:
                gc.collect()
                now = memory_mb()
                print(f"{turn:>6} {now['rss']:>7.0f} {now['anon']:>8.0f} {now['file']:>9.0f} "
                      f"{(time.perf_counter() - started) / turn:>7.3f}", flush=True)  # fmt: skip
                if args.tracemalloc:
                    snapshot = tracemalloc.take_snapshot()
                    first = first or snapshot
        if args.tracemalloc and first is not None:
            last = tracemalloc.take_snapshot()
            print("largest growth between the first and the last sample (Python allocations):")
            for stat in last.compare_to(first, "lineno")[:12]:
                print(
                    f"  {stat.size_diff / 1024:>8.0f} KiB  {stat.count_diff:>7} blocks  {stat.traceback[0]}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
