"""The persisted lexical index: BM25 against a hand computation, `where` masks that mean what chroma's
filters mean, save/load, and the incremental sync the `index` command runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from assistant.backends.vector_store import matches
from assistant.errors import IndexNotBuiltError
from assistant.indexing.lexical import LexicalIndex, sync_lexical, tokenize, where_mask

TEXTS = ["red leather shoe", "blue cotton shirt", "red cotton shirt", "退货运费说明", ""]
METAS = [
    {"language": "en", "price": 80.0, "in_stock": True, "category": "shoes"},
    {"language": "en", "price": 20.0, "in_stock": False, "category": "tops"},
    {"language": "en", "price": 25.0, "in_stock": True, "category": "tops", "rating": 4.5},
    {"language": "zh", "price": 0.0, "in_stock": True, "topic": "returns"},
    {"language": "en", "price": 5.0, "in_stock": True},
]
IDS = ["p1", "p2", "p3", "k1", "empty"]


def build() -> LexicalIndex:
    return LexicalIndex(IDS, [tokenize(t) for t in TEXTS], METAS)


def test_scores_are_okapi_bm25() -> None:
    index = build()
    lengths = [len(tokenize(t)) or 1 for t in TEXTS]
    average = sum(lengths) / len(lengths)

    def bm25(term: str, doc: int) -> float:
        df = sum(term in tokenize(t) for t in TEXTS)
        idf = math.log(1 + (len(TEXTS) - df + 0.5) / (df + 0.5))
        tf = tokenize(TEXTS[doc]).count(term)
        # Lucene's form (bm25s' default): without Okapi's constant (k1 + 1) factor, so the same ranking.
        return idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * lengths[doc] / average))

    hits = dict(index.search("red shirt", top_k=5))
    assert set(hits) == {"p1", "p2", "p3"}
    for doc_id, score in hits.items():
        doc = IDS.index(doc_id)
        assert score == pytest.approx(bm25("red", doc) + bm25("shirt", doc), rel=1e-4)
    assert index.search("red shirt", top_k=1)[0][0] == "p3"  # both terms


@pytest.mark.parametrize(
    "where",
    [
        {"language": "en"},
        {"$and": [{"language": "en"}, {"in_stock": True}]},
        {"$and": [{"language": "en"}, {"price": {"$lte": 25.0}}, {"category": "tops"}]},
        {"$or": [{"category": "shoes"}, {"topic": {"$in": ["returns", "shipping"]}}]},
        {"rating": {"$gte": 4.0}},
        {"category": {"$ne": "tops"}},
        {"category": {"$nin": ["tops", "shoes"]}},
        {"colour": "red"},  # a key no document has
        {"colour": {"$ne": "red"}},
        {"price": 25},  # an int against float values
        {"category": 3},  # a number against text never matches
    ],
)
def test_where_masks_mean_what_chroma_filters_mean(where: dict) -> None:
    index = build()
    expected = [matches(m, where) for m in METAS]
    assert where_mask(index.columns, where, len(IDS)).tolist() == expected


def test_filters_apply_inside_the_search() -> None:
    index = build()
    assert [i for i, _ in index.search("shirt", top_k=5, where={"in_stock": True})] == ["p3"]
    assert index.search("shirt", top_k=5, where={"language": "zh"}) == []
    with pytest.raises(ValueError, match="at least two"):
        where_mask(index.columns, {"$and": [{"language": "en"}]}, len(IDS))


def test_save_and_load_give_the_same_results(tmp_path: Path) -> None:
    index = build()
    index.save(tmp_path / "products")
    loaded = LexicalIndex.load(tmp_path / "products")
    assert loaded.ids == IDS
    for query, where in (
        ("red shirt", None),
        ("cotton", {"price": {"$lt": 22.5}}),
        ("退货", {"language": "zh"}),
    ):
        assert loaded.search(query, top_k=5, where=where) == index.search(query, top_k=5, where=where)
    assert loaded.columns["in_stock"].dtype == bool and np.isnan(loaded.columns["rating"][0])
    with pytest.raises(IndexNotBuiltError, match="python -m assistant index"):
        LexicalIndex.load(tmp_path / "nothing-here")


def test_an_empty_collection_saves_and_loads(tmp_path: Path) -> None:
    LexicalIndex([], [], []).save(tmp_path / "replies")
    assert LexicalIndex.load(tmp_path / "replies").search("anything", top_k=3) == []


def test_sync_rebuilds_only_when_documents_change_and_reuses_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "products"
    docs = [(i, t, m, f"h-{i}") for i, t, m in zip(IDS, TEXTS, METAS, strict=True)]
    assert sync_lexical(folder, docs) is True
    assert sync_lexical(folder, docs) is False  # unchanged: nothing rebuilt
    tokenized: list[str] = []
    import assistant.indexing.lexical as lexical

    real = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda text: tokenized.append(text) or real(text))
    changed = [*docs[:4], ("p4", "green wool scarf", {"language": "en"}, "h-p4")]
    assert sync_lexical(folder, changed) is True
    assert tokenized == ["green wool scarf"]  # only the new document was tokenized
    loaded = LexicalIndex.load(folder)
    assert "empty" not in loaded.ids and loaded.search("scarf", top_k=3)[0][0] == "p4"
    cache = json.loads((folder / "tokens.json").read_text(encoding="utf-8"))
    assert set(cache) == {"p1", "p2", "p3", "k1", "p4"}
