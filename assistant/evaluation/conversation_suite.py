"""`eval conversations`: multi-turn conversations written by people, with what each reply must do.

The suite lives in `evals/conversations/*.yaml` (format in `evals/conversations/README.md`, in the spirit of
Rasa's end-to-end tests). Each file names the shop it was written for; a run plays the files of the shop the
settings point at, turn by turn through the real pipeline (its own temporary database), checks every
expectation and reports the pass rate per category: a conversation passes when every turn passes.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import DataError
from assistant.schema import Reply

CLARIFYING_ACTIONS = frozenset(
    {"clarify", "clarify_words", "clarify_input", "clarify_product", "request_verification"}
)
KNOWN_CHECKS = frozenset(
    {"intent", "action", "language", "contains", "contains_any", "not_contains", "starts_with_any", "cards",
     "cards_match", "cards_exclude", "clarifies", "handoff", "max_chars", "no_order_facts"}
)  # fmt: skip


@dataclass(frozen=True)
class Turn:
    message: str
    expect: dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    id: str
    category: str
    language: str
    file: str
    turns: tuple[Turn, ...]


@dataclass
class ConversationResult:
    conversation: Conversation
    failures: list[str] = field(default_factory=list)  # "turn 2: reply lacks '4.95'"
    transcript: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_suite(folder: Path, shop_name: str) -> list[Conversation]:
    """The conversations of the YAML files in `folder` written for `shop_name`; format errors name the file."""
    import yaml

    out: list[Conversation] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from exc
        if data.get("shop") != shop_name:
            continue
        seen: set[str] = set()
        for index, raw in enumerate(data.get("conversations") or [], start=1):
            where = f"{path.name}: conversation {index}"
            if not isinstance(raw, dict) or not raw.get("id") or not raw.get("turns"):
                raise DataError(f"{where}: needs an 'id' and 'turns'")
            if raw["id"] in seen:
                raise DataError(f"{where}: duplicate id {raw['id']!r}")
            seen.add(raw["id"])
            turns = []
            for number, turn in enumerate(raw["turns"], start=1):
                expect = dict(turn.get("expect") or {})
                unknown = set(expect) - KNOWN_CHECKS
                if not turn.get("user") or unknown:
                    raise DataError(f"{where} ({raw['id']}), turn {number}: needs 'user'; unknown checks: "
                                    f"{sorted(unknown)}; valid: {sorted(KNOWN_CHECKS)}")  # fmt: skip
                turns.append(Turn(str(turn["user"]), expect))
            out.append(Conversation(str(raw["id"]), str(raw.get("category") or data.get("category") or "other"),
                                    str(raw.get("language") or data.get("language") or "en"), path.name,
                                    tuple(turns)))  # fmt: skip
    return out


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def check_reply(reply: Reply, expect: dict[str, Any], products: dict[str, dict]) -> list[str]:
    """What of `expect` the reply does not do (empty: it passes)."""
    problems: list[str] = []
    text = reply.text
    lowered = text.lower()
    trace = reply.trace
    if "intent" in expect and trace.understanding.intent not in _as_list(expect["intent"]):
        problems.append(f"intent {trace.understanding.intent}, expected {expect['intent']}")
    if "action" in expect and trace.decision.action not in _as_list(expect["action"]):
        problems.append(f"action {trace.decision.action}, expected {expect['action']}")
    if "language" in expect and reply.language != expect["language"]:
        problems.append(f"language {reply.language}, expected {expect['language']}")
    for needle in _as_list(expect.get("contains", [])):
        if str(needle).lower() not in lowered:
            problems.append(f"reply lacks {needle!r}")
    if "contains_any" in expect and not any(str(n).lower() in lowered for n in expect["contains_any"]):
        problems.append(f"reply has none of {expect['contains_any']}")
    for needle in _as_list(expect.get("not_contains", [])):
        if str(needle).lower() in lowered:
            problems.append(f"reply must not say {needle!r}")
    if "starts_with_any" in expect:
        opening = lowered.lstrip(" \"'")
        if not any(opening.startswith(str(s).lower()) for s in expect["starts_with_any"]):
            problems.append(f"reply does not start with any of {expect['starts_with_any']}")
    cards = reply.cards
    bounds = expect.get("cards")
    if isinstance(bounds, dict) and not int(bounds.get("min", 0)) <= len(cards) <= int(bounds.get("max", 99)):
        problems.append(f"{len(cards)} product cards, expected {bounds}")
    for card in cards:
        product = products.get(card.product_id, {})
        for key, wanted in (expect.get("cards_match") or {}).items():
            if not _card_matches(product, card.price, key, wanted):
                problems.append(f"card {card.product_id} breaks {key}={wanted}")
        if card.product_id in _as_list(expect.get("cards_exclude", [])):
            problems.append(f"card {card.product_id} must not be suggested")
    if expect.get("clarifies"):
        asks = trace.decision.action in CLARIFYING_ACTIONS or ("?" in text and not cards)
        if not asks:
            problems.append(f"does not ask which is meant (action {trace.decision.action})")
    if "handoff" in expect and reply.handoff != bool(expect["handoff"]):
        problems.append(f"handoff {reply.handoff}, expected {expect['handoff']}")
    if "max_chars" in expect and len(text) > int(expect["max_chars"]):
        problems.append(f"{len(text)} characters, expected at most {expect['max_chars']}")
    if (
        expect.get("no_order_facts")
        and trace.action is not None
        and bool(trace.action.facts)  # order facts, not just a request for details
        and trace.action.order_id
    ):
        problems.append(f"order details of {trace.action.order_id} shown")
    return problems


def _card_matches(product: dict, price: float, key: str, wanted: Any) -> bool:
    attributes = product.get("attributes") or {}
    if key == "price_max":
        return price <= float(wanted)
    if key == "price_min":
        return price >= float(wanted)
    if key == "colour":
        return str(attributes.get("colour", "")).lower() in [str(w).lower() for w in _as_list(wanted)]
    if key == "product_type":
        names = product.get("product_type") or {}
        values = names.values() if isinstance(names, dict) else [names]
        return any(str(w).lower() in str(v).lower() for v in values for w in _as_list(wanted))
    if key == "category":
        return (product.get("category") or [""])[0] in _as_list(wanted)
    if key == "brand":
        return str(product.get("brand", "")) in _as_list(wanted)
    return False


def run_conversations(
    assistant: Any,
    conversations: list[Conversation],
    *,
    progress: Callable[[int, int], None] = lambda d, t: None,
) -> list[ConversationResult]:
    """Play each conversation in a fresh conversation id and check every turn."""
    results = []
    tag = f"{time.time():.0f}"
    for number, conversation in enumerate(conversations, start=1):
        result = ConversationResult(conversation)
        conversation_id = f"suite-{tag}-{conversation.id}"
        for index, turn in enumerate(conversation.turns, start=1):
            reply = assistant.respond(conversation_id, turn.message)
            result.transcript.append((turn.message, reply.text))
            result.failures += [
                f"turn {index}: {p}" for p in check_reply(reply, turn.expect, assistant.shop.products)
            ]
        results.append(result)
        progress(number, len(conversations))
    return results


def summarise(results: list[ConversationResult]) -> dict[str, Any]:
    """Pass rates overall, per category and per language."""

    def rate(chosen: list[ConversationResult]) -> dict[str, Any]:
        passed = sum(r.passed for r in chosen)
        return {
            "conversations": len(chosen),
            "passed": passed,
            "pass_rate": round(passed / max(1, len(chosen)), 4),
        }

    categories = sorted({r.conversation.category for r in results})
    languages = sorted({r.conversation.language for r in results})
    return {
        **rate(results),
        "turns": sum(len(r.conversation.turns) for r in results),
        "by_category": {c: rate([r for r in results if r.conversation.category == c]) for c in categories},
        "by_language": {
            lang: rate([r for r in results if r.conversation.language == lang]) for lang in languages
        },
    }


def write_report(
    folder: Path, shop_name: str, results: list[ConversationResult], summary: dict[str, Any]
) -> None:
    """results.json, report.md and report.html (per-category table, then every failed conversation)."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"shop": shop_name, "summary": summary, "conversations": [
        {"id": r.conversation.id, "file": r.conversation.file, "category": r.conversation.category,
         "language": r.conversation.language, "passed": r.passed, "failures": r.failures, "transcript": r.transcript}
        for r in results]}  # fmt: skip
    (folder / "results.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    rows = [(c, v["passed"], v["conversations"], v["pass_rate"]) for c, v in summary["by_category"].items()]
    lines = [f"# Conversation suite: {shop_name}", "",
             f"{summary['passed']} of {summary['conversations']} conversations pass ({summary['pass_rate']:.1%}), "
             f"{summary['turns']} turns. Written by people; not generated from the reply templates.", "",
             "| category | passed | conversations | pass rate |", "| --- | --- | --- | --- |",
             *[f"| {c} | {p} | {n} | {r:.1%} |" for c, p, n, r in rows], "", "## Failed conversations", ""]  # fmt: skip
    for r in results:
        if not r.passed:
            lines.append(f"### {r.conversation.id} ({r.conversation.category}, {r.conversation.file})")
            lines += [f"- {f}" for f in r.failures]
            lines += [f"> **shopper:** {m}  \n> **bot:** {a}" for m, a in r.transcript]
            lines.append("")
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{p}</td><td>{n}</td><td>{r:.1%}</td></tr>" for c, p, n, r in rows
    )
    failed = "".join(
        f"<h3>{html.escape(r.conversation.id)}</h3><ul>{''.join(f'<li>{html.escape(f)}</li>' for f in r.failures)}</ul>"
        + "".join(
            f"<p><b>shopper:</b> {html.escape(m)}<br><b>bot:</b> {html.escape(a)}</p>"
            for m, a in r.transcript
        )
        for r in results
        if not r.passed
    )
    (folder / "report.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>Conversation suite</title><h1>Conversation suite: "
        f"{html.escape(shop_name)}</h1><p>{summary['passed']} of {summary['conversations']} conversations pass "
        f"({summary['pass_rate']:.1%}).</p><table border=1 cellpadding=4><tr><th>category</th><th>passed</th>"
        f"<th>conversations</th><th>pass rate</th></tr>{table}</table><h2>Failed conversations</h2>{failed}",
        encoding="utf-8",
    )


