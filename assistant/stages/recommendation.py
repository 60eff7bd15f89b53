"""Recommendation: retrieved candidates, constrained by slots, ranked and diversified, with reasons."""

from __future__ import annotations

import math

from assistant.catalog import ShopKnowledge
from assistant.schema import DialogueState, Hit, ProductCard

COLOUR_ZH = {"black": "黑色", "white": "白色", "navy": "藏青色", "red": "红色", "blue": "蓝色", "green": "绿色",
             "grey": "灰色", "beige": "米色", "pink": "粉色", "brown": "棕色", "yellow": "黄色", "purple": "紫色"}  # fmt: skip


def product_filters(slots: dict[str, str], language: str, *, max_price: float | None) -> dict:
    """Chroma `where` for product search from the conversation's slots."""
    clauses: list[dict] = [{"language": language}, {"in_stock": True}]
    if slots.get("category"):
        clauses.append({"category": slots["category"]})
    if slots.get("product_type"):
        clauses.append({"product_type": slots["product_type"]})
    if slots.get("colour"):
        clauses.append({"colour": slots["colour"]})
    if slots.get("brand"):
        clauses.append({"brand": slots["brand"]})
    if max_price is not None:
        clauses.append({"price": {"$lte": max_price}})
    if slots.get("price_min"):
        clauses.append({"price": {"$gte": float(slots["price_min"])}})
    return {"$and": clauses}


class Recommender:
    """Ranks candidate products by relevance, rating, popularity and "bought together" links."""

    def __init__(self, shop: ShopKnowledge, *, top_k: int = 3) -> None:
        self.shop = shop
        self.top_k = top_k

    def recommend(
        self, hits: tuple[Hit, ...], *, slots: dict[str, str], state: DialogueState, language: str
    ) -> tuple[ProductCard, ...]:
        shown = set(state.products_shown)
        linked = {
            other
            for pid in state.products_shown
            for other in self.shop.products.get(pid, {}).get("bought_together", [])
        }
        scored: list[tuple[float, dict, str]] = []
        seen: set[str] = set()
        for hit in hits:
            product = self.shop.products.get(str(hit.metadata.get("product_id")))
            if product is None or product["id"] in seen or product["stock"] <= 0:
                continue
            seen.add(product["id"])
            relevance = hit.score * 30  # RRF scores are ~1/60; bring them to the 0..1 range
            quality = (product["rating"] - 3) / 2 * 0.5 + math.log1p(product["review_count"]) / 10
            bonus = 0.3 if product["id"] in linked else 0.0
            repeat = -0.5 if product["id"] in shown and not slots.get("ordinal") else 0.0
            scored.append((relevance + quality + bonus + repeat, product, "linked" if bonus else ""))
        scored.sort(key=lambda item: (-item[0], item[1]["id"]))
        chosen: list[tuple[dict, str]] = []
        brands: set[str] = set()
        for _, product, why in scored:  # one per brand first, then fill up
            if product["brand"] not in brands:
                chosen.append((product, why))
                brands.add(product["brand"])
            if len(chosen) == self.top_k:
                break
        for _, product, why in scored:
            if len(chosen) == self.top_k:
                break
            if all(product["id"] != c["id"] for c, _ in chosen):
                chosen.append((product, why))
        return tuple(self._card(product, why, slots, language) for product, why in chosen)

    def _card(self, product: dict, why: str, slots: dict[str, str], language: str) -> ProductCard:
        colour = str(product.get("attributes", {}).get("colour", ""))
        if language == "zh":
            parts = [f"{product['review_count']}位顾客评分{product['rating']}"]
            if slots.get("price_max"):
                parts.append(f"价格${product['price']:.2f}，在您的${slots['price_max']}预算内")
            if slots.get("colour") and colour == slots["colour"]:
                parts.append(COLOUR_ZH.get(colour, colour))
            if why == "linked":
                parts.append("常与您看过的商品一起购买")
            reason = "，".join(parts)
        else:
            parts = [f"rated {product['rating']} by {product['review_count']} shoppers"]
            if slots.get("price_max"):
                parts.append(f"${product['price']:.2f}, within your ${slots['price_max']} budget")
            if slots.get("colour") and colour == slots["colour"]:
                parts.append(f"in {colour}")
            if why == "linked":
                parts.append("often bought with what you looked at")
            reason = "; ".join(parts)
        return ProductCard(
            product_id=product["id"],
            title=product["title"][language if language in product["title"] else "en"],
            price=float(product["price"]),
            currency=product.get("currency", "USD"),
            reason=reason,
            in_stock=product["stock"] > 0,
            image=product.get("image"),
        )
