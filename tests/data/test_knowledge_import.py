"""FAQ and policy pages (Markdown, HTML, text) and FAQ tables become passages with their facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.data.knowledge_import import import_knowledge
from assistant.data.text import extract_facts, html_text
from assistant.errors import DataError

FAQ = Path(__file__).resolve().parent / "shops" / "harbour" / "exports" / "faq"


def passages(shop: Path) -> dict[str, dict]:
    lines = (shop / "knowledge" / "passages.jsonl").read_text(encoding="utf-8").splitlines()
    return {p["id"]: p for p in map(json.loads, lines)}


def test_a_folder_of_pages_and_an_faq_table(tmp_path: Path) -> None:
    report = import_knowledge(FAQ, tmp_path)
    found = passages(tmp_path)
    assert report.files_in == 5 and report.passages_out == len(found) == 20 and not report.rejected
    by_title = {p["title"]: p for p in found.values()}
    # Markdown: one passage per heading, with the facts a grounded answer must repeat
    cost = by_title["What does a return cost?"]
    assert cost["topic"] == "returns" and cost["facts"] == {"fee": "£3.50"} and cost["language"] == "en"
    assert by_title["How long do I have to return something?"]["facts"] == {"window_days": "28"}
    uk = by_title["Delivery within the UK"]["facts"]
    assert uk["free_over"] == "£40" and uk["delivery_days"] == "2-4" and uk["fee"] == "£3.95"
    # HTML: navigation, scripts and footers dropped; hours, phone and e-mail found
    hours = by_title["Opening hours"]
    assert hours["facts"] == {"hours": "9:00 to 17:30"} and "Home" not in hours["text"]
    contact = by_title["Contact us"]["facts"]
    assert contact["phone"] == "020 7946 0958" and contact["email"] == "hello@harbourpine.example"
    assert by_title["Complaints"]["facts"] == {"reply_days": "3"}
    # plain text: a short line before a paragraph is its heading
    assert by_title["Cancelling an order"]["facts"]["cancel_hours"] == "1"
    # the FAQ table: question as title, its topic column kept, a promotion code found
    promo = by_title["Do you have a discount for first orders?"]
    assert (
        promo["topic"] == "promotions"
        and promo["facts"]["code"] == "STEEP15"
        and promo["facts"]["percent"] == "15%"
    )
    assert all(p["id"] == f"{p['group']}-en" for p in found.values())


def test_bad_pages_are_reported_and_reject_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "pages"
    source.mkdir()
    (source / "good.md").write_text("# Gift wrap\nWe gift wrap any order for £2.50 on request.\n")
    (source / "latin.txt").write_bytes("Caf\xe9 opening times are 9am-5pm daily.".encode("latin-1"))
    (source / "image.png").write_bytes(b"\x89PNG\r\n")
    (source / "empty.html").write_text("<html><script>x()</script></html>")
    (source / "broken.csv").write_text("title,body\nx,y\n")
    (source / "quote.csv").write_text('question,answer\n"Do you gift wrap?,Yes\nDo you ship abroad?,Yes\n')
    report = import_knowledge(source, tmp_path / "shop")
    reasons = {r.where: r.reason for r in report.rejected}
    assert set(reasons) == {"latin.txt", "image.png", "empty.html", "broken.csv", "quote.csv"}
    assert "UTF-8" in reasons["latin.txt"] and "'question' and 'answer'" in reasons["broken.csv"]
    assert "line 2: not valid CSV" in reasons["quote.csv"]
    assert [p["facts"] for p in passages(tmp_path / "shop").values()] == [{"fee": "£2.50"}]
    with pytest.raises(DataError, match=r"5 problems .*nothing was written"):
        import_knowledge(source, tmp_path / "other", on_error="reject")
    assert not (tmp_path / "other").exists()
    with pytest.raises(DataError, match="does not exist"):
        import_knowledge(tmp_path / "nowhere", tmp_path)


def test_chinese_pages_and_long_sections(tmp_path: Path) -> None:
    source = tmp_path / "faq"
    source.mkdir()
    long = " ".join(f"Sentence {i} explains one more detail of the returns process." for i in range(40))
    (source / "zh.md").write_text(
        "# 退货\n签收后30天内可以退货，运费¥15由顾客承担。\n\n# Long\n" + long + "\n"
    )
    import_knowledge(source, tmp_path, languages=("en", "zh"))
    found = list(passages(tmp_path).values())
    zh = next(p for p in found if p["language"] == "zh")
    assert zh["topic"] == "returns" and zh["facts"]["window_days"] == "30" and zh["facts"]["fee"] == "¥15"
    pieces = [p for p in found if p["title"] == "Long"]
    assert len(pieces) >= 2 and all(len(p["text"]) <= 1000 for p in pieces)


@pytest.mark.parametrize(
    ("text", "facts"),
    [("Standard delivery takes 3-5 business days and costs $5.99; free on orders over $49.",
      {"delivery_days": "3-5", "fee": "$5.99", "free_over": "$49"}),
     ("Out-of-stock items restock within 2-3 weeks.", {"weeks": "2-3"}),
     ("Open 9am-5pm; call +44 20 7946 0958.", {"hours": "9am-5pm", "phone": "+44 20 7946 0958"}),
     ("Nothing to check here.", {})],
)  # fmt: skip
def test_extract_facts(text: str, facts: dict[str, str]) -> None:
    assert extract_facts(text) == facts


def test_html_text() -> None:
    assert html_text("<p>A <b>warm</b> hat &amp; scarf.</p><script>evil()</script>") == "A warm hat & scarf."
    assert html_text("plain &amp; simple") == "plain & simple"
