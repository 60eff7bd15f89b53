"""Reading the shop's support logs for training: the conversations of a split, and the hashes of
the files a run learnt from (its data manifest)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.data.validation import read_splits
from assistant.errors import DataError


def conversations_in_split(shop_dir: Path, split: str) -> Iterator[dict[str, Any]]:
    """The logged conversations whose ids are in `split` (train, dev or test), in file order."""
    ids = set(read_splits(shop_dir)[split])
    path = shop_dir / "logs" / "conversations.jsonl"
    if not path.is_file():
        raise DataError(f"{path} is missing: no logs to learn from")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            conversation = json.loads(line)
            if conversation["id"] in ids:
                yield conversation


def data_hashes(shop_dir: Path, *, with_documents: bool = False) -> dict[str, str]:
    """sha256 of the logs and splits (and with `with_documents`, the catalog and knowledge files)."""
    paths = [shop_dir / "logs" / "conversations.jsonl", *sorted((shop_dir / "splits").glob("*.txt"))]
    if with_documents:
        paths += [*sorted((shop_dir / "knowledge").glob("*")), *sorted((shop_dir / "catalog").glob("*"))]
    return {
        str(p.relative_to(shop_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()
    }
