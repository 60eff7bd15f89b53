"""`python -m assistant shop init DIR`: a new, valid, empty shop folder, with comments on what goes where, and
the settings pointed at it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assistant.errors import DataError
from assistant.shop import load_profile

README = """# {name}: the shop folder

Everything the assistant knows about this shop lives here; the engine knows no shop.

| path | what | how to fill it |
| --- | --- | --- |
| `shop.json` | name, languages, currency, order-number pattern, topics, quick replies | edit it (the `//` keys explain each one) |
| `catalog/products.jsonl` | products | `python -m assistant data import-catalog shopify|woocommerce|google-merchant|csv|jsonl FILE` |
| `knowledge/passages.jsonl` | FAQ and policy passages with their facts | `python -m assistant data import-knowledge FOLDER_OR_FAQ_CSV` |
| `templates/*.json` | your wording for any reply (overrides the engine's defaults) | edit `templates/templates.json` |
| `store/` | customers and orders (the demo's; a real shop connects its order system) | optional |
| `logs/`, `splits/` | support conversations for training | optional: `python -m assistant data import`, then `train` |

Check it with `python -m assistant data validate {folder}`; then `python -m assistant index` and `make run`.
"""


def shop_json(name: str, languages: list[str], currency: str, order_example: str) -> dict:
    """A commented shop.json (keys starting with // are comments)."""
    pattern, fmt = order_pattern(order_example)
    return {
        "//": "This shop's identity and conventions. Keys starting with // are comments.",
        "name": name,
        "// names": 'the name in other languages, e.g. {"zh": "..."}',
        "names": {},
        "// languages": "the languages shoppers are answered in, first = default (the engine speaks en and zh)",
        "languages": languages,
        "// currency": "ISO 4217 code; prices are written as the locale writes them (symbol, decimals)",
        "currency": currency,
        "// price_locales": 'per language, a CLDR locale for writing prices, e.g. {"en": "en_GB"}',
        "price_locales": {},
        "// order_number": "how your order numbers look: a regular expression whose first group is the distinctive "
        "part, the canonical spelling with {0} for it, and an example shown to shoppers",
        "order_number": {"pattern": pattern, "format": fmt, "example": order_example},
        "timezone": "UTC",
        "// return_window_days": "days after delivery to return an item, when no passage states a window_days fact",
        "return_window_days": None,
        "// template_passages": "reply -> passage groups whose facts its template may use, e.g. "
        '{"handoff": ["contact-opening-hours"]} lets the hand-off reply say your hours',
        "template_passages": {},
        "// intent_topics": "intent -> knowledge topics searched for it (engine defaults in assistant/defaults/shop.json)",
        "intent_topics": {},
        "// quick_replies": "action -> {language: [buttons]} under a reply (engine defaults apply)",
        "quick_replies": {},
        "// aliases": 'extra words for categories and shipping regions: {"categories": {"tea": ["brews"]}, '
        '"regions": {"EU": ["europe", "germany"]}}',
        "aliases": {"categories": {}, "regions": {}},
    }


def order_pattern(example: str) -> tuple[str, str]:
    """A regex and canonical format for order numbers shaped like `example` ("#1001", "HP-10234", "100234")."""
    m = re.fullmatch(r"([#A-Za-z]*)([-\s]?)(\d+)", example.strip())
    if not m:
        raise DataError(f"order number example {example!r} is not letters (or #) followed by digits; "
                        "write order_number.pattern in shop.json yourself")  # fmt: skip
    prefix, _, digits = m.groups()
    width = len(digits)
    if prefix:
        escaped = re.escape(prefix)
        return (
            rf"(?<![A-Za-z0-9]){escaped}[-\s]?(\d{{{width}}})(?!\d)",
            f"{prefix}-{{0}}" if "-" in example else f"{prefix}{{0}}",
        )
    return rf"(?<![\d-])(\d{{{width}}})(?!\d)", "{0}"


def init_shop(
    folder: Path, *, name: str, languages: list[str], currency: str, order_example: str
) -> list[Path]:
    """Write a new shop folder; refuses to overwrite one that has a shop.json. Returns the files written."""
    if (folder / "shop.json").exists():
        raise DataError(
            f"{folder / 'shop.json'} exists; `shop init` never overwrites a shop (edit it instead)"
        )
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder")
    for sub in ("catalog", "knowledge", "templates", "store", "logs", "splits", "exports"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    written = []
    files = {
        "shop.json": json.dumps(
            shop_json(name, languages, currency, order_example), ensure_ascii=False, indent=1
        ),
        "templates/templates.json": json.dumps(
            {
                "//": "Your wording for any reply; keys and placeholders as in assistant/defaults/templates.json. A key may "
                "list variants: the first whose placeholders are all known is used. Example:",
                "// greet": {"en": "Hi! Welcome to {shop_name}. How can I help you today?"},
            },
            ensure_ascii=False,
            indent=1,
        ),
        "README.md": README.format(name=name, folder=folder),
        "exports/README.md": "Put your raw exports here (products CSV, feeds, FAQ pages); the importers read them.\n",
        "catalog/products.jsonl": "",
        "knowledge/passages.jsonl": "",
    }
    for relative, text in files.items():
        path = folder / relative
        if not path.exists():
            path.write_text(text + ("\n" if text and not text.endswith("\n") else ""), encoding="utf-8")
            written.append(path)
    load_profile(folder)  # what we wrote must load
    return written


def point_settings_at(folder: Path, config: Path) -> None:
    """Point the settings file `config` at the shop (created if missing; other settings kept): the shop folder,
    and beside it the shop's own index, trained models and database, so two shops never share them. Only the
    prepared pretrained models (data/models) are shared."""
    base = folder.as_posix()
    text = config.read_text(encoding="utf-8") if config.is_file() else ""
    for section, key, value in (("paths", "shop_dir", base), ("paths", "artifacts_dir", f"{base}/artifacts"),
                                ("paths", "index_location", f"{base}/index"),
                                ("store", "database_url", f"sqlite:///{folder.resolve().as_posix()}/assistant.db")):  # fmt: skip
        text = _set_toml_key(text, section, key, value)
    config.write_text(text, encoding="utf-8")


def _set_toml_key(text: str, section: str, key: str, value: str) -> str:
    """`text` (TOML) with `key = "value"` in `[section]`, replacing an existing line or adding one."""
    line = f"{key} = {json.dumps(value)}"
    found = re.search(rf"(?ms)^\[{section}\]\s*$(.*?)(?=^\[|\Z)", text)
    if found is None:
        return text + ("\n" if text and not text.endswith("\n") else "") + f"[{section}]\n{line}\n"
    body = found.group(1)
    if re.search(rf"(?m)^{key}\s*=.*$", body):
        body = re.sub(rf"(?m)^{key}\s*=.*$", line.replace("\\", "\\\\"), body, count=1)
    else:
        body = f"\n{line}" + body
    return text[: found.start(1)] + body + text[found.end(1) :]
