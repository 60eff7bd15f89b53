"""What one turn costs by the shape of its message: short and 2,000-character messages in English,
Chinese, mixed script, emoji and digits, through the real assistant (prepared models, templates mode).

Prints per-message-shape wall time (median of `--repeats`) and the stages that dominate; asserts
nothing. The guard caps what the tokenizers, language detection and sentiment see, so a long Chinese
message should cost at most about twice a long English one. Needs `make assistant-ready`.
    .venv/bin/python bench/input_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

from assistant.factory import build_assistant
from assistant.settings import load_settings

EN = "Hi, I ordered a backpack last week and I would like to know when it arrives and whether I can return it. "
ZH = "你好，我上周买了一个双肩包，想知道什么时候到货，如果不合适可以退货吗？另外运费怎么算？"
MIXED = "我想问一下 order status，我的 backpack 什么时候到？shipping 要多久？"
SHAPES = {
    "short en": "where is my order?",
    "short zh": "我的订单到哪了？",
    "2000 en": (EN * 40)[:2000],
    "2000 zh": (ZH * 60)[:2000],
    "2000 mixed": (MIXED * 60)[:2000],
    "2000 emoji": ("😀🎉👍🏽❤️" * 500)[:2000],
    "2000 digits": ("1234567890 " * 200)[:2000],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(settings, generation=replace(settings.generation, mode="templates"),
                           store=replace(settings.store, database_url=f"sqlite:///{tmp}/bench.db"))  # fmt: skip
        assistant = build_assistant(settings)
        assistant.warm_up()
        for warm in ("hello", "你好"):
            assistant.respond("warm", warm)
        print(f"{'message':<12} {'chars':>5} {'median ms':>10} {'max ms':>8}  slowest stages (ms, last run)")
        baseline = {}
        for name, message in SHAPES.items():
            times, trace = [], None
            for repeat in range(args.repeats):
                started = time.perf_counter()
                reply = assistant.respond(f"bench-{name}-{repeat}", message)
                times.append((time.perf_counter() - started) * 1000)
                trace = reply.trace
            median = statistics.median(times)
            baseline[name] = median
            stages = sorted((trace.timings_ms if trace else {}).items(), key=lambda kv: -kv[1])[:3]
            shown = ", ".join(f"{stage} {ms:.0f}" for stage, ms in stages)
            print(f"{name:<12} {len(message):>5} {median:>10.0f} {max(times):>8.0f}  {shown}")
        print(f"2000 zh / 2000 en: {baseline['2000 zh'] / baseline['2000 en']:.2f}x; "
              f"2000 mixed / 2000 en: {baseline['2000 mixed'] / baseline['2000 en']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
