"""Labelling a shop's own turns: a sheet of customer turns with the intent model's suggestion for a person
to confirm or correct, and the labels written back into the logs.

Most exported support logs carry no intent labels, and intent training needs a few per intent. The sheet
(`data label-sheet`) picks customer turns without a label, spread over the intents the current model
(the engine's default on a new shop) suggests and over its confidence within each (sure and unsure cases
both), so a person labelling a few hundred rows covers every intent; `data apply-labels` writes the
`intent` column back into `logs/conversations.jsonl`. A row is applied only where the turn's text still
matches (a sheet from older logs never labels the wrong turn); blank rows are skipped.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.analytics import spreadsheet_safe
from assistant.backends.embedding_cache import embed_texts
from assistant.data.importers import write_jsonl
from assistant.data.labels import outside_engine, read_text_file, strict_csv_rows
from assistant.data.validation import FILES, read_conversations
from assistant.errors import DataError
from assistant.stages.intent_head import IntentHead

COLUMNS = ("conversation_id", "turn", "language", "text", "suggested", "confidence", "intent")
MAX_CANDIDATES = 20_000  # unlabelled turns embedded for suggestions (a seeded sample of a larger log)


@dataclass
class LabelReport:
    """What `apply_labels` did with a sheet."""

    applied: int = 0
    unchanged: int = 0  # the turn already had this label
    blank: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (sheet line, reason)
    intents: dict[str, int] = field(default_factory=dict)  # labels applied, per intent


def labelling_sheet(
    shop_dir: Path,
    embedder: Any,
    head: IntentHead,
    *,
    per_intent: int = 10,
    max_rows: int = 500,
    relabel: bool = False,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict[str, str]]:
    """Rows of `COLUMNS` (the `intent` column blank, for a person): up to `per_intent` customer turns for
    each intent the model suggests, spread over its confidence, at most `max_rows` in all. Turns with a
    label are left out unless `relabel` (then the label fills the `intent` column). With `cache_dir`, the
    turns' embeddings are kept there for `train intent` to reuse."""
    candidates = []
    for conversation in read_conversations(shop_dir):
        for index, turn in enumerate(conversation.get("turns") or []):
            if (
                not isinstance(turn, dict)
                or turn.get("role") != "customer"
                or not str(turn.get("text", "")).strip()
            ):
                continue
            if turn.get("intent") and not relabel:
                continue
            language = str(turn.get("language") or conversation.get("language") or "")
            candidates.append((str(conversation.get("id")), index, language, str(turn["text"]),
                               str(turn.get("intent") or "")))  # fmt: skip
    if not candidates:
        return []
    rng = random.Random(seed)
    if len(candidates) > MAX_CANDIDATES:
        candidates = rng.sample(candidates, MAX_CANDIDATES)
    vectors = embed_texts(embedder, [c[3] for c in candidates], progress=progress, label="customer turns",
                          cache_dir=cache_dir)  # fmt: skip
    probabilities = head.probabilities(vectors)
    best = probabilities.argmax(axis=1)
    by_intent: dict[str, list[int]] = defaultdict(list)
    for row, label_index in enumerate(best):
        by_intent[head.labels[int(label_index)]].append(row)
    chosen: dict[str, list[int]] = {}
    for intent, rows in by_intent.items():
        rows.sort(key=lambda r: float(probabilities[r].max()))
        if len(rows) > per_intent:  # evenly over the confidence order: unsure, typical and sure cases
            step = len(rows) / per_intent
            rows = [rows[int(i * step)] for i in range(per_intent)]
        chosen[intent] = rows
    picked: list[int] = []
    for position in range(per_intent):  # round-robin over intents, so a cap keeps every intent
        for intent in sorted(chosen):
            if position < len(chosen[intent]) and len(picked) < max_rows:
                picked.append(chosen[intent][position])
    picked.sort(key=lambda r: (candidates[r][0], candidates[r][1]))
    return [{"conversation_id": candidates[r][0], "turn": str(candidates[r][1]), "language": candidates[r][2],
             "text": candidates[r][3], "suggested": head.labels[int(best[r])],
             "confidence": f"{float(probabilities[r].max()):.3f}", "intent": candidates[r][4]}
            for r in picked]  # fmt: skip


