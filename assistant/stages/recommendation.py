"""Recommendation: retrieved candidates, constrained by slots, ranked and diversified, with reasons.

Relevance comes first (the retrieval rank); quality only reorders close neighbours. A rating counts in
proportion to how many reviews stand behind it: it is shrunk toward the catalog's mean rating (a Bayesian
average), so a 5.0 from no reviews is no signal, and a product without a rating is simply not boosted.
"""

from __future__ import annotations

from assistant.catalog import ShopKnowledge
from assistant.schema import DialogueState, Hit, ProductCard
from assistant.shop import colour_names
from assistant.stages.generation import render

PRIOR_REVIEWS = 10  # a rating from this many reviews is weighted as much as the catalog's mean
QUALITY_WEIGHT = 0.08  # per star above the mean: reorders neighbours, not the best match with the tenth
LINKED_BONUS = 0.12  # "bought together" with something the shopper looked at


def colour_in(colour: str, language: str) -> str:
    names = colour_names().get(colour, {}).get(language)
    return names[0] if names else colour


def product_filters(constraints: dict[str, str], language: str, *, in_stock_only: bool = True) -> dict:
    """Chroma `where` for product search from the shopper's constraints (sizes are checked by `meets`)."""
    clauses: list[dict] = [{"language": language}, *([{"in_stock": True}] if in_stock_only else [])]
    for key in ("category", "product_type", "colour", "brand", "material"):
        if constraints.get(key):
            clauses.append({key: constraints[key]})
    for key, operator in (("price_max", "$lte"), ("price_min", "$gte")):
        try:
            if constraints.get(key):
                clauses.append({"price": {operator: float(constraints[key])}})
        except ValueError:
            continue
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def meets(product: dict | None, constraints: dict[str, str]) -> bool:
    """Whether `product` meets the constraints the index cannot filter on (sizes are lists)."""
    if product is None:
        return False
    size = constraints.get("size")
    if size:
        sizes = [str(s).upper() for s in (product.get("attributes") or {}).get("sizes") or ()]
        return size.upper() in sizes
    return True


def describe_constraint(key: str, slots: dict[str, str], max_price: float | None, shop: ShopKnowledge,
                        language: str) -> str:  # fmt: skip
    """A constraint as the reply names it ("in red", "under £20.00"), in the shop's wording."""
    value = slots.get(key, "")
    if key == "colour":
        value = colour_in(value, language)
    elif key == "price_max" and max_price is not None:
        value = shop.profile.price(max_price, language)
    elif key == "price_min":
        value = shop.profile.price(float(value), language)
    return render(shop.profile, f"constraint_{key}", language, {"value": value}) if value else key


class Recommender:
    """Ranks candidate products by relevance, then rating (shrunk by review count), popularity and
    "bought together" links; diversifies brands; gives each a reason the shopper can read."""

    def __init__(self, shop: ShopKnowledge, *, top_k: int = 3) -> None:
        self.shop = shop
        self.top_k = top_k
        rated = [(float(p["rating"]), int(p.get("review_count") or 0)) for p in shop.products.values()
                 if p.get("rating") is not None and p.get("review_count")]  # fmt: skip
        total = sum(n for _, n in rated)
        self.mean_rating = sum(r * n for r, n in rated) / total if total else 3.5

    def shrunk_rating(self, product: dict) -> float:
        """The Bayesian average of the product's rating: its reviews weigh against PRIOR_REVIEWS at the mean."""
        rating, reviews = product.get("rating"), int(product.get("review_count") or 0)
        if rating is None or reviews <= 0:
            return self.mean_rating
        return (float(rating) * reviews + self.mean_rating * PRIOR_REVIEWS) / (reviews + PRIOR_REVIEWS)

    def recommend(
        self, hits: tuple[Hit, ...], *, slots: dict[str, str], state: DialogueState, language: str
    ) -> tuple[ProductCard, ...]:
        shown = set(state.products_shown)
        linked = {
            other
            for pid in state.products_shown
            for other in self.shop.products.get(pid, {}).get("bought_together", []) or []
        }
        scored: list[tuple[float, dict, str]] = []
        seen: set[str] = set()
        top = max((h.score for h in hits), default=0.0)
        for rank, hit in enumerate(hits):
            product = self.shop.products.get(str(hit.metadata.get("product_id")))
            if (
                product is None
                or product["id"] in seen
                or (product.get("stock") is not None and product["stock"] <= 0)
            ):
                continue
            seen.add(product["id"])
            # Fused retrieval scores of neighbours are close (RRF: 2/61 vs 2/62), so quality reorders neighbours
            # while a clearly better match keeps its lead; scores that are not positive fall back to the rank.
            relevance = hit.score / top if top > 0 else 1.0 / (1 + rank)
            quality = QUALITY_WEIGHT * (self.shrunk_rating(product) - self.mean_rating)
            bonus = LINKED_BONUS if product["id"] in linked else 0.0
            repeat = -0.5 if product["id"] in shown and not slots.get("ordinal") else 0.0
            scored.append((relevance + quality + bonus + repeat, product, "linked" if bonus else ""))
        scored.sort(key=lambda item: (-item[0], item[1]["id"]))
        chosen: list[tuple[dict, str]] = []
        brands: set[str] = set()
        for _, product, why in scored:  # one per brand first, then fill up
            brand = str(product.get("brand") or product["id"])  # no brand: each product its own
            if brand not in brands:
                chosen.append((product, why))
                brands.add(brand)
            if len(chosen) == self.top_k:
                break
        for _, product, why in scored:
            if len(chosen) == self.top_k:
                break
            if all(product["id"] != c["id"] for c, _ in chosen):
                chosen.append((product, why))
        return tuple(self._card(product, why, slots, language) for product, why in chosen)

    def _card(self, product: dict, why: str, slots: dict[str, str], language: str) -> ProductCard:
        attributes = product.get("attributes") or {}
        colour = str(attributes.get("colour", ""))
        profile = self.shop.profile

        def say(key: str, **facts: str) -> str:
            return render(profile, key, language, facts)

        parts = []
        reviews = int(product.get("review_count") or 0)
        if product.get("rating") is not None and reviews > 0:
            rating = str(product["rating"])
            parts.append(say("reason_rated_once", rating=rating) if reviews == 1 else
                         say("reason_rated", rating=rating, reviews=str(reviews)))  # fmt: skip
        price = profile.price(float(product["price"]), language, product.get("currency"))
        if slots.get("price_max"):
            parts.append(
                say("reason_budget", price=price, budget=profile.price(float(slots["price_max"]), language))
            )
        if colour and slots.get("colour"):
            if colour != slots["colour"]:
                parts.append(say("reason_other_colour", colour=colour_in(colour, language),
                                 wanted=colour_in(slots["colour"], language)))  # fmt: skip
            else:
                parts.append(say("reason_colour", colour=colour_in(colour, language)))
        if slots.get("brand") and product.get("brand") and product["brand"] != slots["brand"]:
            parts.append(say("reason_other_brand", brand=str(product["brand"])))
        if why == "linked":
            parts.append(say("reason_linked"))
        if not parts:
            parts.append(say("reason_closest"))
        return ProductCard(
            product_id=product["id"],
            title=self.shop.title(product, language),
            price=float(product["price"]),
            currency=product.get("currency") or self.shop.profile.currency,
            reason=say("reason_separator").join(parts),
            in_stock=None if product.get("stock") is None else product["stock"] > 0,
            image=product.get("image"),
            price_text=price,
        )
