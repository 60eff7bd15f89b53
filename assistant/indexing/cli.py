"""`python -m assistant index`: build or update the shop's search index and seed the store."""

from __future__ import annotations

import time

from assistant.settings import Settings


def run_index(settings: Settings) -> int:
    from assistant.catalog import load_shop_knowledge
    from assistant.factory import build_embedder, build_vector_store, database_url
    from assistant.indexing.builder import build_index
    from assistant.store.database import Database, seed_store

    started = time.perf_counter()
    shop = load_shop_knowledge(settings.paths.shop_dir)
    reports = build_index(
        shop,
        settings.paths.shop_dir,
        build_vector_store(settings),
        build_embedder(settings),
        max_replies=settings.retrieval.max_reply_memory,
        progress=lambda line: print(line, flush=True),
    )
    seeded = seed_store(Database(database_url(settings)), settings.paths.shop_dir)
    embedded = sum(r.embedded for r in reports)
    print(
        f"index ready in {time.perf_counter() - started:.1f} s ({embedded} documents embedded); "
        f"store records {'loaded' if seeded else 'unchanged'}"
    )
    return 0
