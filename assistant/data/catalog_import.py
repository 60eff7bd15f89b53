"""Turn a shop's product export into `catalog/products.jsonl`.

Formats (column mappings in `dialogue_data/README.md`, "Bring your own shop" in the README):
- ``shopify``: the Shopify products CSV, legacy headers (``Handle``, ``Body (HTML)``, ``Variant Price``...) and
  the current ones (``URL handle``, ``Description``, ``Price``...). Rows sharing a handle are one product: its
  variants (options, price, inventory) and extra images. Each colour becomes its own product (the colour is a
  search filter); the other options (sizes) are listed on it; stock is the sum of the variants' quantities.
- ``woocommerce``: the WooCommerce products CSV export; ``variation`` rows join their ``Parent``.
- ``google-merchant``: a Google Merchant Center feed, tab-separated text or XML (RSS 2.0 / Atom with the
  ``g:`` namespace); ``item_group_id`` groups colour and size variants.
- ``csv`` / ``jsonl``: any table with a mapping file (JSON: our field -> your column, see `GENERIC_FIELDS`).

What an export does not hold stays empty: no invented ratings, stock or descriptions. Malformed rows are
reported with their line (or item) and reason, then skipped (``on_error="skip"``) or fail the import before
anything is written (``"reject"``), as the log importers do.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.data.importers import OnError, Rejection, write_jsonl
from assistant.data.text import html_text
from assistant.errors import DataError, csv_error

GOOGLE_NS = "http://base.google.com/ns/1.0"
COLOUR_OPTIONS = {"color", "colour", "colors", "colours", "farbe", "couleur", "颜色"}
SIZE_OPTIONS = {"size", "sizes", "größe", "taille", "尺码", "尺寸"}
MATERIAL_OPTIONS = {"material", "materials", "fabric", "材质"}
GENERIC_FIELDS = ("id", "title", "description", "brand", "category", "product_type", "price", "currency", "colour",
                  "size", "material", "stock", "rating", "review_count", "image", "url", "group")  # fmt: skip
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass
class CatalogImportReport:
    """What a catalog import read, wrote and refused."""

    format: str
    rows_in: int = 0
    products_out: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)  # field -> products without it (shown honestly)

    def note_missing(self, product: dict) -> None:
        for key in ("description", "brand", "stock", "rating", "image"):
            value = product.get(key)
            if value in (None, "", {}) or (isinstance(value, dict) and not any(value.values())):
                self.missing[key] = self.missing.get(key, 0) + 1


@dataclass
class _Draft:
    """A product being assembled from one or more rows."""

    id: str
    title: str = ""
    description: str = ""
    brand: str = ""
    category: list[str] = field(default_factory=list)
    product_type: str = ""
    prices: list[float] = field(default_factory=list)
    currency: str = ""
    colour: str = ""
    sizes: list[str] = field(default_factory=list)
    material: str = ""
    stock: int | None = None
    rating: float | None = None
    review_count: int | None = None
    image: str | None = None
    url: str | None = None

    def add_stock(self, value: int | None) -> None:
        if value is not None:
            self.stock = (self.stock or 0) + max(0, value)

    def record(self, language: str, default_currency: str) -> dict:
        attributes: dict[str, object] = {}
        if self.colour:
            attributes["colour"] = self.colour.lower()
        if self.material:
            attributes["material"] = self.material.lower()
        if self.sizes:
            attributes["sizes"] = list(dict.fromkeys(self.sizes))
        path = [_slug(c) for c in self.category if c.strip()] or (
            [_slug(self.product_type)] if self.product_type else []
        )
        product: dict = {
            "id": self.id,
            "title": {language: self.title},
            "description": {language: self.description} if self.description else {},
            "brand": self.brand,
            "category": path,
            "category_name": {language: " > ".join(c.strip() for c in self.category)}
            if self.category
            else {},
            "product_type": {language: self.product_type} if self.product_type else {},
            "price": min(self.prices),
            "currency": (self.currency or default_currency).upper(),
            "attributes": attributes,
            "rating": self.rating,
            "review_count": self.review_count,
            "stock": self.stock,
            "image": self.image,
            "bought_together": [],
        }
        if self.url:
            product["url"] = self.url
        return product


class RowError(ValueError):
    """A row that cannot become (part of) a product; the message says why."""


def import_catalog(
    fmt: str,
    source: Path,
    shop_dir: Path,
    *,
    mapping: Path | None = None,
    on_error: OnError = "skip",
    language: str = "en",
    currency: str | None = None,
) -> CatalogImportReport:
    """Read the export `source` in format `fmt` and write `shop_dir/catalog/products.jsonl` (replacing it)."""
    readers: dict[str, Callable[[str, CatalogImportReport, dict[str, str]], Iterator[_Draft]]] = {
        "shopify": _read_shopify,
        "woocommerce": _read_woocommerce,
        "google-merchant": _read_google_merchant,
        "csv": _read_generic_csv,
        "jsonl": _read_generic_jsonl,
    }
    if fmt not in readers:
        raise DataError(f"unknown catalog format {fmt!r}; choose one of: {', '.join(readers)}")
    columns: dict[str, str] = {}
    if fmt in ("csv", "jsonl"):
        columns = _read_mapping(mapping)
    text = _read_text(source, fmt)
    report = CatalogImportReport(format=fmt)
    default_currency = (currency or _shop_currency(shop_dir)).upper()
    products: dict[str, dict] = {}
    for draft in readers[fmt](text, report, columns):
        if not draft.title or not draft.prices:
            report.rejected.append(
                Rejection(f"product {draft.id}", "no title" if not draft.title else "no price")
            )
            continue
        product = draft.record(language, default_currency)
        if product["id"] in products:
            report.rejected.append(
                Rejection(f"product {product['id']}", "duplicate id; the first one is kept")
            )
            continue
        products[product["id"]] = product
        report.note_missing(product)
    if report.rejected and on_error == "reject":
        first = report.rejected[0]
        raise DataError(
            f"{source}: {len(report.rejected)} malformed rows (first: {first.where}: {first.reason}); "
            "nothing was written. Fix them or import with --on-error skip."
        )
    if not products:
        raise DataError(
            f"{source}: no product could be read ({len(report.rejected)} rows rejected); nothing was written"
        )
    write_jsonl(shop_dir / "catalog" / "products.jsonl", products.values())
    report.products_out = len(products)
    return report


# ------------------------------------------------------------------------------ reading
def _read_text(source: Path, fmt: str) -> str:
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{source} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
        raw = source.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{source} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{source} is a folder; give the export file") from None
    if b"\x00" in raw[:4096]:
        raise DataError(f"{source} looks binary (NUL bytes); expected a UTF-8 {fmt} export")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source} is not UTF-8 (byte {exc.start}); re-save the export as UTF-8") from exc


def _read_mapping(mapping: Path | None) -> dict[str, str]:
    if mapping is None:
        raise DataError(f"the csv and jsonl formats need --mapping FILE: JSON of our field -> your column, fields: "
                        f"{', '.join(GENERIC_FIELDS)} (id, title and price are required)")  # fmt: skip
    try:
        columns = json.loads(mapping.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"mapping file {mapping} does not exist") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"mapping file {mapping} is not valid JSON: {exc}") from exc
    if not isinstance(columns, dict):
        raise DataError(f"mapping file {mapping} must be a JSON object of our field -> your column")
    unknown = sorted(set(columns) - set(GENERIC_FIELDS) - {"category_separator"})
    if unknown:
        raise DataError(
            f"mapping file {mapping}: unknown fields {', '.join(unknown)}; valid: {', '.join(GENERIC_FIELDS)}"
        )
    missing = [key for key in ("id", "title", "price") if key not in columns]
    if missing:
        raise DataError(f"mapping file {mapping}: map {', '.join(missing)} to your columns")
    return {str(k): str(v) for k, v in columns.items()}


def _shop_currency(shop_dir: Path) -> str:
    try:
        return str(json.loads((shop_dir / "shop.json").read_text(encoding="utf-8")).get("currency") or "USD")
    except (OSError, ValueError):
        return "USD"


def _csv_rows(
    text: str, report: CatalogImportReport, *, delimiter: str | None = None
) -> Iterator[tuple[int, dict]]:
    """(line number, row with stripped keys and values) for each data row."""
    if delimiter is None:  # the header row's most frequent separator (Excel in many locales writes ";")
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t|", key=first.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        if not reader.fieldnames:
            raise DataError(f"the {report.format} export has no header row")
        for row in reader:
            report.rows_in += 1
            cleaned = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(cleaned.values()):
                continue
            yield reader.line_num, cleaned
    except csv.Error as exc:
        raise csv_error(f"the {report.format} export", reader.line_num, exc) from None


def _column(row: dict, *names: str) -> str:
    """The first non-empty value among `names` (header spellings differ between export versions)."""
    lowered = {k.lower(): v for k, v in row.items()}
    for name in names:
        value = lowered.get(name.lower(), "")
        if value:
            return value
    return ""


def parse_price(value: str) -> tuple[float, str]:
    """A price and its currency code from "12.50", "£12.50", "12,50 EUR", "1,299.00 USD"."""
    code = ""
    if m := re.search(r"\b([A-Z]{3})\b", value):
        code = m.group(1)
    number = re.sub(r"[^\d.,-]", "", value)
    if not re.search(r"\d", number):
        raise RowError(f"price {value!r} is not a number")
    if "," in number and "." in number:
        number = (
            number.replace(",", "")
            if number.rfind(".") > number.rfind(",")
            else number.replace(".", "").replace(",", ".")
        )
    elif "," in number:
        whole, _, tail = number.rpartition(",")
        number = f"{whole.replace(',', '')}.{tail}" if len(tail) != 3 else number.replace(",", "")
    try:
        price = float(number)
    except ValueError:
        raise RowError(f"price {value!r} is not a number") from None
    if price < 0:
        raise RowError(f"price {value!r} is negative")
    return price, code


def _int(value: str, what: str) -> int | None:
    if not value:
        return None
    try:
        return int(float(value))
    except ValueError:
        raise RowError(f"{what} {value!r} is not a number") from None


def _rating(value: str) -> float | None:
    if not value:
        return None
    try:
        rating = float(value)
    except ValueError:
        raise RowError(f"rating {value!r} is not a number") from None
    if not 0 <= rating <= 5:
        raise RowError(f"rating {rating} is outside 0..5")
    return rating


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.strip().lower()).strip("-") or "other"


def _options(row: dict, base: dict) -> list[tuple[str, str]]:
    """(option name, value) of a variant row; Shopify writes the option names on the product's first row only."""
    out = []
    for n in (1, 2, 3):
        names = (f"Option{n} Name", f"Option{n} name")
        name = _column(row, *names) or _column(base, *names)
        value = _column(row, f"Option{n} Value", f"Option{n} value")
        if name and value and name.lower() != "title":
            out.append((name.strip().lower(), value))
    return out


