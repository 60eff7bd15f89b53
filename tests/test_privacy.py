"""Personal-data detection and redaction: phone numbers in every common format (libphonenumber),
e-mails, Luhn-checked cards; order, tracking and postcodes untouched; a shop's own contacts kept."""

from __future__ import annotations

import pytest

from assistant.privacy import find_personal_data, public_contacts, redact


def test_redacts_email_phone_card_and_names() -> None:
    text = "I'm Ann Lee, ann.lee@example.com, +1 555 0100 2233, card 4111 1111 1111 1111, order LL-123456"
    out = redact(text, names=["Ann Lee"])
    assert out == "I'm [NAME], [EMAIL], [PHONE], card [CARD], order LL-123456"


@pytest.mark.parametrize(
    "phone",
    [
        "+4915112345678", "+49 151 12345678", "0151 12345678", "030 12345678", "+49 30 12345678",
        "0049 30 1234567", "+44 20 7946 0958", "020 7946 0958", "07911 123456", "07911123456",
        "+86 138 1234 5678", "13812345678", "138 1234 5678", "186-1234-5678", "(415) 555-2671",
        "415-555-2671", "415.555.2671", "+1 415 555 2671", "06 12 34 56 78", "+33 6 12 34 56 78",
        "0412 345 678", "+61 412 345 678",
    ],
)  # fmt: skip
def test_phone_numbers_in_common_formats_are_redacted(phone: str) -> None:
    assert redact(f"call me on {phone} please") == "call me on [PHONE] please"
    assert redact(f"我的手机是{phone}，谢谢") == "我的手机是[PHONE]，谢谢"
    assert [kind for kind, _ in find_personal_data(f"tel: {phone}")] == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "order LL-204405 tracking 1Z123456789012 SF132028432180 postcode 97205",
        "JD336818593516 shipped on 2026-01-25, refund $166.00", "between 2024-05-01 and 2024-05-03",
        "open 8:00 to 20:00", "SW1A 1AA", "V6X 1Z1", "10115 Berlin", "I bought 3 items for 120",
        "ISBN 978-3-16-148410-0", "size 42 or 43", "RMA-20240501-0012", "9400111899223100012345",
        "order LL-123456 and 2 pairs", "退款166元，2026年1月25日到",
    ],
)  # fmt: skip
def test_order_tracking_dates_and_prices_are_kept(text: str) -> None:
    assert redact(text) == text
    assert find_personal_data(text) == []


def test_chinese_text_and_phone() -> None:
    assert redact("我的手机是+86 138 1234 5678，邮箱li.wei@example.cn") == "我的手机是[PHONE]，邮箱[EMAIL]"


def test_card_needs_luhn() -> None:
    assert redact("4111 1111 1111 1112") == "4111 1111 1111 1112"
    kinds = [kind for kind, _ in find_personal_data("pay with 5500-0000-0000-0004")]
    assert kinds == ["card"]


def test_the_shops_published_contacts_are_kept() -> None:
    keep = public_contacts(["Call us on +1 555 0100 or write to help@shop.example (8:00 to 20:00)."])
    text = "Our number is +1 555 0100 (or 1 555 0100), help@shop.example; mine is +1 555 0199, me@x.com"
    assert (
        redact(text, keep=keep)
        == "Our number is +1 555 0100 (or 1 555 0100), help@shop.example; mine is [PHONE], [EMAIL]"
    )
    assert redact(text) != text  # without the shop's list, everything goes
