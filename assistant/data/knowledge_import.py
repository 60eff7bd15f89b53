"""Turn a shop's FAQ and policy pages into `knowledge/passages.jsonl`.

Sources: a folder of pages (``.md``/``.markdown``, ``.html``/``.htm``, ``.txt``; read recursively) or an FAQ
table (``.csv``/``.tsv`` with ``question`` and ``answer`` columns; optional ``topic`` and ``language``).
Pages are cut at their headings into passages (a long section into pieces of about `MAX_PASSAGE_CHARS`,
at sentence ends), each with a title, a topic (from its words, see `assistant/defaults/lexicon.json`), a
language (the given one, else by script) and its `facts`, extracted automatically (`extract_facts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.data.importers import OnError, Rejection, write_jsonl
from assistant.data.labels import strict_csv_rows
from assistant.data.text import extract_facts, html_blocks, markdown_blocks, text_blocks
from assistant.errors import DataError
from assistant.shop import engine_defaults

PAGE_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".txt": "text"}
MAX_PASSAGE_CHARS = 900
MAX_PAGE_BYTES = 5 * 1024 * 1024


@dataclass
class KnowledgeImportReport:
    """What a knowledge import read, wrote and refused."""

    files_in: int = 0
    passages_out: int = 0
    facts_out: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    topics: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=1)
def topic_words() -> dict[str, re.Pattern[str]]:
    """topic -> a pattern of its words, from the engine lexicon (language knowledge, not shop knowledge)."""
    topics = engine_defaults("lexicon.json")["topics"]
    return {topic: re.compile("|".join(words), re.IGNORECASE) for topic, words in topics.items()}


def guess_topic(title: str, text: str) -> str:
    """The topic whose words the title (weighted three times) and the text use most; "general" when none."""
    best, best_score = "general", 0
    for topic, pattern in topic_words().items():
        score = 3 * len(pattern.findall(title)) + len(pattern.findall(text))
        if score > best_score:
            best, best_score = topic, score
    return best


def guess_language(text: str, allowed: tuple[str, ...]) -> str:
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    language = "zh" if cjk and cjk / max(1, len(text.replace(" ", ""))) > 0.2 else "en"
    return language if language in allowed else allowed[0]


def _slug(text: str) -> str:
    ascii_words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(ascii_words)[:40].strip("-") or "page"


def _chunks(text: str) -> list[str]:
    """`text` in pieces of at most about MAX_PASSAGE_CHARS, cut at sentence ends."""
    if len(text) <= MAX_PASSAGE_CHARS:
        return [text]
    pieces, current = [], ""
    for sentence in re.split(r"(?<=[.!?。！？])\s*", text):
        if current and len(current) + len(sentence) > MAX_PASSAGE_CHARS:
            pieces.append(current.strip())
            current = ""
        current += sentence + " "
    if current.strip():
        pieces.append(current.strip())
    return pieces


def sections(blocks: list[tuple[str, str]], page_title: str) -> list[tuple[str, str]]:
    """(title, text) per heading: the text under each heading; text before the first heading is titled with
    the page's own title."""
    out: list[tuple[str, str]] = []
    title, body = page_title, list[str]()
    for kind, text in blocks:
        if kind == "heading":
            if body:
                out.append((title, " ".join(body)))
            title, body = text, []
        else:
            body.append(text)
    if body:
        out.append((title, " ".join(body)))
    return out


