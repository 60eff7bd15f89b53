"""The shop's catalog and knowledge passages, loaded from the shop folder for fast lookups."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from assistant.errors import DataError
from assistant.privacy import public_contacts
from assistant.shop import ShopProfile, load_profile, localised


@dataclass(frozen=True)
class ShopKnowledge:
    """Products and passages by id, and the shop's profile (name, languages, currency, templates)."""

    products: dict[str, dict]
    passages: dict[str, dict]
    profile: ShopProfile = field(default_factory=ShopProfile)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def today(self) -> date | None:
        return self.profile.today

    @property
    def languages(self) -> tuple[str, ...]:
        return self.profile.languages

    def passage(self, group: str, language: str) -> dict | None:
        """The passage of `group` in `language` (falls back to English)."""
        found = self.passages.get(f"{group}-{language}") or self.passages.get(f"{group}-en")
        if found is None:  # a one-language shop's passage ids need no language suffix
            found = self.passages.get(group) or next(
                (p for p in self.passages.values() if p.get("group") == group), None
            )
        return found

    def title(self, product: dict, language: str) -> str:
        return localised(product.get("title"), language)

    def description(self, product: dict, language: str) -> str:
        return localised(product.get("description"), language)

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

    profile = load_profile(shop_dir)
    return ShopKnowledge(read_optional(shop_dir, "catalog/products.jsonl", read),
                         read_optional(shop_dir, "knowledge/passages.jsonl", read), profile)  # fmt: skip


def read_optional(shop_dir: Path, relative: str, read) -> dict[str, dict]:
    """A shop may start with products and no passages, or passages and no products; not with neither."""
    if (shop_dir / relative).is_file():
        return read(relative)
    if not shop_dir.is_dir():
        raise DataError(
            f"{shop_dir} is not a folder; set paths.shop_dir or run `python -m assistant shop init DIR`"
        )
    other = "knowledge/passages.jsonl" if relative.startswith("catalog") else "catalog/products.jsonl"
    if not (shop_dir / other).is_file():
        raise DataError(
            f"{shop_dir} has neither catalog/products.jsonl nor knowledge/passages.jsonl; import a catalog or "
            "FAQ pages (`python -m assistant data import-catalog` / `import-knowledge`)"
        )
    return {}
