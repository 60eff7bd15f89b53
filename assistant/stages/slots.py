"""Slot extraction from patterns and the catalog's own vocabulary, in English and Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.privacy import EMAIL

# "orderLL-123456" happens (code-switching without spaces), so only a digit may not precede.
ORDER_ID = re.compile(r"(?<!\d)LL-?\s?(\d{6})(?!\d)", re.IGNORECASE)
POSTCODE = re.compile(
    r"(?<![A-Za-z0-9-])([A-Z]\d[A-Z] ?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|D\d{2} ?[A-Z\d]{4}|\d{3,6})"
    r"(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
PRICE_MAX = re.compile(
    r"(?:under|below|less than|cheaper than|max(?:imum)?|up to|no more than|within|budget(?: of| is)?)\s*"
    r"(?:\$|usd\s*)?(\d+(?:\.\d+)?)|\$?(\d+(?:\.\d+)?)\s*(?:美元|块|元|刀)?\s*(?:以内|以下|之内)|(?:预算|低于|不超过)\s*\$?(\d+)",
    re.IGNORECASE,
)
PRICE_MIN = re.compile(
    r"(?:over|above|more than|at least)\s*\$?(\d+)|(?:高于|以上)\s*\$?(\d+)", re.IGNORECASE
)
MEASURE = re.compile(r"(\d{2,3}(?:\.\d)?)\s*(?:cm|厘米|公分)", re.IGNORECASE)
ORDINALS = {
    "first": "1", "1st": "1", "second": "2", "2nd": "2", "third": "3", "3rd": "3", "last": "-1",
    "第一": "1", "第二": "2", "第三": "3", "最后": "-1",
}  # fmt: skip
CARE = re.compile(
    r"\b(?:wash|washing|clean|care|iron|dry clean|machine washable)\b|洗|保养|护理|清洁", re.IGNORECASE
)
CHEAPER = re.compile(
    r"cheaper|less expensive|lower price|too (?:pricey|expensive)|便宜|太贵|预算低", re.IGNORECASE
)
COLOURS_ZH = {"黑色": "black", "白色": "white", "藏青色": "navy", "红色": "red", "蓝色": "blue", "绿色": "green",
              "灰色": "grey", "米色": "beige", "粉色": "pink", "棕色": "brown", "黄色": "yellow", "紫色": "purple"}  # fmt: skip
COLOUR_ALIASES = {
    "gray": "grey",
    "navy blue": "navy",
    "黑": "black",
    "白": "white",
    "红": "red",
    "蓝": "blue",
}
CATEGORY_WORDS = {
    "apparel": ["clothes", "clothing", "apparel", "衣服", "服装"], "shoes": ["shoes", "footwear", "鞋子", "鞋"],
    "bags": ["bags", "bag", "luggage", "包"], "electronics": ["electronics", "gadgets", "电子产品", "数码"],
    "home": ["home", "homeware", "bedding", "家居"], "kitchen": ["kitchen", "cookware", "厨房"],
    "beauty": ["beauty", "skincare", "cosmetics", "护肤品", "美妆"], "sports": ["sports", "fitness", "outdoor", "运动"],
    "kids": ["kids", "children", "toys", "儿童", "玩具"], "pets": ["pets", "pet", "dog", "cat", "宠物"],
    "stationery": ["stationery", "notebooks", "pens", "文具"], "jewelry": ["jewelry", "jewellery", "watches", "首饰", "珠宝"],
}  # fmt: skip
# Letter sizes only with context ("size M", "in an M", "M码"): a bare "m" is usually a word ("I'm").
SIZES = re.compile(
    r"(?:\b[Ss]ize\s*|\bin (?:an? )?|尺码\s*|穿\s*)(XXL|XL|XS|S|M|L)\b|\b(XXL|XL|XS)\b|(XXL|XL|XS|S|M|L)\s*码"
    r"|(?:\b[Ss]ize|\bEU|欧码)\s*(\d{2})\b|(?<!\d)(\d{2})\s*码"
)


@dataclass(frozen=True)
class Vocabulary:
    """Names the catalog uses: brands, product types and categories in both languages, regions, codes."""

    brands: tuple[str, ...]
    product_types: dict[str, str]  # surface form (en or zh) -> canonical English type
    type_category: dict[str, str]  # canonical type -> top-level category
    regions: dict[str, str]  # surface form -> region key
    promo_codes: tuple[str, ...]

    @classmethod
    def from_catalog(cls, products: Iterable[dict], passages: Iterable[dict] = ()) -> Vocabulary:
        brands, types, type_category = set(), {}, {}
        for product in products:
            brands.add(product["brand"])
            names = product.get("product_type") or {}
            canonical = names.get("en") or product["category"][-1]
            for surface in names.values():
                types[surface.lower()] = canonical
            type_category[canonical] = product["category"][0]
        codes = sorted(
            {str(p.get("facts", {}).get("code")) for p in passages if p.get("facts", {}).get("code")}
        )
        return cls(
            tuple(sorted(brands, key=len, reverse=True)), types, type_category, dict(REGIONS), tuple(codes)
        )


REGIONS = {
    "the us": "US", "usa": "US", "united states": "US", "america": "US", "美国": "US", "canada": "CA", "加拿大": "CA",
    "the uk": "UK", "uk": "UK", "united kingdom": "UK", "britain": "UK", "英国": "UK", "germany": "EU", "france": "EU",
    "europe": "EU", "eu": "EU", "德国": "EU", "法国": "EU", "欧洲": "EU", "china": "CN", "中国": "CN", "大陆": "CN",
    "hong kong": "HK", "香港": "HK", "macau": "HK", "澳门": "HK", "taiwan": "TW", "台湾": "TW", "japan": "JP",
    "日本": "JP", "korea": "JP", "韩国": "JP", "singapore": "SG", "新加坡": "SG", "malaysia": "SG", "马来西亚": "SG",
    "australia": "AU", "澳洲": "AU", "澳大利亚": "AU", "new zealand": "AU", "新西兰": "AU",
}  # fmt: skip


def _word(surface: str) -> str:
    """A regex for `surface` as a whole word (Latin) or a substring (CJK)."""
    escaped = re.escape(surface)
    return escaped if not surface.isascii() else rf"(?<![\w]){escaped}(?![\w])"


class SlotExtractor:
    """Finds slot values in a message; values are the canonical form, found in the text."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        surfaces = sorted(vocabulary.product_types, key=len, reverse=True)
        self._types = re.compile("|".join(_word(s) for s in surfaces), re.IGNORECASE) if surfaces else None
        self._brands = (
            re.compile("|".join(_word(b) for b in vocabulary.brands), re.IGNORECASE)
            if vocabulary.brands
            else None
        )
        regions = sorted(vocabulary.regions, key=len, reverse=True)
        self._regions = re.compile("|".join(_word(r) for r in regions), re.IGNORECASE)
        colours = ["black", "white", "navy", "red", "blue", "green", "grey", "gray", "beige", "pink", "brown",
                   "yellow", "purple", *COLOURS_ZH]  # fmt: skip
        self._colours = re.compile(
            "|".join(_word(c) for c in sorted(colours, key=len, reverse=True)), re.IGNORECASE
        )

    def extract(self, text: str, *, expecting_details: bool = False) -> dict[str, str]:
        """Slots in `text`. Postcodes are only read when the assistant asked for verification."""
        slots: dict[str, str] = {}
        if m := ORDER_ID.search(text):
            slots["order_id"] = f"LL-{m.group(1)}"
        if m := EMAIL.search(text):
            slots["email"] = m.group().lower()
        if expecting_details and "email" not in slots:
            rest = ORDER_ID.sub(" ", text)
            if m := POSTCODE.search(rest):
                slots["postcode"] = m.group(1).upper()
        if self._types and (m := self._types.search(text)):
            canonical = self.vocabulary.product_types[m.group().lower()]
            slots["product_type"] = canonical
            slots["category"] = self.vocabulary.type_category.get(canonical, "")
        for category, words in CATEGORY_WORDS.items():
            if "category" not in slots and any(re.search(_word(w), text, re.IGNORECASE) for w in words):
                slots["category"] = category
        if self._brands and (m := self._brands.search(text)):
            slots["brand"] = next(b for b in self.vocabulary.brands if b.lower() == m.group().lower())
        if m := self._colours.search(text):
            value = m.group().lower()
            slots["colour"] = COLOURS_ZH.get(m.group(), COLOUR_ALIASES.get(value, value))
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
        if m := self._regions.search(text):
            slots["region"] = self.vocabulary.regions[m.group().lower()]
        for code in self.vocabulary.promo_codes:
            if re.search(_word(code), text, re.IGNORECASE):
                slots["code"] = code
        return {k: v for k, v in slots.items() if v}
