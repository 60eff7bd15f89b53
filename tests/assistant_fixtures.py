"""Builds an `Assistant` on the demo shop from any backends (fakes for unit tests, real ones for
integration tests). The intent head is trained here on the demo shop's training split."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from assistant.catalog import load_shop_knowledge
from assistant.indexing.builder import build_index
from assistant.pipeline import Assistant
from assistant.stages.actions import ActionRunner
from assistant.stages.generation import ReplyGenerator
from assistant.stages.guard import Guard
from assistant.stages.intent_head import IntentHead, fit_softmax_regression, fit_temperature
from assistant.stages.language import LanguageDetector
from assistant.stages.policy import PolicyMaker
from assistant.stages.recommendation import Recommender
from assistant.stages.retrieval import Retriever
from assistant.stages.slots import SlotExtractor, Vocabulary
from assistant.stages.understanding import Understander
from assistant.store.conversations import ConversationStore
from assistant.store.database import Database, seed_store
from assistant.store.orders import OrderRepository
from assistant.training.intent import intent_examples

SHOP = Path(__file__).resolve().parent.parent / "dialogue_data"
HARBOUR = Path(__file__).resolve().parent / "data" / "shops" / "harbour"


def build_harbour(destination: Path) -> Path:
    """The second shop, as its engineer would bring it up: its folder (shop.json, templates, store) and its
    exports run through the importers. Returns the shop folder."""
    import shutil

    from assistant.data.catalog_import import import_catalog
    from assistant.data.knowledge_import import import_knowledge

    if not (destination / "catalog" / "products.jsonl").is_file():
        shutil.copytree(HARBOUR, destination, dirs_exist_ok=True)
        import_catalog("shopify", destination / "exports" / "products.csv", destination)
        import_knowledge(destination / "exports" / "faq", destination)
    return destination


@lru_cache(maxsize=1)
def shop():
    return load_shop_knowledge(SHOP)


def orders() -> list[dict]:
    return [json.loads(line) for line in (SHOP / "store" / "orders.jsonl").open(encoding="utf-8")]


def order_with(status: str, language: str = "en") -> dict:
    customers = {
        json.loads(line)["id"]: json.loads(line)
        for line in (SHOP / "store" / "customers.jsonl").open(encoding="utf-8")
    }
    return next(
        o for o in orders() if o["status"] == status and customers[o["customer_id"]]["language"] == language
    )


def train_head(embedder, *, limit: int = 6000, epochs: int = 200) -> IntentHead:
    """An intent head on (a deterministic subset of) the demo shop's training turns."""
    train = intent_examples(SHOP, "train")[:limit]
    dev = intent_examples(SHOP, "dev")[:1500]
    labels = tuple(sorted({e.intent for e in train}))
    index = {label: i for i, label in enumerate(labels)}
    dev = [e for e in dev if e.intent in index]
    x = embedder.embed_queries([e.text for e in train])
    weights, bias = fit_softmax_regression(x, [index[e.intent] for e in train], len(labels), epochs=epochs)
    head = IntentHead(weights, bias, labels)
    import numpy as np

    y_dev = np.array([index[e.intent] for e in dev])
    head.temperature = fit_temperature(head.logits(embedder.embed_queries([e.text for e in dev])), y_dev)
    head.threshold = 0.3
    return head


def build_test_assistant(
    tmp_path: Path,
    *,
    embedder,
    store,
    identifier,
    head: IntentHead,
    sentiment,
    generator=None,
    index: bool = True,
    shop_dir: Path = SHOP,
    database_url: str | None = None,
) -> Assistant:
    knowledge = shop() if shop_dir == SHOP else load_shop_knowledge(shop_dir)
    if index:
        build_index(knowledge, shop_dir, store, embedder, max_replies=400)
    db = Database(database_url or f"sqlite:///{tmp_path / 'assistant.db'}")
    seed_store(db, shop_dir)
    return Assistant(
        shop=knowledge,
        embedder=embedder,
        guard=Guard(max_chars=2000),
        language=LanguageDetector(
            identifier, supported=knowledge.languages, default=knowledge.profile.default_language
        ),
        understander=Understander(
            embedder,
            head,
            SlotExtractor(Vocabulary.of_shop(knowledge)),
            sentiment,
        ),
        policy=PolicyMaker(),
        retriever=Retriever(store),
        recommender=Recommender(knowledge),
        actions=ActionRunner(OrderRepository(db), knowledge, today=knowledge.today),
        writer=ReplyGenerator(knowledge, generator),
        conversations=ConversationStore(db, public_contacts=knowledge.public_contacts()),
    )