def import_knowledge(
    source: Path,
    shop_dir: Path,
    *,
    languages: tuple[str, ...] = ("en",),
    on_error: OnError = "skip",
) -> KnowledgeImportReport:
    """Read FAQ pages or an FAQ table and write `shop_dir/knowledge/passages.jsonl` (replacing it)."""
    report = KnowledgeImportReport()
    if not source.exists():
        raise DataError(f"{source} does not exist; give a folder of FAQ pages or an FAQ .csv")
    if source.is_dir():
        entries = _pages(source, report, languages)
    elif source.suffix.lower() in (".csv", ".tsv"):
        entries = _faq_table(source, report, languages)
    elif source.suffix.lower() in PAGE_SUFFIXES:
        entries = _page(source, source.parent, report, languages)
    else:
        raise DataError(f"{source}: expected a folder, an FAQ .csv/.tsv or a page (.md, .html, .txt)")
    if report.rejected and on_error == "reject":
        first = report.rejected[0]
        raise DataError(f"{source}: {len(report.rejected)} problems (first: {first.where}: {first.reason}); "
                        "nothing was written. Fix them or import with --on-error skip.")  # fmt: skip
    if not entries:
        raise DataError(
            f"{source}: no passage could be read ({len(report.rejected)} problems); nothing was written"
        )
    passages: dict[str, dict] = {}
    groups: dict[str, int] = {}
    for stem, title, text, topic, language in entries:
        base = f"{_slug(stem)}-{_slug(title)}"
        groups[base] = groups.get(base, 0) + 1
        group = base if groups[base] == 1 else f"{base}-{groups[base]}"
        topic = topic or guess_topic(title, text)
        facts = extract_facts(text)
        passages[f"{group}-{language}"] = {"id": f"{group}-{language}", "group": group, "language": language,
                                           "topic": topic, "title": title, "text": text, "facts": facts}  # fmt: skip
        report.topics[topic] = report.topics.get(topic, 0) + 1
        report.facts_out += len(facts)
    write_jsonl(shop_dir / "knowledge" / "passages.jsonl", passages.values())
    report.passages_out = len(passages)
    return report


Entry = tuple[str, str, str, str, str]  # page stem, title, text, topic ("" = guess), language


def _pages(folder: Path, report: KnowledgeImportReport, languages: tuple[str, ...]) -> list[Entry]:
    """Every page and FAQ table under `folder`; anything else is reported and skipped."""
    entries: list[Entry] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        where = str(path.relative_to(folder))
        if path.suffix.lower() in (".csv", ".tsv"):
            try:
                entries += _faq_table(path, report, languages)
            except DataError as exc:
                report.rejected.append(Rejection(where, str(exc)))
        elif path.suffix.lower() in PAGE_SUFFIXES:
            entries += _page(path, folder, report, languages)
        else:
            report.rejected.append(Rejection(where, "not a page (.md, .html, .txt) or an FAQ table (.csv)"))
    return entries


def _page(path: Path, folder: Path, report: KnowledgeImportReport, languages: tuple[str, ...]) -> list[Entry]:
    where = str(path.relative_to(folder))
    report.files_in += 1
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_PAGE_BYTES:
            raise DataError(f"{len(raw) / 1e6:.1f} MB is more than a page ({MAX_PAGE_BYTES / 1e6:.0f} MB)")
        if b"\x00" in raw[:4096]:
            raise DataError("binary content (NUL bytes)")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.rejected.append(Rejection(where, f"not UTF-8 (byte {exc.start}); re-save it as UTF-8"))
        return []
    except (OSError, DataError) as exc:
        report.rejected.append(Rejection(where, str(exc)))
        return []
    kind = PAGE_SUFFIXES[path.suffix.lower()]
    blocks = {"markdown": markdown_blocks, "html": html_blocks, "text": text_blocks}[kind](text)
    page_title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    found = [(t, body) for t, body in sections(blocks, page_title) if len(body) >= 20]
    if not found:
        report.rejected.append(Rejection(where, "no text of 20 characters or more under any heading"))
        return []
    return [(path.stem, title, chunk, "", guess_language(chunk, languages))
            for title, body in found for chunk in _chunks(body)]  # fmt: skip


def _faq_table(path: Path, report: KnowledgeImportReport, languages: tuple[str, ...]) -> list[Entry]:
    report.files_in += 1
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 (byte {exc.start}); re-save it as UTF-8") from exc
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    fields, rows = strict_csv_rows(text, str(path), delimiter=delimiter)
    header = {h.strip().lower(): h for h in fields}
    question = header.get("question") or header.get("q")
    answer = header.get("answer") or header.get("a")
    if not question or not answer:
        raise DataError(f"{path}: the FAQ table needs 'question' and 'answer' columns; it has {list(header)}")
    entries: list[Entry] = []
    for line, row in rows:
        q, a = (row.get(question) or "").strip(), (row.get(answer) or "").strip()
        if not q or not a:
            report.rejected.append(Rejection(f"line {line}", "empty question or answer"))
            continue
        language = (row.get(header.get("language", ""), "") or "").strip() or guess_language(q + a, languages)
        if language not in languages:
            report.rejected.append(Rejection(f"line {line}", f"language {language!r} is not the shop's"))
            continue
        topic = (row.get(header.get("topic", ""), "") or "").strip().lower()
        entries += [(path.stem, q, chunk, topic, language) for chunk in _chunks(a)]
    return entries
