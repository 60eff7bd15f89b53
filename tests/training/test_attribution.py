"""`data attribute`: agent replies that name no documents get the one they clearly drew on, by similarity,
on a copy of the demo shop whose logs had their documents removed (the removed ones are the answer key)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.backends.embedding import HashingEmbedder
from assistant.catalog import load_shop_knowledge
from assistant.errors import DataError
from assistant.training.attribution import ATTRIBUTED, attribute_replies
from assistant.training.retriever import retrieval_corpus, retrieval_pairs

DEMO = Path(__file__).resolve().parents[2] / "dialogue_data"
KEPT = 40  # the first conversations keep the documents the export named


def _read(shop: Path) -> list[dict]:
    lines = (shop / "logs" / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, dict[tuple[str, int], set[str]]]:
    """A copy of the demo shop without documents on agent turns (but the first `KEPT` conversations'), and
    the documents each agent turn named: product documents as the index names them (`id:language`)."""
    folder = tmp_path / "shop"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("generate_*.py", "templates"))
    conversations = _read(folder)
    truth: dict[tuple[str, int], set[str]] = {}
    for n, conversation in enumerate(conversations):
        for i, turn in enumerate(conversation["turns"]):
            if turn["role"] != "agent":
                continue
            language = conversation["turns"][i - 1].get("language", conversation["language"]) if i else ""
            truth[(conversation["id"], i)] = set(turn.get("passages") or []) | {
                f"{p}:{language}" for p in turn.get("products") or []
            }
            if n >= KEPT:
                turn["passages"], turn["products"] = [], []
    (folder / "logs" / "conversations.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations), encoding="utf-8"
    )
    return folder, truth


def _given(conversation: dict, i: int) -> set[str]:
    turn = conversation["turns"][i]
    language = conversation["turns"][i - 1].get("language", conversation["language"])
    return set(turn.get("passages") or []) | {f"{p}:{language}" for p in turn.get("products") or []}


def test_replies_get_the_document_they_drew_on_and_the_exports_own_are_left_alone(
    shop: tuple[Path, dict[tuple[str, int], set[str]]],
) -> None:
    folder, truth = shop
    before = _read(folder)
    report = attribute_replies(folder, load_shop_knowledge(folder), HashingEmbedder(512), margin=0.03)
    after = _read(folder)
    assert report.replies == len(truth) and report.attributed + report.unsure + report.named == report.replies
    named_before = sum(bool(_given(c, i)) for c in before[:KEPT] for i, t in enumerate(c["turns"])
                       if t["role"] == "agent" and i)  # fmt: skip
    assert report.named == named_before > 0
    for old, new in zip(before[:KEPT], after[:KEPT], strict=True):  # the export's own record is never touched
        assert [t for t in old["turns"] if t.get("passages") or t.get("products")] == [
            t for t in new["turns"] if (t.get("passages") or t.get("products")) and not t.get("attributed")
        ]
    unsure = [t for c in after[KEPT:] for t in c["turns"] if t["role"] == "agent" and not t.get("attributed")]
    assert unsure and not any(
        t.get("passages") or t.get("products") for t in unsure
    )  # nothing but what it chose
    right = wrong = 0
    for conversation in after:
        for i, turn in enumerate(conversation["turns"]):
            if turn.get("attributed") != ATTRIBUTED:
                continue
            assert turn["attribution_margin"] >= 0.03 and len(_given(conversation, i)) == 1
            right += bool(_given(conversation, i) & truth[(conversation["id"], i)])
            wrong += not (_given(conversation, i) & truth[(conversation["id"], i)])
    assert right + wrong == report.attributed > 0.4 * report.replies
    # word-hashing vectors, not a language model: right on most, which the answer key checks
    assert right / (right + wrong) > 0.75
    # the retriever's trainer now has (message -> document) pairs from these logs
    assert (
        len(retrieval_pairs(folder, "train", retrieval_corpus(load_shop_knowledge(folder))))
        > report.attributed / 2
    )


def test_a_dry_run_writes_nothing_and_a_rerun_redoes_its_own_attributions(
    shop: tuple[Path, dict[tuple[str, int], set[str]]],
) -> None:
    folder, _ = shop
    logs = folder / "logs" / "conversations.jsonl"
    knowledge, embedder = load_shop_knowledge(folder), HashingEmbedder(512)
    untouched = logs.read_bytes()
    dry = attribute_replies(folder, knowledge, embedder, margin=0.03, write=False)
    assert logs.read_bytes() == untouched and dry.attributed > 0
    loose = attribute_replies(folder, knowledge, embedder, margin=0.03)
    assert loose.attributed == dry.attributed and loose.named == dry.named  # its own are not "named"
    strict = attribute_replies(folder, knowledge, embedder, margin=0.2)
    assert strict.named == loose.named and 0 < strict.attributed < loose.attributed
    margins = [t["attribution_margin"] for c in _read(folder) for t in c["turns"] if t.get("attributed")]
    assert len(margins) == strict.attributed and min(margins) >= 0.2  # the looser ones were taken back
    text = strict.describe(0.2, written=True)
    assert f"{strict.attributed} given a document" in text and "left alone" in text


def test_bad_margin_and_a_shop_without_documents_say_so(
    shop: tuple[Path, dict[tuple[str, int], set[str]]], tmp_path: Path
) -> None:
    folder, _ = shop
    with pytest.raises(DataError, match="margin"):
        attribute_replies(folder, load_shop_knowledge(folder), HashingEmbedder(64), margin=1.5)
    for name in ("catalog/products.jsonl", "knowledge/passages.jsonl"):
        (folder / name).write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no passages or products"):
        attribute_replies(folder, load_shop_knowledge(folder), HashingEmbedder(64))
