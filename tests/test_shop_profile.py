"""shop.json and templates/: a shop's identity, conventions and wording over the engine's defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.data.scaffold import order_pattern
from assistant.data.validation import validate_shop
from assistant.errors import DataError
from assistant.settings import load_settings
from assistant.shop import ShopProfile, load_profile
from assistant.stages.generation import render

ROOT = Path(__file__).resolve().parent.parent
HARBOUR = ROOT / "tests" / "data" / "shops" / "harbour"


def write(folder: Path, **meta: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_prices_are_written_as_the_shop_writes_them(tmp_path: Path) -> None:
    assert load_profile(HARBOUR).price(3.5, "en") == "£3.50"
    assert (
        load_profile(write(tmp_path / "eur", currency="EUR", price_locales={"en": "en_IE"})).price(12.5, "en")
        == "€12.50"
    )
    assert load_profile(write(tmp_path / "jpy", currency="JPY")).price(1200, "en") == "¥1,200"  # no decimals
    assert load_profile(ROOT / "dialogue_data").price(4.95, "zh") == "$4.95"


def test_order_numbers_follow_the_shop(tmp_path: Path) -> None:
    harbour = load_profile(HARBOUR).order_number
    assert harbour.find("it's hp 10188 thanks") == "HP-10188" and harbour.find("LL-123456") is None
    default = load_profile(write(tmp_path / "plain")).order_number
    assert default.find("order #1042 please") == "#1042" and default.example == "#1001"
    pattern, fmt = order_pattern("A-100234")
    profile = load_profile(
        write(tmp_path / "made", order_number={"pattern": pattern, "format": fmt, "example": "A-100234"})
    )
    assert profile.order_number.find("order a100234") == "A-100234"


@pytest.mark.parametrize(
    ("meta", "message"),
    [({"colour": "red"}, "unknown keys colour"), ({"languages": ["fr"]}, "not supported"),
     ({"currency": "XYZ"}, "not an ISO 4217 code"), ({"order_number": {"pattern": "(["}}, "not a valid regular expression"),
     ({"order_number": {"pattern": "X(\\d+)", "example": "1234"}}, "does not match"), ({"today": "yesterday"}, "a date"),
     ({"slot_passages": [{"intent": "x"}]}, "needs 'intent', 'slot' and 'group'")],
)  # fmt: skip
def test_a_bad_shop_json_names_the_file_and_the_fix(tmp_path: Path, meta: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_profile(write(tmp_path, **meta))
    assert any(message.split()[0] in str(issue) for issue in validate_shop(tmp_path).issues)


def test_templates_override_the_engine_and_fall_back_by_variant(tmp_path: Path) -> None:
    shop = write(tmp_path, name="Kettle & Co", languages=["en"])
    engine = load_profile(shop)
    assert render(engine, "greet", "en", {}) == "Hi! Welcome to Kettle & Co. How can I help you today?"
    # a template needing facts the shop never gave uses its next variant, never a half-filled sentence
    assert render(engine, "handoff", "en", {}) == (
        "I'm connecting you with a member of our team now; they will reply here as soon as they can."
    )
    assert "15 minutes" in render(engine, "handoff", "en", {"wait_minutes": "15", "hours": "9 to 5"})
    (shop / "templates").mkdir()
    (shop / "templates" / "mine.json").write_text(json.dumps({"greet": {"en": "Ahoy from {shop_name}!"}}))
    assert render(load_profile(shop), "greet", "en", {}) == "Ahoy from Kettle & Co!"
    assert render(load_profile(shop), "greet", "zh", {}) == "Ahoy from Kettle & Co!"  # the shop's language


def test_status_wording_and_refusals(tmp_path: Path) -> None:
    profile = ShopProfile()
    facts = {
        "order_id": "#1042",
        "status": "shipped",
        "carrier": "DPD",
        "tracking_number": "15501",
        "shipped_at": "2026-11-03",
    }
    assert render(profile, "lookup_order", "en", facts).startswith("Order #1042 is shipped")
    assert render(profile, "lookup_order", "en", dict(facts, status="lost")) == "Order #1042 is lost."
    assert "couldn't verify" in render(profile, "start_return:not_verified", "en", facts)


def test_shop_init_writes_a_valid_empty_shop_and_points_the_settings_at_it(tmp_path: Path, capsys) -> None:
    folder, config = tmp_path / "my-shop", tmp_path / "assistant.toml"
    config.write_text('[web]\nport = 7999\n\n[paths]\nshop_dir = "elsewhere"\n')
    assert (
        main(
            [
                "--config",
                str(config),
                "shop",
                "init",
                str(folder),
                "--currency",
                "EUR",
                "--order-example",
                "MS-2041",
            ]
        )
        == 0
    )
    report = validate_shop(folder)
    assert report.is_valid and any("no products and no passages" in str(n) for n in report.notes)
    profile = load_profile(folder)
    assert (
        profile.name == "My Shop"
        and profile.currency == "EUR"
        and profile.order_number.find("ms 2041") == "MS-2041"
    )
    settings = load_settings(config_file=config)
    assert settings.paths.shop_dir == folder and settings.web.port == 7999
    assert (
        settings.paths.index_dir == folder / "index" and settings.paths.artifacts_dir == folder / "artifacts"
    )
    assert settings.store.database_url.endswith("my-shop/assistant.db")
    assert main(["--config", str(config), "shop", "init", str(folder)]) == 2  # never overwrites a shop
    assert "never overwrites" in capsys.readouterr().err


def test_a_chinese_only_shop(tmp_path: Path) -> None:
    from assistant.backends.language_detection import ScriptLanguageIdentifier
    from assistant.stages.language import LanguageDetector

    profile = load_profile(
        write(tmp_path, name="茶语", languages=["zh"], currency="CNY", price_locales={"zh": "zh_CN"})
    )
    assert profile.default_language == "zh" and profile.price(12.5, "zh") == "¥12.50"
    assert (
        render(profile, "greet", "en", {}) == "您好，欢迎光临茶语！请问有什么可以帮您？"
    )  # never the engine's English
    detector = LanguageDetector(ScriptLanguageIdentifier(), supported=profile.languages, default="zh")
    assert detector.detect("hello, where is my order?", conversation_language=None).language == "zh"
