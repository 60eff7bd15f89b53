"""Slot extraction from patterns and the catalog's own vocabulary, in English and Chinese.

Everything shop-specific comes from the shop: order numbers from `shop.json`, and brands, product types,
categories, colours, materials and sizes from the catalog itself (`Vocabulary.from_catalog`, at start-up and
index time), plus the shop's own aliases ("clothes" for a category, "the UK" for a shipping region).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.catalog import ShopKnowledge
from assistant.privacy import EMAIL
from assistant.shop import OrderNumberFormat, ShopProfile, colour_names, localised

POSTCODE = re.compile(
    r"(?<![A-Za-z0-9-])([A-Z]\d[A-Z] ?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|D\d{2} ?[A-Z\d]{4}|\d{3,6})"
    r"(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
POSTCODE_CUE = re.compile(r"post ?code|zip(?: code)?|postal code|邮编|邮政编码", re.IGNORECASE)
# A currency sign or code before an amount ("$20", "£20", "EUR 20", "usd20").
_SIGN = r"(?:[$€£¥￥]|(?:usd|eur|gbp|cad|aud|cny|rmb)\s*)"
PRICE_MAX = re.compile(
    r"(?:under|below|less than|cheaper than|max(?:imum)?|up to|no more than|within|budget(?: of| is)?)\s*"
    rf"{_SIGN}?(\d+(?:\.\d+)?)|{_SIGN}?(\d+(?:\.\d+)?)\s*(?:美元|块|元|刀|英镑|欧元)?\s*(?:以内|以下|之内)"
    rf"|(?:预算|低于|不超过)\s*{_SIGN}?(\d+)",
    re.IGNORECASE,
)
PRICE_MIN = re.compile(
    rf"(?:over|above|more than|at least)\s*{_SIGN}?(\d+)|(?:高于|以上)\s*{_SIGN}?(\d+)", re.IGNORECASE
)

MEASURE = re.compile(r"(\d{2,3}(?:\.\d)?)\s*(?:cm|厘米|公分)", re.IGNORECASE)
ORDINALS = {
    "first": "1", "1st": "1", "second": "2", "2nd": "2", "third": "3", "3rd": "3", "last": "-1",
    "第一": "1", "第二": "2", "第三": "3", "最后": "-1",
}  # fmt: skip
# How to look after, use or keep something ("cast iron" is a material, not ironing).
CARE = re.compile(
    r"\b(?:wash|washing|clean|cleaning|care for|look after|ironing|iron it|dry clean|machine washable|brew|brewing|"
    r"steep|steeping|store|storing|keep (?:\w+ ){0,3}fresh|water temperature|what temperature)\b"
    r"|洗|保养|护理|清洁|冲泡|保存|储存",
    re.IGNORECASE,
)
CHEAPER = re.compile(
    r"cheaper|less expensive|lower price|too (?:pricey|expensive)|便宜|太贵|预算低", re.IGNORECASE
)
# Letter sizes only with context ("size M", "in an M", "M码"): a bare "m" is usually a word ("I'm").
SIZES = re.compile(
    r"(?:\b[Ss]ize\s*|\bin (?:an? )?|尺码\s*|穿\s*)(XXL|XL|XS|S|M|L)\b|\b(XXL|XL|XS)\b|(XXL|XL|XS|S|M|L)\s*码"
    r"|(?:\b[Ss]ize|\bEU|欧码)\s*(\d{2})\b|(?<!\d)(\d{2})\s*码"
)


# Cues that a brand which is also an ordinary word is meant as the brand ("from Everyday", "Simple brand"); it
# also counts when written with its capitals mid-sentence ("is the Everyday mug dishwasher safe").
BRAND_CUES = (r"(?:from|by|brand)\s+{brand}", r"{brand}\s+(?:brand|make)", r"{brand}\s*(?:牌|品牌)")


@dataclass(frozen=True)
class Vocabulary:
    """Names the catalog uses: brands, product types, categories, colours, materials and sizes in the shop's
    languages, shipping regions and promotion codes."""

    brands: tuple[str, ...]
    product_types: dict[str, str]  # surface form (any language) -> canonical type
    type_categories: dict[str, tuple[str, ...]]  # canonical type -> the top-level categories it occurs in
    regions: dict[str, str] = field(default_factory=dict)  # surface form -> region key
    promo_codes: tuple[str, ...] = ()
    categories: dict[str, str] = field(default_factory=dict)  # surface form -> top-level category
    colours: dict[str, str] = field(default_factory=dict)  # surface form -> canonical colour
    materials: dict[str, str] = field(default_factory=dict)  # surface form -> material
    sizes: tuple[str, ...] = ()
    common_word_brands: tuple[str, ...] = ()  # brands that are also ordinary words: matched only with a cue
    order_number: OrderNumberFormat = field(default_factory=lambda: ShopProfile().order_number)

    @property
    def type_category(self) -> dict[str, str]:
        """Types that belong to exactly one category -> that category."""
        return {t: cats[0] for t, cats in self.type_categories.items() if len(cats) == 1}

    @classmethod
    def of_shop(cls, shop: ShopKnowledge) -> Vocabulary:
        """The vocabulary of the shop's catalog, passages and shop.json aliases."""
        return cls.from_catalog(shop.products.values(), shop.passages.values(), shop.profile)

    @classmethod
    def from_catalog(
        cls, products: Iterable[dict], passages: Iterable[dict] = (), profile: ShopProfile | None = None
    ) -> Vocabulary:
        products, passages = list(products), list(passages)
        profile = profile or ShopProfile()
        brands: set[str] = set()
        types: dict[str, str] = {}
        type_categories: dict[str, set[str]] = {}
        categories: dict[str, str] = {}
        colours: dict[str, str] = {}
        materials: dict[str, str] = {}
        sizes: set[str] = set()
        lexicon = colour_names()
        for product in products:
            if product.get("brand"):
                brands.add(str(product["brand"]))
            path = [str(c) for c in product.get("category") or ()]
            top = path[0] if path else ""
            names = product.get("product_type") or {}
            names = names if isinstance(names, dict) else {"en": str(names)}
            canonical = localised(names, "en") or (path[-1] if len(path) > 1 else "")
            if canonical:
                for surface in {canonical, *names.values()}:
                    if surface:
                        for form in _forms(str(surface).lower()):
                            types.setdefault(form, canonical)
                if top:
                    type_categories.setdefault(canonical, set()).add(top)
            if top:
                categories.setdefault(top.lower(), top)
                category_names = product.get("category_name") or {}
                for name in category_names.values() if isinstance(category_names, dict) else ():
                    first = str(name).split(">")[0].strip()
                    if first:
                        categories.setdefault(first.lower(), top)
            attributes = product.get("attributes") or {}
            if attributes.get("colour"):
                colour = str(attributes["colour"]).lower()
                colours[colour] = colour
                for surfaces in lexicon.get(colour, {}).values():
                    for surface in surfaces:
                        colours.setdefault(surface.lower(), colour)
            if attributes.get("material"):
                material = str(attributes["material"]).lower()
                materials[material] = material
            sizes.update(str(s).upper() for s in attributes.get("sizes") or ())
        for top, words in (profile.aliases.get("categories") or {}).items():
            for word in words:
                categories.setdefault(word.lower(), top)
        regions = {
            surface.lower(): key
            for key, surfaces in (profile.aliases.get("regions") or {}).items()
            for surface in surfaces
        }
        codes = sorted(
            {str(p.get("facts", {}).get("code")) for p in passages if (p.get("facts") or {}).get("code")}
        )
        common = common_words(products, passages)
        return cls(
            brands=tuple(sorted(brands, key=len, reverse=True)),
            product_types=types,
            type_categories={t: tuple(sorted(c)) for t, c in type_categories.items()},
            regions=regions,
            promo_codes=tuple(codes),
            categories=categories,
            colours=colours,
            materials=materials,
            sizes=tuple(sorted(sizes)),
            common_word_brands=tuple(sorted(b for b in brands if b.lower() in common)),
            order_number=profile.order_number,
        )


