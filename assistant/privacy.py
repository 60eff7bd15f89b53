"""Personal-data detection and redaction for stored logs and imports.

Finds e-mail addresses, phone numbers and payment card numbers (Luhn-checked, so order numbers
and tracking numbers survive) and replaces them with placeholders such as ``[EMAIL]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![+A-Za-z0-9])(?:\d[ -]?){12,18}\d\b")
# Digit groups as people write phone numbers; never part of a longer digit run (cards, ids).
PHONE = re.compile(
    r"(?<![A-Za-z0-9-])(?<!\d[ .-])"
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}(?:[ .-]\d{3,4})?"
    r"(?![A-Za-z0-9-])(?![ .-]\d)"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find_personal_data(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) for every e-mail, card number and phone number in `text`."""
    found: list[tuple[str, str]] = [("email", m.group()) for m in EMAIL.finditer(text)]
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            found.append(("card", m.group()))
    scrubbed = EMAIL.sub(" ", text)
    found += [
        ("phone", m.group()) for m in PHONE.finditer(scrubbed) if len(re.sub(r"\D", "", m.group())) >= 7
    ]
    return found


def redact(text: str, *, names: Iterable[str] = ()) -> str:
    """`text` with e-mails, card numbers, phone numbers and the given names replaced by placeholders."""
    out = EMAIL.sub("[EMAIL]", text)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group()

    out = CARD.sub(card, out)
    out = PHONE.sub(lambda m: "[PHONE]" if len(re.sub(r"\D", "", m.group())) >= 7 else m.group(), out)
    for name in sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True):
        out = re.sub(re.escape(name), "[NAME]", out, flags=re.IGNORECASE)
    return out