def write_sheet(rows: list[dict[str, str]], path: Path) -> None:
    """The sheet as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese text right). A
    shopper's text that starts like a formula ("=HYPERLINK(...)") is written with a leading apostrophe, so
    opening the sheet never runs it; `apply_labels` takes the apostrophe off again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({**row, "text": spreadsheet_safe(row["text"])} for row in rows)


def _same_text(turn_text: str, sheet_text: str) -> bool:
    """Whether a sheet row's text is the turn's (spacing aside: spreadsheet programs change line ends; and the
    apostrophe `write_sheet` puts before a formula-like text)."""
    if sheet_text.startswith("'") and spreadsheet_safe(turn_text) == sheet_text:
        sheet_text = turn_text
    return " ".join(turn_text.split()) == " ".join(sheet_text.split())


def apply_labels(shop_dir: Path, sheet: Path, *, label_map: Mapping[str, str] | None = None) -> LabelReport:
    """Write the sheet's `intent` column into the shop's logs (renamed by `label_map`; a label mapped to ""
    removes the turn's label). Rows naming an unknown conversation or turn, or whose text no longer matches
    the turn (spacing aside: spreadsheet programs change line ends), are rejected and reported; the rest
    are applied, and the logs rewritten at once (a staged file swapped in)."""
    raw = read_text_file(sheet, what="label sheet", hint="; save the sheet as CSV UTF-8")
    # the whole sheet read before anything is applied: a broken quote stops it with nothing written
    fields, rows = strict_csv_rows(raw, f"label sheet {sheet}")
    missing = [c for c in ("conversation_id", "turn", "text", "intent") if c not in fields]
    if missing:
        raise DataError(f"{sheet} lacks columns {', '.join(missing)}; it has {fields} (write a sheet "
                        "with `python -m assistant data label-sheet`)")  # fmt: skip
    conversations = read_conversations(shop_dir)
    by_id = {str(c.get("id")): c for c in conversations}
    report = LabelReport()
    for line, row in rows:
        intent = (row.get("intent") or "").strip()
        if not intent:
            report.blank += 1
            continue
        intent = label_map.get(intent, intent) if label_map else intent
        conversation = by_id.get((row.get("conversation_id") or "").strip())
        turns = conversation.get("turns") if conversation else None
        try:
            turn = turns[int(row.get("turn") or "")] if isinstance(turns, list) else None
        except (ValueError, IndexError):
            turn = None
        if conversation is None or not isinstance(turn, dict) or turn.get("role") != "customer":
            report.rejected.append((line, f"no customer turn {row.get('turn')!r} in conversation "
                                          f"{row.get('conversation_id')!r}"))  # fmt: skip
            continue
        if not _same_text(str(turn.get("text", "")), row.get("text") or ""):
            report.rejected.append((line, "the turn's text differs from the sheet's: the logs changed since the "
                                          "sheet was written"))  # fmt: skip
            continue
        if (turn.get("intent") or "") == intent:
            report.unchanged += 1
            continue
        turn["intent"] = intent or None
        report.applied += 1
        if intent:
            report.intents[intent] = report.intents.get(intent, 0) + 1
    if report.applied:
        write_jsonl(shop_dir / FILES["conversations"], conversations)
    return report


def describe(report: LabelReport) -> str:
    """One paragraph for the person who filled in the sheet."""
    lines = [f"{report.applied} turns labelled, {report.unchanged} already so, {report.blank} rows left blank, "
             f"{len(report.rejected)} rejected"]  # fmt: skip
    if report.intents:
        lines.append("labelled: " + ", ".join(f"{k} {v}" for k, v in sorted(report.intents.items())))
    outside = outside_engine(report.intents)
    if outside:
        lines.append("not engine intents (answered from knowledge only): " + json.dumps(outside))
    lines += [f"  rejected line {line}: {reason}" for line, reason in report.rejected[:50]]
    return "\n".join(lines)
