"""The shop's catalog and knowledge passages, loaded from the shop folder for fast lookups."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assistant.errors import DataError
from assistant.privacy import public_contacts


@dataclass(frozen=True)
class ShopKnowledge:
    """Products and passages by id."""

    products: dict[str, dict]
    passages: dict[str, dict]
    name: str = "the shop"
    today: date | None = None  # a shop folder may pin "today" (the demo shop's records are dated)

    def passage(self, group: str, language: str) -> dict | None:
        """The passage of `group` in `language` (falls back to English)."""
        return self.passages.get(f"{group}-{language}") or self.passages.get(f"{group}-en")

    def public_contacts(self) -> frozenset[str]:
        """The phone numbers and e-mail addresses the shop publishes in its passages (never redacted)."""
        texts = [str(p.get("text", "")) for p in self.passages.values()]
        texts += [str(v) for p in self.passages.values() for v in (p.get("facts") or {}).values()]
        return public_contacts(texts)


def load_shop_knowledge(shop_dir: Path) -> ShopKnowledge:
    """Read catalog/products.jsonl and knowledge/passages.jsonl (run `data validate` for details)."""

    def read(relative: str) -> dict[str, dict]:
        path = shop_dir / relative
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise DataError(f"{path} is missing; set paths.shop_dir to the shop's data folder") from None
        out = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                out[record["id"]] = record
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    f"{path}:{number}: unreadable record ({exc}); run `python -m assistant data validate`"
                ) from exc
        return out

    meta: dict = {}
    if (shop_dir / "shop.json").is_file():
        try:
            meta = json.loads((shop_dir / "shop.json").read_text(encoding="utf-8"))
            today = date.fromisoformat(meta["today"]) if meta.get("today") else None
        except (ValueError, TypeError) as exc:
            raise DataError(f"{shop_dir / 'shop.json'} is unreadable: {exc}") from exc
    else:
        today = None
    return ShopKnowledge(
        read("catalog/products.jsonl"),
        read("knowledge/passages.jsonl"),
        str(meta.get("name", "the shop")),
        today,
    )