def run_conversation_suite(settings: Any, *, suite: Path, out: Path, progress: Callable[[int, int], None] = lambda d, t: None
                           ) -> tuple[dict[str, Any], list[ConversationResult]]:  # fmt: skip
    """Build the assistant from `settings` (its own temporary database), play the shop's conversations, write
    the report into `out`."""
    from dataclasses import replace

    from assistant.factory import build_assistant

    out.mkdir(parents=True, exist_ok=True)
    database = out / "suite.db"
    settings = replace(
        settings, store=replace(settings.store, database_url=f"sqlite:///{database.resolve()}")
    )
    assistant = build_assistant(settings)
    assistant.warm_up()
    conversations = load_suite(suite, assistant.shop.name)
    if not conversations:
        raise DataError(f"no conversations in {suite} are written for the shop {assistant.shop.name!r}")
    results = run_conversations(assistant, conversations, progress=progress)
    summary = summarise(results)
    write_report(out, assistant.shop.name, results, summary)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return summary, results


def check_floor(summary: dict[str, Any], floor_file: Path, shop_name: str) -> list[str]:
    """Where the run falls below the committed floor (which only goes up)."""
    floors = json.loads(floor_file.read_text(encoding="utf-8")).get(shop_name, {})
    problems = []
    if summary["pass_rate"] < float(floors.get("pass_rate", 0.0)):
        problems.append(f"pass rate {summary['pass_rate']} < floor {floors['pass_rate']}")
    return problems
