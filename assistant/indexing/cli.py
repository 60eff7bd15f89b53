"""`python -m assistant index`: build or update the shop's search index and seed the store."""

from __future__ import annotations

import time

from assistant.settings import Settings


def run_index(settings: Settings) -> int:
    from assistant.catalog import load_shop_knowledge
    from assistant.factory import build_embedder, build_vector_store, database_url
    from assistant.indexing.builder import build_index
    from assistant.store.database import Database, seed_store
    from assistant.training.default_intent import embedder_reference, ensure_default_intent_model
    from assistant.training.intent import COMPONENT, DEFAULT_PREFIX
    from assistant.training.registry import active_run

    started = time.perf_counter()
    shop = load_shop_knowledge(settings.paths.shop_dir)
    embedder = build_embedder(settings)
    vectors = build_vector_store(settings)
    reports = build_index(
        shop,
        settings.paths.shop_dir,
        vectors,
        embedder,
        max_replies=settings.retrieval.max_reply_memory,
        lexical_dir=settings.paths.lexical_dir,
        progress=lambda line: print(line, flush=True),
    )
    if settings.experiment.component == "retriever" and settings.experiment.candidate_run:
        # An A/B test of a retriever: its own vectors beside the active ones (the BM25 index is shared).
        from assistant.factory import build_candidate_retrieval

        candidate, store = build_candidate_retrieval(settings, vectors)
        print(f"the A/B candidate retriever {settings.experiment.candidate_run}:", flush=True)
        reports += build_index(shop, settings.paths.shop_dir, store, candidate,
                               max_replies=settings.retrieval.max_reply_memory,
                               progress=lambda line: print(line, flush=True))  # fmt: skip
    seeded = seed_store(Database(database_url(settings)), settings.paths.shop_dir)
    # No model trained on the shop's logs yet: the engine's default (cold start).
    active = active_run(settings.paths.artifacts_dir, COMPONENT)
    if active is None or active.startswith(DEFAULT_PREFIX):
        plain = build_embedder(settings, use_fine_tuned=False)
        folder = ensure_default_intent_model(plain, settings.paths.artifacts_dir, languages=shop.languages,
                                             embedder_reference=embedder_reference(plain))  # fmt: skip
        print(
            f"intent: no model trained on this shop's logs; the engine's default model {folder.name} is active"
        )
    embedded = sum(r.embedded for r in reports)
    print(
        f"index ready in {time.perf_counter() - started:.1f} s ({embedded} documents embedded); "
        f"store records {'loaded' if seeded else 'unchanged'}"
    )
    return 0
