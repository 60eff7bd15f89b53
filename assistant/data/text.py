"""Plain text from the HTML and Markdown that shops export, and the checkable facts in a passage.

`extract_facts` finds what a grounded answer must reproduce exactly: amounts of money, durations (days,
hours, weeks, minutes), percentages, dates, opening hours, phone numbers (via phonenumbers) and e-mail
addresses. Each fact is named by its kind and, where the sentence says what it is about, by that too
(`window_days` for "return within 30 days", `free_over` for "free on orders over £40").
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from assistant.privacy import EMAIL, phone_spans

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "section",
              "article", "ul", "ol", "table", "blockquote"}  # fmt: skip
SKIPPED_TAGS = {"script", "style", "nav", "footer", "header", "noscript", "template", "svg", "form"}
HEADING_TAGS = {"h1", "h2", "h3", "h4"}


class _Blocks(HTMLParser):
    """Collects (kind, text) blocks: headings and paragraphs, skipping scripts, styles and navigation."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._buffer: list[str] = []
        self._skipping = 0
        self._kind = "text"

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self._buffer)).strip()
        if text:
            self.blocks.append((self._kind, text))
        self._buffer, self._kind = [], "text"

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping += 1
        elif tag in BLOCK_TAGS:
            self._flush()
            if tag in HEADING_TAGS:
                self._kind = "heading"

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(markup: str) -> list[tuple[str, str]]:
    """("heading" | "text", text) blocks of an HTML page, in order."""
    parser = _Blocks()
    parser.feed(markup)
    parser.close()
    return parser.blocks


def html_text(markup: str) -> str:
    """Plain text of an HTML fragment (a product description): tags dropped, entities decoded."""
    if "<" not in markup:
        return re.sub(r"\s+", " ", html.unescape(markup)).strip()
    return " ".join(text for _, text in html_blocks(markup))


def markdown_blocks(source: str) -> list[tuple[str, str]]:
    """("heading" | "text", text) blocks of a Markdown page (CommonMark, via markdown-it-py)."""
    from markdown_it import MarkdownIt

    blocks: list[tuple[str, str]] = []
    kind = "text"
    for token in MarkdownIt("commonmark").parse(source):
        if token.type == "heading_open":
            kind = "heading"
        elif token.type == "inline":
            text = "".join(
                child.content for child in token.children or () if child.type in ("text", "code_inline")
            )
            text = re.sub(r"\s+", " ", text or token.content).strip()
            if text:
                blocks.append((kind, text))
        elif token.type == "heading_close":
            kind = "text"
    return blocks


def text_blocks(source: str) -> list[tuple[str, str]]:
    """Blocks of a plain-text page: paragraphs split by blank lines; a short line without a full stop before a
    paragraph is its heading."""
    blocks: list[tuple[str, str]] = []
    for paragraph in re.split(r"\n\s*\n", source):
        lines = [line.strip() for line in paragraph.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if len(lines) > 1 and len(lines[0]) < 80 and not lines[0].endswith((".", "。")):
            blocks.append(("heading", lines[0].rstrip(":：")))
            lines = lines[1:]
        if lines:
            blocks.append(("text", " ".join(lines)))
    return blocks


# ------------------------------------------------------------------------------ facts
_MONEY = re.compile(
    r"(?:(?:US|CA|A|NZ|HK|S)?\$|€|£|¥|￥|₹)\s?\d[\d,]*(?:\.\d{1,2})?|\d[\d,]*(?:\.\d{1,2})?\s?(?:USD|EUR|GBP|CAD|AUD|CNY|RMB|元|欧元|英镑)"
)
_DURATION = re.compile(
    r"(\d+(?:\s?(?:-|–|to)\s?\d+)?)\s?(?:(?:business|working|calendar)\s)?(days?|hours?|weeks?|months?|minutes?|mins?)\b"
    r"|(\d+(?:-\d+)?)\s?个?(?:工作)?(天|日|小时|周|个月|分钟)",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"\d+(?:\.\d+)?\s?%")
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}\b"
)
# Opening hours: a time range in which at least the start has minutes or am/pm ("9:00 to 17:30", "9am-5pm").
_HOURS = re.compile(
    r"\b\d{1,2}(?::\d{2}\s?(?:am|pm)?|\s?(?:am|pm))\s?(?:-|–|to|until)\s?\d{1,2}(?::\d{2})?\s?(?:am|pm)?",
    re.IGNORECASE,
)
_CODE = re.compile(r"(?:code|coupon|voucher|优惠码|折扣码)\s*[:：]?\s*([A-Z][A-Z0-9]{3,19})\b")
_UNITS = {"day": "days", "hour": "hours", "week": "weeks", "month": "months", "minute": "minutes", "min": "minutes",
          "天": "days", "日": "days", "小时": "hours", "周": "weeks", "个月": "months", "分钟": "minutes"}  # fmt: skip
