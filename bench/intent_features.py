"""What reading each message with the English embedder beside the multilingual one costs a serving
process (`models.intent_english_features`): per message, the multilingual embedder alone (what every turn
already pays; search uses the same vector) against the English embedder's extra reading (`JoinedEmbedder.
join_first`), for a short and a 2,000-character message; and the process's resident memory before and after
the English embedder loads. Side by side in one run, prepared models, CPU. Prints figures; asserts nothing.
Needs `make assistant-ready`.

    .venv/bin/python bench/intent_features.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from assistant.backends.embedding import JoinedEmbedder
from assistant.factory import build_embedder
from assistant.schema import ModelRole
from assistant.settings import load_settings

LONG = "I ordered a rain jacket last week and would like to know when it arrives. "
MESSAGES = {"short": "can I change the delivery address on my order?", "2000 characters": (LONG * 30)[:2000]}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    settings = load_settings()
    multilingual = build_embedder(settings, use_fine_tuned=False)
    multilingual.warm_up()
    multilingual.embed_queries(["warm"])
    before = peak_rss_mb()
    english = build_embedder(settings, ModelRole.ENGLISH_EMBEDDER)
    started = time.perf_counter()
    english.warm_up()
    english.embed_queries(["warm"])
    loaded = time.perf_counter() - started
    joined = JoinedEmbedder((multilingual, english))
    print(f"English embedder: loads in {loaded:.1f} s; peak RSS {before:.0f} MB -> {peak_rss_mb():.0f} MB")
    print("| message | multilingual embedder (every turn) ms | English embedder beside it, extra ms |")
    print("|---|---|---|")
    for name, text in MESSAGES.items():
        base, extra = [], []
        for i in range(args.repeats):
            message = f"{text} {i}"  # no cache anywhere: each one new
            started = time.perf_counter()
            vector = multilingual.embed_queries([message])
            middle = time.perf_counter()
            joined.join_first(vector, [message])
            base.append(middle - started)
            extra.append(time.perf_counter() - middle)
        print(f"| {name} | {1000 * statistics.median(base):.1f} | {1000 * statistics.median(extra):.1f} |")


if __name__ == "__main__":
    main()
