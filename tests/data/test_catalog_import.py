"""Catalog importers on fixtures in each real export format (written from the formats' public documentation):
variants, options, images and inventory become products; what an export lacks stays unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.data.catalog_import import import_catalog, parse_price
from assistant.data.validation import validate_shop
from assistant.errors import DataError

EXPORTS = Path(__file__).resolve().parent / "exports"
HARBOUR = Path(__file__).resolve().parent / "shops" / "harbour"


def products(shop: Path) -> dict[str, dict]:
    lines = (shop / "catalog" / "products.jsonl").read_text(encoding="utf-8").splitlines()
    return {p["id"]: p for p in map(json.loads, lines)}


def test_shopify_legacy_export_variants_colours_sizes_inventory(tmp_path: Path) -> None:
    report = import_catalog("shopify", HARBOUR / "exports" / "products.csv", tmp_path, currency="GBP")
    found = products(tmp_path)
    assert report.products_out == len(found) == 63 and not report.rejected
    # each colour its own product (colour is a filter); variants' stock summed; the first image kept
    blue = found["glazed-teapot-600ml-blue"]
    assert blue["title"] == {"en": "Glazed Teapot 600ml in Blue"} and blue["attributes"]["colour"] == "blue"
    assert (
        blue["attributes"]["material"] == "stoneware" and blue["price"] == 28.0 and blue["currency"] == "GBP"
    )
    assert blue["category"][0] == "home-garden" and blue["product_type"] == {"en": "teapot"}
    assam = found["assam-breakfast"]
    assert assam["price"] == min(6.9, 12.42)  # the cheapest variant; weights are options, not products
    assert assam["description"]["en"].startswith("A malty") and "<p>" not in assam["description"]["en"]
    assert assam["image"].endswith("assam-breakfast-1.jpg")
    # nothing invented: no ratings in a Shopify export, untracked inventory is unknown, no body is no description
    assert all(p["rating"] is None and p["review_count"] is None for p in found.values())
    assert found["black-tea-candle"]["stock"] is None and report.missing["stock"] == 1
    assert found["milk-oolong"]["description"] == {} and report.missing["description"] == 1
    assert "old-sampler" not in found  # unpublished: never offered to a shopper


def test_shopify_current_headers(tmp_path: Path) -> None:
    report = import_catalog("shopify", EXPORTS / "shopify_current.csv", tmp_path, currency="EUR")
    found = products(tmp_path)
    assert list(found) == ["linen-shirt"] and report.products_out == 1  # the archived cap is not for sale
    shirt = found["linen-shirt"]
    assert (
        shirt["attributes"]["sizes"] == ["S", "M"] and shirt["stock"] == 3 and shirt["brand"] == "Fieldhouse"
    )
    assert shirt["category"] == ["apparel-accessories", "clothing", "shirts-tops"]


def test_woocommerce_export(tmp_path: Path) -> None:
    report = import_catalog("woocommerce", EXPORTS / "woocommerce.csv", tmp_path, currency="USD")
    found = products(tmp_path)
    assert set(found) == {"WOO-BEANIE", "WOO-HOODIE", "WOO-MUG"}
    assert [r.where for r in report.rejected] == ["line 9"] and "cheap" in report.rejected[0].reason
    hoodie = found["WOO-HOODIE"]
    assert hoodie["price"] == 39.0 and hoodie["stock"] == 11  # the sale price of a variation; stock summed
    assert hoodie["attributes"] == {"colour": "navy", "sizes": ["S", "M", "L"]}
    beanie = found["WOO-BEANIE"]
    assert (
        beanie["category"] == ["clothing", "accessories"]
        and beanie["image"] == "https://shop.example/beanie.jpg"
    )
    assert (
        beanie["description"]["en"] == "A warm ribbed beanie in merino wool."
        and beanie["attributes"]["material"] == "wool"
    )
    assert found["WOO-MUG"]["stock"] == 0  # "In stock?" 0 without a count


@pytest.mark.parametrize("name", ["google_merchant.tsv", "google_merchant.xml"])
def test_google_merchant_feeds(tmp_path: Path, name: str) -> None:
    report = import_catalog("google-merchant", EXPORTS / name, tmp_path)
    found = products(tmp_path)
    red = found["TS-1-red"]
    assert red["title"] == {"en": "Trail Shirt"} and red["currency"] == "EUR" and red["price"] == 35.0
    assert red["attributes"]["sizes"] == ["S", "M"] and red["description"]["en"] == "Quick-dry & light."
    assert red["stock"] is None  # a feed says available or not, never how many
    assert found["BOT-1"]["attributes"]["material"] == "steel"
    if name.endswith(".tsv"):
        assert (
            found["TS-1-blue"]["stock"] == 0 and found["BOT-1"]["price"] == 19.9
        )  # sale price, decimal comma
        assert [r.where for r in report.rejected] == ["line 6"]
    else:
        assert found["BOT-1"]["stock"] == 0


def test_generic_csv_and_jsonl_with_a_mapping(tmp_path: Path) -> None:
    report = import_catalog(
        "csv", EXPORTS / "generic.csv", tmp_path, mapping=EXPORTS / "generic_mapping.json"
    )
    found = products(tmp_path)
    assert found["A-1"]["category"] == ["lighting", "desk"] and found["A-1"]["rating"] == 4.6
    assert found["A-2"]["rating"] is None and found["A-2"]["stock"] == 0 and found["A-2"]["description"] == {}
    assert [r.where for r in report.rejected] == ["line 4"]
    mapping = tmp_path / "m.json"
    mapping.write_text(
        json.dumps({"id": "sku", "title": "name", "price": "price", "stock": "qty", "rating": "stars"})
    )
    report = import_catalog("jsonl", EXPORTS / "generic.jsonl", tmp_path, mapping=mapping)
    assert list(products(tmp_path)) == ["J-1"]
    assert sorted(r.reason for r in report.rejected) == [
        "invalid JSON: Expecting value",
        "rating 9.0 is outside 0..5",
    ]


def test_reject_writes_nothing_and_bad_files_get_clear_messages(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"1 malformed rows .*nothing was written"):
        import_catalog("woocommerce", EXPORTS / "woocommerce.csv", tmp_path, on_error="reject")
    assert not (tmp_path / "catalog" / "products.jsonl").exists()
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="binary"):
        import_catalog("shopify", binary, tmp_path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Handle,Title\ncaf\xe9,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        import_catalog("shopify", latin, tmp_path)
    with pytest.raises(DataError, match="--mapping"):
        import_catalog("csv", EXPORTS / "generic.csv", tmp_path)
    with pytest.raises(DataError, match="unknown catalog format"):
        import_catalog("magento", EXPORTS / "generic.csv", tmp_path)
    # a quote left open: read leniently, the description swallowed the next columns and the row imported
    broken = tmp_path / "broken.csv"
    lines = (HARBOUR / "exports" / "products.csv").read_text(encoding="utf-8").split("\n")
    lines[1] = lines[1].replace('</p>",', "</p>,", 1)
    broken.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match=r"the shopify export, line 2: not valid CSV .*quote left open"):
        import_catalog("shopify", broken, tmp_path / "b")
    assert not (tmp_path / "b" / "catalog" / "products.jsonl").exists()
    xml = tmp_path / "feed.xml"
    xml.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><rss>&a;</rss>')
    with pytest.raises(DataError, match="DTD or entities"):
        import_catalog("google-merchant", xml, tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.50", (12.5, "")), ("£12.50", (12.5, "")), ("12,50 EUR", (12.5, "EUR")), ("1,299.00 USD", (1299.0, "USD")),
     ("1.299,00 EUR", (1299.0, "EUR")), ("1,299", (1299.0, ""))],
)  # fmt: skip
def test_parse_price(text: str, expected: tuple[float, str]) -> None:
    assert parse_price(text) == expected


def test_cli_import_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    assert main(["shop", "init", str(shop), "--no-settings", "--currency", "EUR"]) == 0
    assert (
        main(
            [
                "data",
                "import-catalog",
                "google-merchant",
                str(EXPORTS / "google_merchant.tsv"),
                "--shop",
                str(shop),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 products written" in out and "rejected line 6: price '' is not a number" in out
    assert "rating for 3 products" in out  # said plainly, not invented
    report = validate_shop(shop)
    assert report.is_valid, report.issues
