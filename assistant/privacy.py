"""Personal-data detection and redaction for stored logs and imports.

Finds e-mail addresses, payment card numbers (Luhn-checked, so order numbers and tracking numbers
survive) and phone numbers, and replaces them with placeholders such as ``[EMAIL]``. Phone numbers
are found by Google's libphonenumber (the `phonenumbers` package): a number must be valid for one of
`PHONE_REGIONS` (national forms such as ``030 12345678``, ``07911 123456``, ``138 1234 5678``) or be
written internationally with ``+`` and a country code. A shop's own published contacts (its phone
number and e-mail in its FAQ) are passed as `keep` and stay as they are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable

import phonenumbers

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![+A-Za-z0-9])(?:\d[ -]?){12,18}\d\b")
# National numbers are read as if dialled in these regions (numbers in other regions' national form
# are rare in a shop's chat; written with +country code they are found whatever the region).
PHONE_REGIONS = ("US", "GB", "DE", "CN", "FR", "CA", "AU", "IN", "JP", "ES", "IT", "NL", "HK", "SG")
# "+<country code> digits" that libphonenumber does not hold valid (made-up or new ranges) are still
# someone's number as far as a log is concerned; a "+" never starts an order or tracking number.
INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w])")
# Where a phone number could be: a run of digits with the separators people type. Only these pieces
# are handed to libphonenumber, so a long message costs little more than a short one.
_CANDIDATE = re.compile(r"[+(]?\d[\d \t().\-/]{5,}\d")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


@functools.lru_cache(maxsize=4096)  # the guard and the store look at the same messages
def _valid_numbers(piece: str, regions: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    found = {
        (match.start, match.end)
        for region in regions
        for match in phonenumbers.PhoneNumberMatcher(piece, region, leniency=phonenumbers.Leniency.VALID)
    }
    return tuple(sorted(found))


def phone_spans(text: str, *, regions: Iterable[str] = PHONE_REGIONS) -> list[tuple[int, int]]:
    """(start, end) of every phone number in `text`, overlapping matches merged, in order."""
    if sum(ch.isdigit() for ch in text) < MIN_PHONE_DIGITS:
        return []
    spans: set[tuple[int, int]] = set()
    for candidate in _CANDIDATE.finditer(text):
        if len(_digits(candidate.group())) < MIN_PHONE_DIGITS:
            continue
        # A little context either side lets libphonenumber see what borders the number (a letter, a dash).
        start = max(0, candidate.start() - 2)
        spans.update(
            (start + a, start + b)
            for a, b in _valid_numbers(text[start : candidate.end() + 2], tuple(regions))
        )
    for m in INTERNATIONAL.finditer(text):
        if MIN_PHONE_DIGITS + 1 <= len(_digits(m.group())) <= MAX_PHONE_DIGITS:
            spans.add((m.start(), m.end()))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def find_personal_data(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) for every e-mail, card number and phone number in `text`."""
    found: list[tuple[str, str]] = [("email", m.group()) for m in EMAIL.finditer(text)]
    found += [("card", m.group()) for m in CARD.finditer(text) if _is_card(m.group())]
    scrubbed = CARD.sub(
        lambda m: " " * len(m.group()) if _is_card(m.group()) else m.group(), EMAIL.sub(" ", text)
    )
    found += [("phone", scrubbed[start:end]) for start, end in phone_spans(scrubbed)]
    return found


def contact_key(kind: str, value: str) -> str:
    """The form a contact is compared in: e-mails lower-cased, phone numbers as their digits."""
    return value.strip().lower() if kind == "email" else _digits(value)


def public_contacts(texts: Iterable[str]) -> frozenset[str]:
    """The e-mail addresses and phone numbers a shop publishes (in its FAQ and policy passages), as
    `contact_key`s: what `redact(..., keep=...)` leaves alone."""
    return frozenset(
        contact_key(kind, value)
        for text in texts
        for kind, value in find_personal_data(text)
        if kind != "card"
    )


def redact(text: str, *, names: Iterable[str] = (), keep: Collection[str] = ()) -> str:
    """`text` with e-mails, card numbers, phone numbers and the given names replaced by placeholders;
    contacts in `keep` (see `public_contacts`) stay."""
    out = EMAIL.sub(lambda m: m.group() if contact_key("email", m.group()) in keep else "[EMAIL]", text)
    out = CARD.sub(lambda m: "[CARD]" if _is_card(m.group()) else m.group(), out)
    for start, end in reversed(phone_spans(out)):
        if contact_key("phone", out[start:end]) not in keep:
            out = out[:start] + "[PHONE]" + out[end:]
    for name in sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True):
        out = re.sub(re.escape(name), "[NAME]", out, flags=re.IGNORECASE)
    return out
