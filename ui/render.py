"""HTML for chat messages: reply text, product cards and openable sources, every text made inert.

Chatbots here are built with `render_markdown=False`, so a message is sanitised HTML and nothing a
shopper types becomes a link or an image; `plain()` escapes text for that HTML and also turns the
characters Markdown gives meaning to into character references, so the same text stays literal in a
Markdown component too (the agent console's suggestion boxes).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from ui.strings import t

# HTML's own specials and every character Markdown gives meaning to (links, images, emphasis, code,
# autolinks such as www.x.com or a@b.c), each written as a character reference in one pass.
_SPECIAL = re.compile(r"[&<>\"'\\`*_{}\[\]()#+!|~:.@=-]")


def plain(text: str) -> str:
    """`text` as inert HTML/Markdown: shown exactly as typed, never a tag, link, image or emphasis."""
    return _SPECIAL.sub(lambda m: f"&#{ord(m.group())};", text).replace("\n", "<br>")


def card_html(card: dict[str, Any], language: str) -> str:
    """One product card: image (or a lettered placeholder), title, price, reason, stock."""
    title = escape(str(card.get("title", "")))
    image = card.get("image")
    picture = (
        f'<img class="sa-card-img" src="{escape(str(image))}" alt="{title}">'
        if image and str(image).startswith(("https://", "http://", "/"))
        else f'<div class="sa-card-img sa-card-placeholder" aria-hidden="true">{escape(title[:1] or "?")}</div>'
    )
    known = card.get("in_stock") is not None  # a shop's export may not say; then nothing is claimed
    stock = (
        (t(language, "in_stock") if card.get("in_stock") else t(language, "out_of_stock")) if known else ""
    )
    stock_class = "sa-in-stock" if card.get("in_stock") else "sa-out-of-stock"
    price = escape(
        str(card.get("price_text") or f"{float(card.get('price', 0)):.2f} {card.get('currency', '')}")
    )
    href = f"/demo/products/{escape(str(card.get('product_id', '')))}"
    return (
        f'<div class="sa-card" data-product-id="{escape(str(card.get("product_id", "")))}">{picture}'
        f'<div class="sa-card-body"><a class="sa-card-title" href="{href}" target="_blank">{title}</a>'
        f'<div class="sa-card-price">{price}</div>'
        f'<div class="sa-card-reason">{escape(str(card.get("reason", "")))}</div>'
        f'<div class="{stock_class}">{stock}</div></div></div>'
    )


def cards_html(cards: list[dict[str, Any]], language: str) -> str:
    if not cards:
        return ""
    return '<div class="sa-cards">' + "".join(card_html(c, language) for c in cards) + "</div>"


def sources_html(sources: list[dict[str, Any]], language: str) -> str:
    """Each source opens in place (passages) or links to its page (products)."""
    if not sources:
        return ""
    items = []
    for source in sources:
        title = escape(str(source.get("title") or source.get("id", "")))
        kind = source.get("kind")
        if kind == "product":
            items.append(f'<li class="sa-source"><a href="/demo/products/{escape(str(source.get("id", "")))}" '
                         f'target="_blank">🛍️ {title}</a></li>')  # fmt: skip
        else:
            text = plain(str(source.get("text", ""))) or title
            icon = "📦" if kind == "order" else "📄"
            items.append(f'<li class="sa-source"><details><summary>{icon} {title}</summary>'
                         f'<div class="sa-source-text">{text}</div></details></li>')  # fmt: skip
    return f'<div class="sa-sources"><b>{t(language, "sources")}</b><ul>{"".join(items)}</ul></div>'


def reply_html(text: str, meta: dict[str, Any], language: str) -> str:
    """A reply bubble's content: the (escaped) text, then its cards and sources."""
    body = plain(text)
    extras = cards_html(meta.get("cards", []), language) + sources_html(meta.get("sources", []), language)
    # `sa-reply` marks a finished reply (a streaming one is only `sa-text`).
    return f'<div class="sa-reply"><div class="sa-text">{body}</div>{extras}</div>'


CSS = """
.sa-cards { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
.sa-card { display: flex; gap: 8px; border: 1px solid #ddd; border-radius: 8px; padding: 6px; width: 260px; background: #fff; }
.sa-card-img { width: 64px; height: 64px; object-fit: cover; border-radius: 6px; flex: none; }
.sa-card-placeholder { display: flex; align-items: center; justify-content: center; background: #eef2ff; color: #4338ca; font-size: 28px; font-weight: 600; }
.sa-card-title { font-weight: 600; }
.sa-card-price { color: #111; }
.sa-card-reason { font-size: 12px; color: #555; }
.sa-in-stock { font-size: 12px; color: #15803d; }
.sa-out-of-stock { font-size: 12px; color: #b91c1c; }
.sa-sources { margin-top: 8px; font-size: 13px; }
.sa-sources ul { margin: 2px 0 0 0; padding-left: 16px; }
.sa-source-text { white-space: pre-wrap; color: #333; padding: 4px 0; }
"""
