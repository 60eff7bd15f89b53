"""What makes a shop itself: `shop.json` (name, languages, currency, order numbers, topics, quick
replies) and `templates/` (reply wording), over the engine's generic defaults in
`assistant/defaults/`. The engine reads every shop-specific word and number from here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.core import UnknownLocaleError, get_global
from babel.numbers import UnknownCurrencyError, format_currency, get_currency_symbol

from assistant.errors import DataError

DEFAULTS = Path(__file__).resolve().parent / "defaults"
ENGINE_LANGUAGES = ("en", "zh")
# Keys a shop.json may hold; anything else is a typo the shop's engineer should hear about.
PROFILE_KEYS = frozenset(
    {"name", "names", "languages", "currency", "price_locales", "order_number", "timezone", "today", "note",
     "intent_topics", "template_passages", "slot_passages", "quick_replies", "aliases", "return_window_days"}
)  # fmt: skip
DEFAULT_ORDER_NUMBER = {"pattern": r"#\s?(\d{4,12})", "format": "#{0}", "example": "#1001"}


@dataclass(frozen=True)
class OrderNumberFormat:
    """How the shop writes order numbers: a regex whose first group is the distinctive part, the canonical
    spelling (`format`, with `{0}` for that part) and an example shown to shoppers."""

    pattern: re.Pattern[str]
    format: str
    example: str

    def find(self, text: str) -> str | None:
        """The first order number in `text`, in the shop's canonical spelling."""
        match = self.pattern.search(text)
        if match is None:
            return None
        return self.format.format(match.group(1) if match.groups() else match.group()).upper()

    def remove(self, text: str) -> str:
        return self.pattern.sub(" ", text)


@dataclass(frozen=True)
class ShopProfile:
    """The shop's identity and conventions (see `shop init` for a commented example)."""

    names: dict[str, str] = field(default_factory=lambda: {"en": "our shop"})
    languages: tuple[str, ...] = ("en",)
    currency: str = "USD"
    price_locales: dict[str, str] = field(default_factory=dict)
    order_number: OrderNumberFormat = field(
        default_factory=lambda: _order_number(DEFAULT_ORDER_NUMBER, "defaults")
    )
    timezone: str = "UTC"
    today: date | None = None  # a shop may pin "today" (the demo shop's records are dated)
    intent_topics: dict[str, tuple[str, ...]] = field(default_factory=lambda: _engine_topics())
    template_passages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slot_passages: tuple[dict[str, str], ...] = ()
    quick_replies: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=lambda: _engine_quick_replies()
    )
    aliases: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    return_window_days: int | None = None
    templates: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=lambda: load_templates(None))

    @property
    def name(self) -> str:
        return self.names.get("en") or next(iter(self.names.values()), "our shop")

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.name

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def price(self, amount: float, language: str, currency: str | None = None) -> str:
        """`amount` as the shop writes prices in `language` (symbol, decimals and grouping from CLDR)."""
        return format_price(amount, currency or self.currency, self.locale(language))

    def symbol(self, language: str) -> str:
        return get_currency_symbol(self.currency, locale=self.locale(language))

    def locale(self, language: str) -> str:
        return self.price_locales.get(language) or {"en": "en_US", "zh": "zh_CN"}.get(language, language)

    def passages_for(self, intent: str, slots: dict[str, str]) -> list[str]:
        """Passage groups that answer exactly what the slots name (shipping to a region, returns of a category)."""
        groups = []
        for rule in self.slot_passages:
            value = slots.get(rule["slot"], "")
            if rule["intent"] == intent and value:
                groups.append(rule["group"].format(value=value, VALUE=value.upper()))
        return groups