# ------------------------------------------------------------------------------ Shopify
def _read_shopify(text: str, report: CatalogImportReport, _: dict[str, str]) -> Iterator[_Draft]:
    products: dict[str, dict] = {}  # handle -> {"base": row, "variants": [rows], "line": n}
    order: list[str] = []
    for line, row in _csv_rows(text, report, delimiter=","):
        handle = _column(row, "Handle", "URL handle")
        if not handle:
            report.rejected.append(Rejection(f"line {line}", "no Handle / URL handle"))
            continue
        if handle not in products:
            products[handle] = {"base": row, "variants": [], "images": [], "line": line}
            order.append(handle)
        entry = products[handle]
        if _column(row, "Variant Price", "Price"):
            entry["variants"].append((line, row))
        if image := _column(row, "Image Src", "Product image URL", "Variant Image"):
            entry["images"].append(image)
    for handle in order:
        entry = products[handle]
        base = entry["base"]
        if (
            _column(base, "Status").lower() in ("archived",)
            or _column(base, "Published", "Published on online store").lower() == "false"
        ):
            continue  # not for sale: a shopper must not be offered it
        title = _column(base, "Title")
        if not title:
            report.rejected.append(Rejection(f"line {entry['line']}", f"product {handle!r} has no Title"))
            continue
        by_colour: dict[str, _Draft] = {}
        for line, row in entry["variants"]:
            try:
                price, code = parse_price(_column(row, "Variant Price", "Price"))
                quantity = _int(_column(row, "Variant Inventory Qty", "Inventory quantity"), "inventory")
            except RowError as exc:
                report.rejected.append(Rejection(f"line {line}", str(exc)))
                continue
            options = _options(row, base)
            colour = next((v for n, v in options if n in COLOUR_OPTIONS), "")
            draft = by_colour.get(colour)
            if draft is None:
                draft = by_colour[colour] = _Draft(
                    id=f"{handle}-{_slug(colour)}" if colour else handle,
                    title=f"{title} in {colour}" if colour else title,
                    description=html_text(_column(base, "Body (HTML)", "Description")),
                    brand=_column(base, "Vendor"),
                    category=[
                        c
                        for c in _column(base, "Product Category", "Product category").split(">")
                        if c.strip()
                    ],
                    product_type=_column(base, "Type"),
                    colour=colour,
                    image=_column(row, "Variant Image") or (entry["images"][0] if entry["images"] else None),
                    url=None,
                )
            draft.prices.append(price)
            draft.currency = draft.currency or code
            for name, value in options:
                if name in SIZE_OPTIONS:
                    draft.sizes.append(value)
                elif name in MATERIAL_OPTIONS:
                    draft.material = draft.material or value
            tracked = _column(row, "Variant Inventory Tracker", "Inventory tracker")
            if quantity is not None and (tracked or "Variant Inventory Tracker" not in row):
                draft.add_stock(quantity)
        if not by_colour:
            report.rejected.append(
                Rejection(f"line {entry['line']}", f"product {handle!r} has no variant with a price")
            )
        yield from by_colour.values()