def _forms(surface: str) -> tuple[str, ...]:
    """A product-type name and, for English, its plural ("teapot" -> "teapots", "dress" -> "dresses")."""
    if not surface.isascii() or not surface[-1:].isalpha() or surface.endswith("s"):
        return (surface,)
    plural = surface + ("es" if surface.endswith(("sh", "ch", "x", "z")) else "s")
    return (surface, plural)


def common_words(products: Iterable[dict], passages: Iterable[dict]) -> set[str]:
    """Lower-case words the shop's own texts use as ordinary words: words in the titles and descriptions of
    products of *other* brands, and in the passages. A brand among them is matched only with a cue."""
    seen: set[str] = set()
    for product in products:
        brand = str(product.get("brand") or "").lower()
        for key in ("title", "description"):
            value = product.get(key)
            for text in value.values() if isinstance(value, dict) else [value or ""]:
                seen.update(w for w in re.findall(r"[a-z][a-z'-]+", str(text).lower()) if w != brand)
    for passage in passages:
        seen.update(re.findall(r"[a-z][a-z'-]+", str(passage.get("text", "")).lower()))
    return seen


def _word(surface: str) -> str:
    """A regex for `surface` as a whole word (Latin) or a substring (CJK)."""
    escaped = re.escape(surface)
    return escaped if not surface.isascii() else rf"(?<![\w]){escaped}(?![\w])"


