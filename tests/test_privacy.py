"""Personal-data detection and redaction."""

from __future__ import annotations

from assistant.privacy import find_personal_data, redact


def test_redacts_email_phone_card_and_names() -> None:
    text = "I'm Ann Lee, ann.lee@example.com, +1 555 0100 2233, card 4111 1111 1111 1111, order LL-123456"
    out = redact(text, names=["Ann Lee"])
    assert out == "I'm [NAME], [EMAIL], [PHONE], card [CARD], order LL-123456"


def test_keeps_order_and_tracking_numbers() -> None:
    text = "order LL-204405 tracking 1Z123456789012 SF132028432180 postcode 97205"
    assert redact(text) == text
    assert find_personal_data(text) == []


def test_chinese_text_and_phone() -> None:
    assert redact("我的手机是+86 138 1234 5678，邮箱li.wei@example.cn") == "我的手机是[PHONE]，邮箱[EMAIL]"


def test_card_needs_luhn() -> None:
    assert redact("4111 1111 1111 1112") == "4111 1111 1111 1112"
    kinds = [kind for kind, _ in find_personal_data("pay with 5500-0000-0000-0004")]
    assert kinds == ["card"]
