"""Convert a shop's own exports into the project's conversation log format.

Formats:
- ``messages-jsonl``: one conversation per line, ``{"messages": [{"role", "content"}, ...]}``
  (the common chat format; optional ``id`` and ``metadata.intent``);
- ``ticket-csv``: one message per row with ``conversation_id, role, text, timestamp`` and an
  optional ``intent`` column;
- ``bitext``: the Bitext customer-support CSV (one request and its response per row);
- ``abcd``: Action-Based Conversations (a JSON list of conversations with ``original`` turns of
  customer / agent / action). A conversation's label (its subflow) goes on the first customer message
  that is more than a greeting (`greeting_only`); greetings before it are labelled ``greeting``.

Malformed rows are never dropped silently: each is reported with its line (or item) number and
reason, and either skipped (``on_error="skip"``) or makes the import fail (``"reject"``) before
anything is written. With ``redact=True`` e-mails, phone and card numbers (and, for ABCD, the
customer's name) are replaced by placeholders.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assistant.data.validation import read_jsonl_strictly
from assistant.errors import DataError, csv_error
from assistant.privacy import redact as redact_text
from assistant.shop import engine_defaults

OnError = Literal["skip", "reject"]
CUSTOMER_ROLES = {"user", "customer", "client", "shopper", "human"}
AGENT_ROLES = {"assistant", "agent", "support", "bot", "staff"}
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class Rejection:
    """A row that was not imported, and why."""

    where: str  # "line 12" or "item 3"
    reason: str


@dataclass
class ImportReport:
    """What an import read, wrote and refused."""

    format: str
    rows_in: int = 0
    conversations_out: int = 0
    turns_out: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    intents: dict[str, int] = field(default_factory=dict)  # customer turns per intent label, after the map
    relabelled: int = 0  # customer turns whose label the label map renamed (or dropped)
    replaced: int = 0  # with `append`: conversations of the export that replaced one with the same id
    conversations_total: int = 0  # conversations in the destination afterwards


def import_logs(
    fmt: str,
    source: Path,
    destination: Path,
    *,
    on_error: OnError = "skip",
    redact: bool = False,
    label_map: Mapping[str, str] | None = None,
    append: bool = False,
) -> ImportReport:
    """Read `source` in format `fmt` and write conversations JSONL to `destination`. `label_map` renames the
    customer turns' intent labels (raw -> engine intent; "" leaves the turn unlabelled, the turn is kept);
    the report counts the labels written, so labels the engine does not act on can be shown. With `append`
    the conversations join those already in `destination` (one with an id already there replaces it, in its
    place: a later export of a conversation that went on); the existing file must read cleanly."""
    readers: dict[str, Callable[[bytes, ImportReport], Iterator[dict]]] = {
        "messages-jsonl": _read_messages_jsonl,
        "ticket-csv": _read_ticket_csv,
        "bitext": _read_bitext,
        "abcd": _read_abcd,
    }
    if fmt not in readers:
        raise DataError(f"unknown import format {fmt!r}; choose one of: {', '.join(readers)}")
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{source} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{source} is a folder; give the export file") from None
    report = ImportReport(format=fmt)
    conversations = list(readers[fmt](raw, report))
    if report.rejected and on_error == "reject":
        first = report.rejected[0]
        raise DataError(
            f"{source}: {len(report.rejected)} malformed rows (first: {first.where}: {first.reason}); "
            "nothing was written. Fix them or import with --on-error skip."
        )
    for conversation in conversations:
        if redact:
            _redact_conversation(conversation)
        conversation.pop("_names", None)
        report.turns_out += len(conversation["turns"])
        for turn in conversation["turns"]:
            if turn["role"] != "customer" or not turn.get("intent"):
                continue
            if label_map and turn["intent"] in label_map:
                turn["intent"] = label_map[turn["intent"]] or None
                report.relabelled += 1
            if turn["intent"]:
                report.intents[turn["intent"]] = report.intents.get(turn["intent"], 0) + 1
    report.conversations_out = len(conversations)
    if append and destination.is_file():
        existing = read_jsonl_strictly(destination, validate_hint="cannot append to it; nothing was written")
        position = {str(c.get("id")): i for i, c in enumerate(existing)}
        for conversation in conversations:
            if conversation["id"] in position:
                existing[position[conversation["id"]]] = conversation
                report.replaced += 1
            else:
                position[conversation["id"]] = len(existing)
                existing.append(conversation)
        conversations = existing
    report.conversations_total = write_jsonl(destination, conversations)
    return report


def write_jsonl(destination: Path, records: Iterable[dict]) -> int:
    """Write `records` as JSON lines to a staging file beside `destination`, then swap it in: a failed or
    interrupted import never leaves half a file. Returns how many were written."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(destination.name + ".partial")
    count = 0
    with staging.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    staging.replace(destination)
    return count


