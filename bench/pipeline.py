"""Turn latency (p50/p95, with and without SmolLM2 generation) and index build time on this machine.

Prints figures; asserts nothing. Needs `make assistant-ready` (models, index, intent model).
    .venv/bin/python bench/pipeline.py [--turns 40] [--skip-index]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from assistant.evaluation.metrics import percentile
from assistant.evaluation.replay import load_conversations
from assistant.factory import build_assistant, build_embedder
from assistant.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40, help="customer turns per mode")
    parser.add_argument("--skip-index", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    messages = [t["text"] for c in load_conversations(settings.paths.shop_dir, "dev", limit=60)
                for t in c["turns"] if t["role"] == "customer"][: args.turns]  # fmt: skip

    if not args.skip_index:
        from assistant.backends.vector_store import ChromaVectorStore
        from assistant.catalog import load_shop_knowledge
        from assistant.indexing.builder import build_index

        shop = load_shop_knowledge(settings.paths.shop_dir)
        embedder = build_embedder(settings)
        embedder.warm_up()
        with tempfile.TemporaryDirectory() as tmp:
            store = ChromaVectorStore(Path(tmp))
            started = time.perf_counter()
            reports = build_index(shop, settings.paths.shop_dir, store, embedder,
                                  max_replies=settings.retrieval.max_reply_memory)  # fmt: skip
            full = time.perf_counter() - started
            started = time.perf_counter()
            build_index(
                shop,
                settings.paths.shop_dir,
                store,
                embedder,
                max_replies=settings.retrieval.max_reply_memory,
            )
            again = time.perf_counter() - started
        documents = sum(r.total for r in reports)
        print(
            f"index build: {documents} documents from scratch in {full:.1f} s; unchanged re-run {again:.1f} s"
        )

    for mode in ("templates", "model"):
        with tempfile.TemporaryDirectory() as tmp:
            configured = replace(settings, generation=replace(settings.generation, mode=mode),
                                 store=replace(settings.store, database_url=f"sqlite:///{tmp}/bench.db"))  # fmt: skip
            assistant = build_assistant(configured)
            started = time.perf_counter()
            assistant.warm_up()
            warm = time.perf_counter() - started
            latencies, generated = [], 0
            for index, message in enumerate(messages):
                started = time.perf_counter()
                reply = assistant.respond(f"bench-{index // 5}", message)
                latencies.append((time.perf_counter() - started) * 1000)
                generated += bool(reply.trace.drafts) and reply.trace.drafts[0].source == "generated"
            print(f"{mode:>9}: warm-up {warm:.1f} s; {len(latencies)} turns ({generated} with a generated draft): "
                  f"p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms, "
                  f"mean {statistics.mean(latencies):.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