# ------------------------------------------------------------------------------ WooCommerce
def _read_woocommerce(text: str, report: CatalogImportReport, _: dict[str, str]) -> Iterator[_Draft]:
    parents: dict[str, tuple[int, dict]] = {}
    variations: dict[str, list[tuple[int, dict]]] = {}
    order: list[str] = []
    for line, row in _csv_rows(text, report, delimiter=","):
        kind = _column(row, "Type").lower()
        key = _column(row, "ID") or _column(row, "SKU")
        if not key:
            report.rejected.append(Rejection(f"line {line}", "no ID or SKU"))
            continue
        if "variation" in kind:
            parent = _column(row, "Parent").removeprefix("id:")
            variations.setdefault(parent, []).append((line, row))
            continue
        if kind and not any(k in kind for k in ("simple", "variable", "external")):
            continue  # grouped products hold no price of their own
        if _column(row, "Published") in ("-1", "0"):
            continue
        parents[key] = (line, row)
        if sku := _column(row, "SKU"):
            parents.setdefault(sku, (line, row))
        order.append(key)
    for key in order:
        line, row = parents[key]
        attributes = _woo_attributes(row)
        children = variations.get(key, []) + variations.get(_column(row, "SKU"), [])
        colours = [c.strip() for c in attributes.get("colour", "").split(",") if c.strip()]
        try:
            draft = _Draft(
                id=_column(row, "SKU") or key,
                title=_column(row, "Name"),
                description=html_text(_column(row, "Description") or _column(row, "Short description")),
                brand=_column(row, "Brands", "Brand") or attributes.get("brand", ""),
                category=_first_category(_column(row, "Categories")),
                colour=colours[0] if len(colours) == 1 else "",
                sizes=[s.strip() for s in attributes.get("size", "").split(",") if s.strip()],
                material=attributes.get("material", ""),
                rating=_rating(_column(row, "Average rating")),
                review_count=_int(_column(row, "Review count"), "review count"),
                image=(_column(row, "Images").split(",")[0].strip() or None),
            )
            for child in [row, *(c for _, c in children)]:
                price = _column(child, "Sale price") or _column(child, "Regular price")
                if price:
                    draft.prices.append(parse_price(price)[0])
                if _column(child, "Stock"):
                    draft.add_stock(_int(_column(child, "Stock"), "stock"))
                elif _column(child, "In stock?") == "0" and child is row and not children:
                    draft.stock = 0
        except RowError as exc:
            report.rejected.append(Rejection(f"line {line}", str(exc)))
            continue
        yield draft


