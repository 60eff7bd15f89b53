"""The engine knows no shop: the demo shop's name, order-number prefix, brands, fees, promotion codes and
passage ids appear nowhere in `assistant/` or `ui/` (code, templates, defaults). Everything shop-specific
lives in the shop folder; a second shop (tests/data/shops/) keeps that honest."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "dialogue_data"
SUFFIXES = {".py", ".json", ".md", ".html", ".css", ".js", ".txt", ".toml"}


def demo_literals() -> set[str]:
    """What only the demo shop says: its names, order prefix, brands, money amounts, codes and passage ids."""
    meta = json.loads((DEMO / "shop.json").read_text(encoding="utf-8"))
    literals = {meta["name"], *meta.get("names", {}).values()}
    literals.add(re.match(r"[A-Za-z]+-?", meta["order_number"]["example"]).group())  # "LL-"
    for line in (DEMO / "catalog" / "products.jsonl").open(encoding="utf-8"):
        literals.add(json.loads(line)["brand"])
    for line in (DEMO / "knowledge" / "passages.jsonl").open(encoding="utf-8"):
        passage = json.loads(line)
        literals.add(passage["group"])
        for value in (passage.get("facts") or {}).values():
            if re.fullmatch(r"\$\d+(\.\d\d)?", str(value)) or re.fullmatch(r"[A-Z]+\d+", str(value)):
                literals.add(str(value))
    return literals


def test_engine_and_ui_hold_no_demo_shop_literal() -> None:
    literals = demo_literals()
    assert {
        "Lumen Lane",
        "流明小巷",
        "LL-",
        "$4.95",
        "WELCOME10",
        "KB-RET-FEE",
    } <= literals  # the grep is real
    found = []
    for folder in ("assistant", "ui"):
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or path.suffix not in SUFFIXES:
                continue
            text = path.read_text(encoding="utf-8", errors="ignore")
            for literal in literals:
                if re.search(rf"(?<![\w$]){re.escape(literal)}(?![\w])", text):
                    found.append(f"{path.relative_to(ROOT)}: {literal}")
    assert found == []


def test_every_template_the_engine_names_has_default_wording_in_each_language() -> None:
    """A key missing from assistant/defaults/templates.json would silently fall back to "no_answer"."""
    templates = json.loads((ROOT / "assistant" / "defaults" / "templates.json").read_text(encoding="utf-8"))
    named = set()
    for path in (ROOT / "assistant").rglob("*.py"):
        named |= set(re.findall(r'(?:render|say)\("([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert len(named) >= 20  # the scan is real (action names are looked up dynamically besides these)
    missing = sorted(
        f"{key}.{lang}" for key in named for lang in ("en", "zh") if lang not in templates.get(key, {})
    )
    assert missing == []