def _decode(raw: bytes, report: ImportReport) -> str:
    if b"\x00" in raw[:4096]:
        raise DataError(f"the {report.format} export looks binary (NUL bytes); expected UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"the {report.format} export is not UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from exc


def _turn(role: str, text: str, **labels: Any) -> dict:
    if role == "customer":
        return {
            "role": "customer",
            "text": text,
            "intent": labels.get("intent"),
            "slots": labels.get("slots", {}),
        }
    return {"role": "agent", "text": text, "action": labels.get("action"), "products": [], "passages": []}


def _conversation(cid: str, turns: list[dict], *, source: str, **extra: Any) -> dict:
    customer_text = " ".join(t["text"] for t in turns if t["role"] == "customer")
    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in customer_text) else "en"
    handed_off = any(t["role"] == "agent" and t.get("action") == "handoff" for t in turns)
    return {
        "id": cid,
        "language": language,
        "source": source,
        "customer_id": None,
        "outcome": "handed_off" if handed_off else "resolved",
        "turns": turns,
        **extra,
    }


def _role(value: Any) -> str | None:
    name = str(value or "").strip().lower()
    return "customer" if name in CUSTOMER_ROLES else "agent" if name in AGENT_ROLES else None


def _text_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "empty text"
    if len(text) > MAX_TEXT_CHARS:
        return f"text longer than {MAX_TEXT_CHARS} characters"
    return None


def _read_messages_jsonl(raw: bytes, report: ImportReport) -> Iterator[dict]:
    for number, line in enumerate(_decode(raw, report).splitlines(), start=1):
        if not line.strip():
            continue
        report.rows_in += 1
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.rejected.append(Rejection(where, f"invalid JSON: {exc.msg}"))
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            report.rejected.append(Rejection(where, "no 'messages' list"))
            continue
        turns: list[dict] = []
        problem: str | None = None
        metadata = record.get("metadata")
        intent = metadata.get("intent") if isinstance(metadata, dict) else None
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                problem = f"message {index} is not an object"
                break
            if str(message.get("role", "")).lower() in ("system", "tool"):
                continue
            role = _role(message.get("role"))
            problem = (
                f"message {index} has unknown role {message.get('role')!r}" if role is None else None
            ) or _text_problem(message.get("content"))
            if problem:
                problem = problem if problem.startswith("message") else f"message {index}: {problem}"
                break
            assert role is not None  # for mypy: checked just above
            first_customer = role == "customer" and not any(t["role"] == "customer" for t in turns)
            turns.append(_turn(role, message["content"].strip(), intent=intent if first_customer else None))
        if problem is None and not any(t["role"] == "customer" for t in turns):
            problem = "no customer message"
        if problem:
            report.rejected.append(Rejection(where, problem))
            continue
        cid = str(record.get("id") or f"chat-{number:06d}")
        yield _conversation(cid, turns, source="messages-jsonl")


def _csv_rows(raw: bytes, report: ImportReport, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(_decode(raw, report), newline=""), strict=True)
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"the {report.format} export lacks columns {', '.join(missing)}; it has: "
                f"{', '.join(reader.fieldnames or []) or 'no header'}"
            )
        for row in reader:
            report.rows_in += 1
            if None in row:  # more cells than header columns
                report.rejected.append(Rejection(f"line {reader.line_num}", "more cells than header columns"))
                continue
            yield reader.line_num, row
    except csv.Error as exc:  # nothing is written: the rows after a broken quote cannot be told apart
        raise csv_error(f"the {report.format} export", reader.line_num, exc) from None


def _read_ticket_csv(raw: bytes, report: ImportReport) -> Iterator[dict]:
    grouped: dict[str, list[tuple[datetime, int, dict]]] = {}
    for line, row in _csv_rows(raw, report, ("conversation_id", "role", "text", "timestamp")):
        where = f"line {line}"
        cid, role = (row.get("conversation_id") or "").strip(), _role(row.get("role"))
        problem = (
            ("missing conversation_id" if not cid else None)
            or (f"unknown role {row.get('role')!r}" if role is None else None)
            or _text_problem(row.get("text"))
        )
        try:
            when = datetime.fromisoformat((row.get("timestamp") or "").strip().replace("Z", "+00:00"))
        except ValueError:
            problem = problem or f"timestamp {row.get('timestamp')!r} is not ISO 8601"
        if problem:
            report.rejected.append(Rejection(where, problem))
            continue
        assert role is not None
        intent = (row.get("intent") or "").strip() or None
        turn = _turn(role, (row.get("text") or "").strip(), intent=intent if role == "customer" else None)
        grouped.setdefault(cid, []).append((when.replace(tzinfo=None), line, turn))
    for cid, rows in grouped.items():
        turns = [turn for _, _, turn in sorted(rows, key=lambda r: (r[0], r[1]))]
        if not any(t["role"] == "customer" for t in turns):
            report.rejected.append(Rejection(f"conversation {cid}", "no customer message"))
            continue
        started = min(r[0] for r in rows).isoformat(timespec="minutes")
        yield _conversation(cid, turns, source="ticket-csv", started_at=started)