# What a sentence is about, for naming its facts ("return within 30 days" -> window_days).
_ABOUT = (
    (re.compile(r"\breturn|退货|退换", re.I), "window"), (re.compile(r"\brefund|退款", re.I), "refund"),
    (re.compile(r"\bdeliver|\bship|\bdispatch|配送|发货", re.I), "delivery"), (re.compile(r"\bwarrant|保修", re.I), "warranty"),
    (re.compile(r"\bcancel|取消", re.I), "cancel"), (re.compile(r"\brepl(?:y|ies)|\brespond|\banswer|回复", re.I), "reply"),
)  # fmt: skip


def _about(sentence: str, position: int) -> str:
    """What the fact at `position` is about: the topic word nearest before it, else the first after it."""
    before: list[tuple[int, str]] = []
    after: list[tuple[int, str]] = []
    for pattern, name in _ABOUT:
        for m in pattern.finditer(sentence):
            (before if m.start() < position else after).append((m.start(), name))
    if before:
        return max(before)[1]
    return min(after)[1] if after else ""


def extract_facts(text: str) -> dict[str, str]:
    """The checkable facts of a passage, named by kind (and topic where the sentence says it)."""
    facts: dict[str, str] = {}

    def put(name: str, value: str) -> None:
        value = value.strip()
        if value in facts.values():
            return
        key, n = name, 2
        while key in facts:
            key, n = f"{name}_{n}", n + 1
        facts[key] = value

    for sentence in re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])", text):
        money_spans = []
        for m in _MONEY.finditer(sentence):
            money_spans.append(m.span())
            before = sentence[max(0, m.start() - 25) : m.start()].lower()
            if re.search(r"(over|above|more than|at least|满|超过)\s*$", before) and re.search(
                r"free|免", sentence, re.I
            ):
                put("free_over", m.group())
            elif _about(sentence, m.start()) == "refund":
                put("refund_amount", m.group())
            else:
                put("fee", m.group())
        hours_spans = []
        for m in _HOURS.finditer(sentence):
            if not any(a <= m.start() < b for a, b in money_spans):
                hours_spans.append(m.span())
                put("hours", m.group())
        for m in _DURATION.finditer(sentence):
            if any(a <= m.start() < b for a, b in hours_spans + money_spans):
                continue
            amount = (m.group(1) or m.group(3) or "").replace("–", "-").replace(" to ", "-").replace(" ", "")
            unit = _UNITS.get((m.group(2) or m.group(4) or "").lower().rstrip("s"), "days")
            about = _about(sentence, m.start())
            put(f"{about}_{unit}" if about else unit, amount)
        for m in _PERCENT.finditer(sentence):
            put("percent", m.group().replace(" ", ""))
        for m in _DATE.finditer(sentence):
            put("date", m.group())
    for m in _CODE.finditer(text):
        put("code", m.group(1))
    for m in EMAIL.finditer(text):
        put("email", m.group())
    for start, end in phone_spans(text):
        put("phone", text[start:end])
    return facts
