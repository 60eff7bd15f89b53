"""Splits of a shop's logs: whole conversations, stratified by intent, seeded; written by `data import` into a
shop's logs and by `data split`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.data.splits import assign_splits, hashed_split, split_shop_logs
from assistant.data.validation import SPLITS, validate_shop
from assistant.errors import DataError


def conversation(cid: str, intent: str | None) -> dict:
    return {"id": cid, "language": "en", "turns": [
        {"role": "agent", "text": "Hi, how can I help?"},
        {"role": "customer", "text": f"message {cid}", "intent": intent, "slots": {}},
        {"role": "customer", "text": "and another thing", "intent": "greeting", "slots": {}},
    ]}  # fmt: skip


LOGS = ([conversation(f"a{i}", "order_status") for i in range(50)]
        + [conversation(f"b{i}", "return_request") for i in range(20)]
        + [conversation(f"c{i}", "warranty") for i in range(3)] + [conversation("d0", "complaint")]
        + [conversation(f"u{i}", None) for i in range(10)])  # fmt: skip


def test_splits_are_whole_stratified_by_first_intent_and_seeded() -> None:
    splits = assign_splits(LOGS)
    ids = [cid for part in splits.values() for cid in part]
    assert sorted(ids) == sorted(c["id"] for c in LOGS)  # every conversation once
    first = {c["id"]: (c["turns"][1]["intent"] or "none") for c in LOGS}
    per_split = {name: Counter(first[cid] for cid in part) for name, part in splits.items()}
    assert per_split["test"]["order_status"] == per_split["dev"]["order_status"] == 5
    assert per_split["test"]["return_request"] == per_split["dev"]["return_request"] == 2
    assert per_split["test"]["warranty"] == 1 and per_split["train"]["warranty"] >= 1  # 3: one held out
    assert per_split["train"]["complaint"] == 1  # a lone intent stays in train
    assert per_split["test"]["none"] == 1  # unlabelled conversations are spread too
    order = [c["id"] for c in LOGS]
    assert all(part == sorted(part, key=order.index) for part in splits.values())  # the logs' order
    assert assign_splits(LOGS) == splits and assign_splits(LOGS, seed=1) != splits
    assert len(assign_splits(LOGS, dev_share=0.2, test_share=0.3)["test"]) > len(splits["test"])


@pytest.mark.parametrize(("dev", "test"), [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)])
def test_shares_that_leave_nothing_to_train_on_are_refused(dev: float, test: float) -> None:
    with pytest.raises(DataError, match="leave some for train"):
        assign_splits(LOGS, dev_share=dev, test_share=test)


def test_a_duplicate_id_or_a_bad_log_writes_no_splits(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="twice"):
        assign_splits([conversation("x", "greeting"), conversation("x", "greeting")])
    with pytest.raises(DataError, match="import the shop's support logs first"):
        split_shop_logs(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "conversations.jsonl").write_text(
        json.dumps(conversation("a", "greeting")) + "\n{oops\n"
    )
    with pytest.raises(DataError, match=r"conversations\.jsonl:2: invalid JSON"):
        split_shop_logs(tmp_path)
    assert not (tmp_path / "splits").exists()
    (tmp_path / "logs" / "conversations.jsonl").write_text(
        json.dumps({**conversation("a", "greeting"), "id": ""})
    )
    with pytest.raises(DataError, match="no 'id'"):
        split_shop_logs(tmp_path)


def test_importing_into_a_shops_logs_writes_its_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shop", "init", str(tmp_path / "shop"), "--no-settings"]) == 0
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps({"id": f"t{i}", "messages": [
        {"role": "user", "content": f"where is my order {i}"}, {"role": "assistant", "content": "On its way."}],
        "metadata": {"intent": "order_status" if i % 2 else "wismo"}}) + "\n" for i in range(40)))  # fmt: skip
    capsys.readouterr()
    destination = tmp_path / "shop" / "logs" / "conversations.jsonl"
    assert main(["data", "import", "--format", "messages-jsonl", str(export), str(destination)]) == 0
    out = capsys.readouterr().out
    assert "splits written to" in out and "train 32, dev 4, test 4 conversations" in out
    assert "wismo (20)" in out  # the shop's own label, named
    assert not [str(i) for i in validate_shop(tmp_path / "shop").issues if "split" in str(i)]
    assert main(["data", "split", str(tmp_path / "shop"), "--test-share", "0.25", "--seed", "3"]) == 0
    assert "train 32, dev 4, test 4 conversations (0 assigned now; the others kept" in capsys.readouterr().out
    assert (
        main(["data", "split", str(tmp_path / "shop"), "--test-share", "0.25", "--seed", "3", "--reassign"])
        == 0
    )
    assert "train 26, dev 4, test 10 conversations (all assigned now" in capsys.readouterr().out
    assert (
        main(["data", "import", "--format", "messages-jsonl", str(export), str(tmp_path / "elsewhere.jsonl")])
        == 0
    )
    assert "run `python -m assistant data split SHOP`" in capsys.readouterr().out
    assert main(["data", "split", str(tmp_path / "shop"), "--dev-share", "0.6", "--test-share", "0.6"]) == 2
    before = destination.read_bytes()
    assert main(["data", "import", "--format", "messages-jsonl", "--test-share", "1.5", str(export),
                 str(destination)]) == 2  # fmt: skip
    assert destination.read_bytes() == before  # refused before the logs were replaced


def test_later_logs_never_move_an_old_conversation_and_are_placed_in_proportion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def export(path: Path, ids: range, text: str) -> Path:
        path.write_text("".join(json.dumps({"id": f"t{i}", "messages": [
            {"role": "user", "content": f"{text} {i}"}, {"role": "assistant", "content": "On its way."}],
            "metadata": {"intent": "order_status"}}) + "\n" for i in ids))  # fmt: skip
        return path

    destination = tmp_path / "shop" / "logs" / "conversations.jsonl"
    first = export(tmp_path / "first.jsonl", range(100), "where is my order")
    assert main(["data", "import", "--format", "messages-jsonl", str(first), str(destination)]) == 0
    before = {name: (tmp_path / "shop" / "splits" / f"{name}.txt").read_text().split() for name in SPLITS}
    later = export(
        tmp_path / "later.jsonl", range(90, 400), "still waiting for order"
    )  # 10 continue, 300 new
    capsys.readouterr()
    assert (
        main(["data", "import", "--format", "messages-jsonl", "--append", str(later), str(destination)]) == 0
    )
    out = capsys.readouterr().out
    assert "appended: 300 new conversations, 10 replacing ones with the same id; 400 in" in out
    assert "300 assigned now; the others kept their split" in out
    logs = [json.loads(line) for line in destination.read_text().splitlines()]
    assert [c["id"] for c in logs] == [f"t{i}" for i in range(400)]  # replaced in place, new ones after
    assert logs[95]["turns"][0]["text"] == "still waiting for order 95"
    after = {name: (tmp_path / "shop" / "splits" / f"{name}.txt").read_text().split() for name in SPLITS}
    for name in SPLITS:
        assert set(before[name]) <= set(after[name])  # no old conversation changed split
    assert 15 <= len(after["test"]) - len(before["test"]) <= 45  # ~10 % of 300 new, however few arrive
    (destination.parent / "broken.jsonl").write_text('{"id": "x", "turns": []}\n{oops\n')
    kept = (destination.parent / "broken.jsonl").read_bytes()
    assert main(["data", "import", "--format", "messages-jsonl", "--append", str(later),
                 str(destination.parent / "broken.jsonl")]) == 2  # fmt: skip
    assert (destination.parent / "broken.jsonl").read_bytes() == kept
    assert "cannot append" in capsys.readouterr().err


def test_hashed_splits_keep_their_proportions_and_their_place() -> None:
    names = [hashed_split(f"c{i}", dev_share=0.1, test_share=0.2, seed=0) for i in range(10_000)]
    assert abs(names.count("test") / 10_000 - 0.2) < 0.02 and abs(names.count("dev") / 10_000 - 0.1) < 0.02
    assert names == [hashed_split(f"c{i}", dev_share=0.1, test_share=0.2, seed=0) for i in range(10_000)]
    assert names != [hashed_split(f"c{i}", dev_share=0.1, test_share=0.2, seed=1) for i in range(10_000)]