@lru_cache(maxsize=64)
def format_price(amount: float, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


def localised(value: Any, language: str) -> str:
    """A text field that is either a string or {language: text}: the text in `language`, else English, else any."""
    if isinstance(value, dict):
        text = value.get(language) or value.get("en") or next((v for v in value.values() if v), "")
        return str(text or "")
    return "" if value is None else str(value)


def _order_number(spec: Any, where: str) -> OrderNumberFormat:
    if isinstance(spec, str):
        spec = {"pattern": spec}
    if not isinstance(spec, dict) or "pattern" not in spec:
        raise DataError(f"{where}: order_number must be an object with a 'pattern' (a regular expression)")
    try:
        pattern = re.compile(str(spec["pattern"]), re.IGNORECASE)
    except re.error as exc:
        raise DataError(f"{where}: order_number.pattern is not a valid regular expression: {exc}") from exc
    fmt = str(spec.get("format") or "{0}")
    example = str(spec.get("example") or "")
    if example and not pattern.search(example):
        raise DataError(f"{where}: order_number.example {example!r} does not match order_number.pattern")
    return OrderNumberFormat(pattern, fmt, example)


@lru_cache(maxsize=4)
def engine_defaults(name: str) -> dict:
    """An engine default data file in `assistant/defaults/` (read once): "shop.json", "templates.json",
    "lexicon.json". Callers must not change what it returns."""
    return _read_json(DEFAULTS / name)


def colour_names() -> dict[str, dict[str, list[str]]]:
    """The engine's colour lexicon: canonical colour -> {language: names} (language knowledge, not shop)."""
    return engine_defaults("lexicon.json")["colours"]


def _engine_topics() -> dict[str, tuple[str, ...]]:
    return {k: _texts(v) for k, v in engine_defaults("shop.json").get("intent_topics", {}).items()}


def _engine_quick_replies() -> dict[str, dict[str, tuple[str, ...]]]:
    return _per_language(engine_defaults("shop.json").get("quick_replies", {}), "engine quick replies")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object")
    return data


def _texts(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())


def _per_language(table: Any, where: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """{key: {language: text or [texts]}} -> {key: {language: (texts...)}}."""
    if not isinstance(table, dict):
        raise DataError(f"{where} must be an object of {{key: {{language: text}}}}")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for key, languages in table.items():
        if key.startswith("//"):  # comments in scaffolded files
            continue
        if not isinstance(languages, dict):
            raise DataError(f"{where}: {key!r} must map languages to texts")
        out[key] = {lang: _texts(text) for lang, text in languages.items()}
    return out


def load_templates(shop_dir: Path | None) -> dict[str, dict[str, tuple[str, ...]]]:
    """The engine's default templates, each language of each key overridden by the shop's `templates/*.json`."""
    merged = _per_language(engine_defaults("templates.json"), "engine templates")
    folder = shop_dir / "templates" if shop_dir else None
    for path in sorted(folder.glob("*.json")) if folder and folder.is_dir() else ():
        for key, languages in _per_language(_read_json(path), str(path)).items():
            merged.setdefault(key, {}).update(languages)
    return merged


def load_profile(
    shop_dir: Path | None, *, engine_languages: tuple[str, ...] = ENGINE_LANGUAGES
) -> ShopProfile:
    """`shop.json` over the engine defaults; problems name the file and what to write."""
    path = shop_dir / "shop.json" if shop_dir else None
    meta = _read_json(path) if path else {}
    where = str(path) if path else "shop.json"
    unknown = sorted(k for k in meta if k not in PROFILE_KEYS and not k.startswith("//"))
    if unknown:
        raise DataError(
            f"{where}: unknown keys {', '.join(unknown)}; valid keys: {', '.join(sorted(PROFILE_KEYS))}"
        )
    names = meta.get("names") or {}
    if isinstance(meta.get("name"), str):
        names = {"en": meta["name"], **names}
    languages = tuple(meta.get("languages") or ("en",))
    bad = [code for code in languages if code not in engine_languages]
    if bad:
        raise DataError(
            f"{where}: languages {bad} are not supported; the engine replies in {', '.join(engine_languages)}"
        )
    currency = str(meta.get("currency") or "USD").upper()
    if currency not in get_global("all_currencies"):
        raise DataError(f"{where}: currency {currency!r} is not an ISO 4217 code (USD, EUR, GBP, CNY...)")
    locales = {str(k): str(v) for k, v in (meta.get("price_locales") or {}).items()}
    try:
        for language in languages:
            format_price(
                1.0, currency, locales.get(language) or {"en": "en_US", "zh": "zh_CN"}.get(language, language)
            )
    except (UnknownCurrencyError, UnknownLocaleError, ValueError) as exc:
        raise DataError(
            f"{where}: currency {currency!r} or price_locales cannot format prices: {exc}"
        ) from exc
    try:
        today = date.fromisoformat(meta["today"]) if meta.get("today") else None
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: today must be a date like 2026-11-20: {exc}") from exc
    topics = {**_engine_topics(), **{k: _texts(v) for k, v in (meta.get("intent_topics") or {}).items()}}
    quick = {
        **_engine_quick_replies(),
        **_per_language(meta.get("quick_replies") or {}, f"{where}: quick_replies"),
    }
    aliases = {
        kind: {str(k): _texts(v) for k, v in table.items()}
        for kind, table in (meta.get("aliases") or {}).items()
        if isinstance(table, dict)
    }
    slot_passages = tuple(dict(rule) for rule in meta.get("slot_passages") or ())
    for rule in slot_passages:
        if not {"intent", "slot", "group"} <= set(rule):
            raise DataError(
                f"{where}: each slot_passages rule needs 'intent', 'slot' and 'group', got {rule}"
            )
    return ShopProfile(
        names={str(k): str(v) for k, v in names.items()} or {"en": "our shop"},
        languages=languages,
        currency=currency,
        price_locales=locales,
        order_number=_order_number(meta.get("order_number") or DEFAULT_ORDER_NUMBER, where),
        timezone=str(meta.get("timezone") or "UTC"),
        today=today,
        intent_topics=topics,
        template_passages={k: _texts(v) for k, v in (meta.get("template_passages") or {}).items()},
        slot_passages=slot_passages,
        quick_replies=quick,
        aliases=aliases,
        return_window_days=int(meta["return_window_days"]) if meta.get("return_window_days") else None,
        templates=load_templates(shop_dir),
    )