def _read_bitext(raw: bytes, report: ImportReport) -> Iterator[dict]:
    for line, row in _csv_rows(raw, report, ("instruction", "intent", "response")):
        where = f"line {line}"
        problem = _text_problem(row.get("instruction")) or _text_problem(row.get("response"))
        if not (row.get("intent") or "").strip():
            problem = problem or "missing intent"
        if problem:
            report.rejected.append(Rejection(where, problem))
            continue
        text = row["instruction"].strip()
        slots = {}
        entity, value = (row.get("entity_type") or "").strip(), (row.get("entity_value") or "").strip()
        if entity and value and value.lower() in text.lower():
            slots[entity] = value
        turns = [
            _turn("customer", text, intent=row["intent"].strip(), slots=slots),
            _turn("agent", row["response"].strip()),
        ]
        yield _conversation(
            f"bitext-{line:06d}", turns, source="bitext", category=(row.get("category") or "").strip() or None
        )


def _read_abcd(raw: bytes, report: ImportReport) -> Iterator[dict]:
    try:
        items = json.loads(_decode(raw, report))
    except json.JSONDecodeError as exc:
        raise DataError(f"the ABCD export is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if isinstance(items, dict):
        items = list(items.values()) if all(isinstance(v, dict) for v in items.values()) else [items]
    if not isinstance(items, list):
        raise DataError("the ABCD export must be a JSON list of conversations")
    for index, item in enumerate(items, start=1):
        report.rows_in += 1
        where = f"item {index}"
        original = item.get("original") if isinstance(item, dict) else None
        if not isinstance(original, list) or not original:
            report.rejected.append(Rejection(where, "no 'original' turns"))
            continue
        scenario = item.get("scenario") if isinstance(item.get("scenario"), dict) else {}
        subflow = scenario.get("subflow")
        turns: list[dict] = []
        pending_actions: list[str] = []
        problem = None
        for number, entry in enumerate(original):
            if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], str):
                problem = f"turn {number} is not a [speaker, text] pair"
                break
            speaker, text = str(entry[0]).lower(), entry[1].strip()
            if speaker == "action":
                pending_actions.append(text)
                continue
            role = _role(speaker)
            if role is None or not text:
                problem = f"turn {number} has speaker {speaker!r} or empty text"
                break
            if turns and turns[-1]["role"] == role:  # consecutive messages of one speaker: one turn
                turns[-1]["text"] += "\n" + text
                continue
            if role == "agent":
                action = "; ".join(pending_actions) or None
                pending_actions = []
                turns.append(_turn("agent", text, action=action))
            else:
                turns.append(_turn("customer", text))
        if problem is None and not any(t["role"] == "customer" for t in turns):
            problem = "no customer message"
        if problem:
            report.rejected.append(Rejection(where, problem))
            continue
        _label_request(turns, subflow)
        personal = scenario.get("personal")
        if not isinstance(personal, dict):
            personal = {}
        conversation = _conversation(
            f"abcd-{item.get('convo_id', index)}",
            turns,
            source="abcd",
            flow=scenario.get("flow"),
            subflow=subflow,
        )
        conversation["_names"] = [
            str(personal.get("customer_name") or ""),
            str(personal.get("username") or ""),
        ]
        yield conversation


@lru_cache(maxsize=1)
def _greeting_patterns() -> tuple[re.Pattern[str], ...]:
    """One pattern per language: any of its greeting phrases (`lexicon.json` "greetings"), longest first;
    whole words for a language written in ASCII (English), anywhere otherwise (Chinese has no spaces)."""
    patterns = []
    for phrases in engine_defaults("lexicon.json")["greetings"].values():
        ordered = sorted({p.lower() for p in phrases}, key=len, reverse=True)
        spaced = all(p.isascii() for p in ordered)
        body = "|".join(re.escape(p) for p in ordered)
        patterns.append(re.compile(rf"\b(?:{body})\b" if spaced else f"(?:{body})"))
    return tuple(patterns)


def greeting_only(text: str) -> bool:
    """True when `text` says nothing beyond a greeting: only phrases of the engine's greetings lexicon (hi,
    good morning, is anyone there, can you help me, 你好, 在吗 ...), punctuation and symbols. "Hi! I need to
    return an item" is not; "HEY HO!" is. Empty text is not a greeting."""
    rest = text.lower().replace("’", "'")
    if not re.search(r"\w", rest):
        return False
    for pattern in _greeting_patterns():
        rest = pattern.sub(" ", rest)
    return not re.search(r"[^\W_]", rest)


def _label_request(turns: list[dict], label: str | None) -> None:
    """Put a conversation-level `label` on its first customer message that is more than a greeting; the
    greetings before it become ``greeting``. When every customer message is a greeting, the first gets it."""
    if not label:
        return
    customer = [t for t in turns if t["role"] == "customer"]
    request = next((t for t in customer if not greeting_only(t["text"])), customer[0])
    for turn in customer:
        if turn is request:
            turn["intent"] = label
            return
        turn["intent"] = "greeting"


def _redact_conversation(conversation: dict) -> None:
    names = conversation.get("_names") or []
    for turn in conversation["turns"]:
        turn["text"] = redact_text(turn["text"], names=names)
        if turn.get("action"):
            turn["action"] = redact_text(turn["action"], names=names)
        if turn.get("slots"):
            turn["slots"] = {k: v for k, v in turn["slots"].items() if v in turn["text"]}