def _woo_attributes(row: dict) -> dict[str, str]:
    out = {}
    for n in range(1, 10):
        name = _column(row, f"Attribute {n} name").lower()
        value = _column(row, f"Attribute {n} value(s)")
        if not name:
            continue
        if name in COLOUR_OPTIONS:
            out["colour"] = value
        elif name in SIZE_OPTIONS:
            out["size"] = value
        elif name in MATERIAL_OPTIONS:
            out["material"] = value
        elif name in ("brand", "manufacturer"):
            out["brand"] = value
    return out


def _first_category(value: str) -> list[str]:
    """WooCommerce lists categories comma-separated, each a path with ">": the first (most specific) path."""
    paths = [p.strip() for p in value.split(",") if p.strip()]
    paths.sort(key=lambda p: -p.count(">"))
    return [c.strip() for c in paths[0].split(">")] if paths else []


# ------------------------------------------------------------------------------ Google Merchant Center
def _read_google_merchant(text: str, report: CatalogImportReport, _: dict[str, str]) -> Iterator[_Draft]:
    items = list(
        _gmc_xml_items(text, report) if text.lstrip().startswith("<") else _gmc_tsv_items(text, report)
    )
    groups: dict[str, _Draft] = {}
    available: dict[str, list[bool]] = {}
    for where, item in items:
        try:
            price, code = parse_price(item.get("sale_price") or item.get("price", ""))
            availability = item.get("availability", "").lower().replace(" ", "_")
            colour = item.get("color", "")
            group = item.get("item_group_id") or item.get("id", "")
            if not item.get("id"):
                raise RowError("no id")
            key = f"{group}|{colour.lower()}"
            draft = groups.get(key)
            if draft is None:
                draft = groups[key] = _Draft(
                    id=f"{group}-{_slug(colour)}" if colour and item.get("item_group_id") else item["id"],
                    title=item.get("title", ""),
                    description=html_text(item.get("description", "")),
                    brand=item.get("brand", ""),
                    category=[
                        c
                        for c in (item.get("product_type") or item.get("google_product_category", "")).split(
                            ">"
                        )
                        if c.strip() and not c.strip().isdigit()
                    ],
                    colour=colour,
                    material=item.get("material", ""),
                    image=item.get("image_link") or None,
                    url=item.get("link") or None,
                )
            draft.prices.append(price)
            draft.currency = draft.currency or code
            if item.get("size"):
                draft.sizes.append(item["size"])
            available.setdefault(key, []).append(availability != "out_of_stock")
        except RowError as exc:
            report.rejected.append(Rejection(where, str(exc)))
    for key, draft in groups.items():
        # A feed says whether each variant can be bought, never how many: 0 when none can, else unknown.
        draft.stock = None if any(available.get(key, [True])) else 0
        yield draft