def _written_as_a_name(pattern: re.Pattern[str], text: str) -> bool:
    """Whether a brand that is also a common word is written as a name: in its own capitals, and not where any
    word would be capitalised (the start of the message or of a sentence)."""
    for m in pattern.finditer(text):
        before = text[: m.start()].rstrip()
        if before and before[-1] not in ".!?。！？":
            return True
    return False


def _alternation(surfaces: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({s for s in surfaces if s}, key=len, reverse=True)
    return re.compile("|".join(_word(s) for s in ordered), re.IGNORECASE) if ordered else None


class SlotExtractor:
    """Finds slot values in a message; values are the canonical form, found in the text."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        common = {b.lower() for b in vocabulary.common_word_brands}
        self._types = _alternation(vocabulary.product_types)
        self._brands = _alternation(b for b in vocabulary.brands if b.lower() not in common)
        self._cued_brands = [
            (
                brand,
                re.compile("|".join(cue.format(brand=_word(brand)) for cue in BRAND_CUES), re.IGNORECASE),
                re.compile(_word(brand)),
            )
            for brand in vocabulary.common_word_brands
        ]
        self._regions = _alternation(vocabulary.regions)
        self._categories = _alternation(vocabulary.categories)
        self._colours = _alternation(vocabulary.colours)
        self._materials = _alternation(vocabulary.materials)

    def extract(self, text: str, *, expecting_details: bool = False) -> dict[str, str]:
        """Slots in `text`. Postcodes are only read when the assistant asked for verification."""
        v = self.vocabulary
        slots: dict[str, str] = {}
        if order_id := v.order_number.find(text):
            slots["order_id"] = order_id
        if m := EMAIL.search(text):
            slots["email"] = m.group().lower()
        # A postcode is read when details were asked for, or when the message itself says it gives one
        # together with an order number ("order LL-1, postcode 510000"); never from a stray number.
        if "email" not in slots and (
            expecting_details or ("order_id" in slots and POSTCODE_CUE.search(text))
        ):
            rest = v.order_number.remove(text)
            if m := POSTCODE.search(rest):
                slots["postcode"] = m.group(1).upper()
        if self._types and (m := self._types.search(text)):
            canonical = v.product_types[m.group().lower()]
            slots["product_type"] = canonical
            slots["category"] = v.type_category.get(canonical, "")  # none when the type spans categories
        if not slots.get("category") and self._categories and (m := self._categories.search(text)):
            slots["category"] = v.categories[m.group().lower()]
        if self._brands and (m := self._brands.search(text)):
            slots["brand"] = next(b for b in v.brands if b.lower() == m.group().lower())
        if "brand" not in slots:
            for brand, cue, exact in self._cued_brands:
                if cue.search(text) or _written_as_a_name(exact, text):
                    slots["brand"] = brand
                    break
        if self._colours and (m := self._colours.search(text)):
            slots["colour"] = v.colours[m.group().lower()]
        if self._materials and (m := self._materials.search(text)):
            slots["material"] = v.materials[m.group().lower()]
        if m := PRICE_MAX.search(text):
            slots["price_max"] = next(g for g in m.groups() if g)
        if m := PRICE_MIN.search(text):
            slots["price_min"] = next(g for g in m.groups() if g)
        if CHEAPER.search(text):
            slots["cheaper"] = "yes"
        if CARE.search(text):
            slots["care"] = "yes"
        if m := MEASURE.search(text):
            slots["measure"] = m.group(1)
        if m := SIZES.search(text):
            slots["size"] = next(g for g in m.groups() if g).upper()
        for word, value in ORDINALS.items():
            if re.search(_word(word), text, re.IGNORECASE):
                slots["ordinal"] = value
                break
        if self._regions and (m := self._regions.search(text)):
            slots["region"] = v.regions[m.group().lower()]
        for code in v.promo_codes:
            if re.search(_word(code), text, re.IGNORECASE):
                slots["code"] = code
        return {key: value for key, value in slots.items() if value}
