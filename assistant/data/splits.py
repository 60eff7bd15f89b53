"""Train, dev and test splits of a shop's support logs, by conversation (`splits/<name>.txt`).

Every trainer learns from `train`, picks its checkpoint and promotion figure on `dev`, and reports `test`;
a shop that imports its logs gets them written by `data import` (into a shop's `logs/`) or `data split`.
Conversations are assigned whole (a conversation's turns never straddle two splits) and stratified by the
intent of their first labelled customer turn, so every intent with three or more conversations has some
in dev and test; unlabelled conversations are spread as one group of their own. Seeded: the same logs give
the same splits.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assistant.data.validation import FILES, SPLITS, read_conversations, read_splits
from assistant.errors import DataError

Pairs = list[tuple[str, str]]
UNLABELLED = "\x00unlabelled"  # the group of conversations without a labelled customer turn


def stratified_split(pairs: Pairs, share: float, *, seed: int) -> tuple[Pairs, Pairs]:
    """(rest, held out) of (item, label) pairs: `share` of each label held out (at least one when a label
    has three or more examples; labels with fewer stay whole in the rest), in a seeded order.

    Written here rather than taken from scikit-learn: its `train_test_split(stratify=...)` refuses a
    label with one example, which a shop's rare intents and few-shot samples always have."""
    by_label: dict[str, Pairs] = defaultdict(list)
    for pair in pairs:
        by_label[pair[1]].append(pair)
    rng = random.Random(seed)
    rest: Pairs = []
    held: Pairs = []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        n = 0 if len(items) < 3 else max(1, round(len(items) * share))
        held += items[:n]
        rest += items[n:]
    rng.shuffle(rest)
    rng.shuffle(held)
    return rest, held


def check_shares(dev_share: float, test_share: float) -> None:
    """Raise `DataError` for dev and test shares that leave nothing to train on."""
    if not (0 <= dev_share < 1 and 0 <= test_share < 1 and dev_share + test_share < 1):
        raise DataError(f"dev and test shares must be in [0, 1) and leave some for train; got dev {dev_share}, "
                        f"test {test_share}")  # fmt: skip


def assign_splits(
    conversations: Iterable[dict[str, Any]], *, dev_share: float = 0.1, test_share: float = 0.1, seed: int = 0
) -> dict[str, list[str]]:
    """split -> conversation ids (in the logs' order), stratified by each conversation's first labelled
    intent. Raises `DataError` for shares that leave nothing to train on."""
    check_shares(dev_share, test_share)
    order: dict[str, int] = {}
    pairs: Pairs = []
    for conversation in conversations:
        cid = str(conversation["id"])
        if cid in order:
            raise DataError(f"conversation id {cid!r} occurs twice in the logs; ids must be unique")
        order[cid] = len(order)
        turns = conversation.get("turns") or []
        first = next(
            (t["intent"] for t in turns if t.get("role") == "customer" and t.get("intent")), UNLABELLED
        )
        pairs.append((cid, str(first)))
    rest, test = stratified_split(pairs, test_share, seed=seed)
    train, dev = stratified_split(rest, dev_share / (1 - test_share), seed=seed + 1)
    return {name: sorted((cid for cid, _ in part), key=order.__getitem__)
            for name, part in zip(SPLITS, (train, dev, test), strict=True)}  # fmt: skip


def write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    """Write `splits/<name>.txt` under the shop folder `root` (each file staged, then swapped in)."""
    folder = root / "splits"
    folder.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        staging = folder / f"{name}.txt.partial"
        staging.write_text("".join(f"{cid}\n" for cid in splits.get(name, [])), encoding="utf-8")
        staging.replace(folder / f"{name}.txt")


def hashed_split(cid: str, *, dev_share: float, test_share: float, seed: int) -> str:
    """The split of one conversation by a hash of its id: stable, and in the shares' proportions over many
    conversations, however few arrive at a time."""
    position = int(hashlib.sha256(f"{seed}:{cid}".encode()).hexdigest()[:12], 16) / 16**12
    return "test" if position < test_share else "dev" if position < test_share + dev_share else "train"


def split_shop_logs(
    root: Path, *, dev_share: float = 0.1, test_share: float = 0.1, seed: int = 0, reassign: bool = False
) -> tuple[dict[str, list[str]], int]:
    """Assign the conversations of `root`'s `logs/conversations.jsonl` to the splits and write them; returns
    (split -> ids, how many were assigned now). A conversation already in a split stays there (unless
    `reassign`), so logs imported later never move an old dev or test conversation into train; the new ones
    are stratified when nothing was assigned yet, else placed by a hash of their id (`hashed_split`). A log
    with unreadable lines or conversations without an id is refused (nothing written)."""
    check_shares(dev_share, test_share)
    conversations = read_conversations(root)
    unnamed = [record for record in conversations if not str(record.get("id") or "").strip()]
    if unnamed:
        raise DataError(f"{root / FILES['conversations']}: {len(unnamed)} conversations have no 'id'; no splits "
                        "written")  # fmt: skip
    if not conversations:
        raise DataError(f"{root / FILES['conversations']} holds no conversations; no splits written")
    present = {str(c["id"]) for c in conversations}
    kept = (
        {}
        if reassign
        else {cid: name for name, ids in read_splits(root).items() for cid in ids if cid in present}
    )
    new = [c for c in conversations if str(c["id"]) not in kept]
    if not kept:
        assigned = assign_splits(new, dev_share=dev_share, test_share=test_share, seed=seed)
        kept = {cid: name for name, ids in assigned.items() for cid in ids}
    else:
        for conversation in new:
            cid = str(conversation["id"])
            kept[cid] = hashed_split(cid, dev_share=dev_share, test_share=test_share, seed=seed)
    splits = {name: [str(c["id"]) for c in conversations if kept[str(c["id"])] == name] for name in SPLITS}
    write_splits(root, splits)
    return splits, len(new)