def _gmc_tsv_items(text: str, report: CatalogImportReport) -> Iterator[tuple[str, dict]]:
    for line, row in _csv_rows(text, report, delimiter="\t"):
        yield f"line {line}", {k.lower().removeprefix("g:"): v for k, v in row.items()}


def _gmc_xml_items(text: str, report: CatalogImportReport) -> Iterator[tuple[str, dict]]:
    if "<!DOCTYPE" in text[:2000] or "<!ENTITY" in text:
        raise DataError("the Google Merchant feed declares a DTD or entities; export it without them")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DataError(f"the Google Merchant feed is not valid XML: {exc}") from exc
    entries = root.findall(".//item") or root.findall(".//{http://www.w3.org/2005/Atom}entry")
    for number, element in enumerate(entries, start=1):
        report.rows_in += 1
        item: dict[str, str] = {}
        for child in element:
            tag = child.tag.split("}", 1)[-1]
            value = (child.text or "").strip()
            if tag == "link" and not value:
                value = child.get("href", "")
            item.setdefault(tag.lower(), value)
        yield f"item {number}", item


# ------------------------------------------------------------------------------ generic CSV / JSONL
def _generic_draft(row: dict, columns: dict[str, str]) -> _Draft:
    def get(key: str) -> str:
        value = row.get(columns.get(key, ""), "")
        return "" if value is None else str(value).strip()

    price, code = parse_price(get("price"))
    separator = columns.get("category_separator", ">")
    draft = _Draft(
        id=get("id"),
        title=get("title"),
        description=html_text(get("description")),
        brand=get("brand"),
        category=[c for c in get("category").split(separator) if c.strip()],
        product_type=get("product_type"),
        prices=[price],
        currency=get("currency") or code,
        colour=get("colour"),
        sizes=[s.strip() for s in re.split(r"[,|;]", get("size")) if s.strip()],
        material=get("material"),
        stock=_int(get("stock"), "stock"),
        rating=_rating(get("rating")),
        review_count=_int(get("review_count"), "review count"),
        image=get("image") or None,
        url=get("url") or None,
    )
    if not draft.id:
        raise RowError(f"no id in column {columns['id']!r}")
    return draft


def _read_generic_csv(text: str, report: CatalogImportReport, columns: dict[str, str]) -> Iterator[_Draft]:
    rows = list(_csv_rows(text, report))
    if rows:
        absent = sorted(c for k, c in columns.items() if k != "category_separator" and c not in rows[0][1])
        if absent:
            raise DataError(f"the mapping names columns the file does not have: {', '.join(absent)}")
    for line, row in rows:
        try:
            yield _generic_draft(row, columns)
        except RowError as exc:
            report.rejected.append(Rejection(f"line {line}", str(exc)))


def _read_generic_jsonl(text: str, report: CatalogImportReport, columns: dict[str, str]) -> Iterator[_Draft]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        report.rows_in += 1
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise RowError("not a JSON object")
            yield _generic_draft(row, columns)
        except json.JSONDecodeError as exc:
            report.rejected.append(Rejection(f"line {number}", f"invalid JSON: {exc.msg}"))
        except RowError as exc:
            report.rejected.append(Rejection(f"line {number}", str(exc)))
