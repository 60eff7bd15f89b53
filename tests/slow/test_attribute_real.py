"""`python -m assistant data attribute` with the prepared embedder, on a copy of the demo shop whose first
conversations had the documents of their agent turns removed (the removed ones are the answer key)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 150


def test_data_attribute_gives_replies_their_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.__main__ import main

    os.chdir(ROOT)
    shop = tmp_path / "shop"
    shutil.copytree(ROOT / "dialogue_data", shop, ignore=shutil.ignore_patterns("generate_*.py", "templates"))
    logs = shop / "logs" / "conversations.jsonl"
    conversations = [json.loads(line) for line in logs.read_text(encoding="utf-8").splitlines()][
        :CONVERSATIONS
    ]
    truth = {}
    for conversation in conversations:
        for i, turn in enumerate(conversation["turns"]):
            if turn["role"] == "agent":
                truth[(conversation["id"], i)] = set(turn["passages"]) | set(turn["products"])
                turn["passages"], turn["products"] = [], []
    logs.write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations), encoding="utf-8"
    )

    assert main(["data", "attribute", "--dry-run", str(shop)]) == 0
    assert "would get a document" in capsys.readouterr().out
    assert "attributed" not in logs.read_text(encoding="utf-8")
    assert main(["data", "attribute", str(shop)]) == 0
    out = capsys.readouterr().out
    assert "given a document" in out and "train retriever" in out
    right = wrong = 0
    for conversation in (json.loads(line) for line in logs.read_text(encoding="utf-8").splitlines()):
        for i, turn in enumerate(conversation["turns"]):
            if turn.get("attributed"):
                given = set(turn["passages"]) | set(turn["products"])
                right += bool(given & truth[(conversation["id"], i)])
                wrong += not (given & truth[(conversation["id"], i)])
    named = sum(1 for documents in truth.values() if documents)
    assert right / (right + wrong) > 0.85 and right > 0.5 * named, (right, wrong, named)
