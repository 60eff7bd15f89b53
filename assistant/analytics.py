"""How the assistant does for the shop: figures per day and language, and the questions it could not answer.

Read from the conversation store (conversations, messages with their trace, feedback), so every
worker and every process sees the same figures. A conversation counts on the day it started, in
its language. Definitions (also in the README):

- *turns*: the customer's messages;
- *handed off*: the bot handed the conversation to a person, or an agent took it over or wrote in
  it; *contained*: a conversation with at least one customer message that was never handed off;
- *satisfaction*: 👍 / (👍 + 👎) on replies;
- *reply time*: the bot's own time per turn (`reply_ms` in the trace), median and 95th percentile;
- *suggestion acceptance*: agent replies that started from a suggestion (sent as is or edited) over
  every agent reply (those plus replies written from scratch); rejections are counted apart;
- *questions not answered*: customer messages the bot was unsure about, declined as out of scope,
  answered with confidence under `low_confidence`, or whose reply got a 👎; grouped by meaning with
  sentence-transformers' `community_detection` over the assistant's own query embeddings, largest
  group first: what the shop should write FAQ passages for.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from assistant.backends.embedding import Embedder
from assistant.store.conversations import NOT_AN_ISSUE
from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback, Message, utcnow

logger = logging.getLogger(__name__)
CACHE_TEXTS = 20_000
UNSURE_ACTIONS = frozenset({"clarify", "decline_out_of_scope"})
DAY_COLUMNS = ("day", "language", "arm", "conversations", "turns", "contained", "containment", "handed_off",
               "handoff_rate", "thumbs_up", "thumbs_down", "satisfaction", "reply_ms_p50", "reply_ms_p95",
               "suggestions_accepted", "suggestions_edited", "suggestions_rejected", "replies_written",
               "acceptance_rate")  # fmt: skip


@dataclass
class Figures:
    """The figures of one slice (a day and language, an arm, or everything)."""

    conversations: int = 0
    turns: int = 0
    contained: int = 0
    handed_off: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    suggestions_accepted: int = 0
    suggestions_edited: int = 0
    suggestions_rejected: int = 0
    replies_written: int = 0
    reply_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def started(self) -> int:
        """Conversations in which the customer wrote at least once (the base of containment and hand-offs)."""
        return self.contained + self.handed_off

    @property
    def containment(self) -> float | None:
        return None if not self.started else self.contained / self.started

    @property
    def handoff_rate(self) -> float | None:
        return None if not self.started else self.handed_off / self.started

    @property
    def satisfaction(self) -> float | None:
        rated = self.thumbs_up + self.thumbs_down
        return None if not rated else self.thumbs_up / rated

    @property
    def acceptance_rate(self) -> float | None:
        sent = self.suggestions_accepted + self.suggestions_edited + self.replies_written
        return None if not sent else (self.suggestions_accepted + self.suggestions_edited) / sent

    def percentile(self, q: float) -> float | None:
        return None if not self.reply_ms else round(float(np.percentile(self.reply_ms, q)), 1)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "reply_ms"}
        rates = {"containment": self.containment, "handoff_rate": self.handoff_rate,
                 "satisfaction": self.satisfaction, "acceptance_rate": self.acceptance_rate}  # fmt: skip
        out.update({k: None if v is None else round(v, 4) for k, v in rates.items()})
        out.update(
            reply_ms_p50=self.percentile(50),
            reply_ms_p95=self.percentile(95),
            replies_timed=len(self.reply_ms),
        )
        return out


@dataclass(frozen=True)
class QuestionGroup:
    """Customer questions of one meaning that the bot could not answer well."""

    question: str  # the most central one
    count: int
    languages: dict[str, int]
    reasons: dict[str, int]
    examples: tuple[str, ...]
    conversation_ids: tuple[str, ...]


@dataclass
class AnalyticsReport:
    since: date
    until: date
    language: str | None
    totals: Figures
    days: dict[tuple[str, str], Figures]
    arms: dict[str, Figures]
    handoff_reasons: Counter[str]
    intents: Counter[str]
    questions: list[QuestionGroup]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "language": self.language,
            "totals": self.totals.as_dict(),
            "days": [{"day": d, "language": lang, **f.as_dict()} for (d, lang), f in sorted(self.days.items())],
            "arms": {arm: f.as_dict() for arm, f in sorted(self.arms.items())},
            "handoff_reasons": dict(self.handoff_reasons.most_common()),
            "intents": dict(self.intents.most_common()),
            "questions_not_answered": [asdict(q) for q in self.questions],
        }  # fmt: skip

    def days_csv(self) -> str:
        """One row per day and language (and an "all" row per day), the columns of `DAY_COLUMNS`."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=DAY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for (day, language), figures in sorted(self.days.items()):
            writer.writerow({"day": day, "language": language, "arm": "", **_csv_values(figures.as_dict())})
        for arm, figures in sorted(self.arms.items()):
            writer.writerow({"day": "", "language": "", "arm": arm, **_csv_values(figures.as_dict())})
        return buffer.getvalue()

    def questions_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["question", "count", "languages", "reasons", "examples"])
        for q in self.questions:
            writer.writerow([spreadsheet_safe(q.question), q.count, _pairs(q.languages), _pairs(q.reasons),
                             " | ".join(spreadsheet_safe(e) for e in q.examples)])  # fmt: skip
        return buffer.getvalue()


def _csv_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: "" if v is None else v for k, v in values.items()}


def _pairs(counts: dict[str, int]) -> str:
    return "; ".join(f"{k}={v}" for k, v in counts.items())


def spreadsheet_safe(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Analytics:
    """Computes `AnalyticsReport`s from the store; `embedder` groups the unanswered questions by meaning."""

    def __init__(self, db: Database, embedder: Embedder | None = None, *, low_confidence: float = 0.45,
                 group_threshold: float | None = None, max_questions: int = 2000) -> None:  # fmt: skip
        self.db, self.embedder = db, embedder
        self.low_confidence, self.group_threshold = low_confidence, group_threshold
        self.max_questions = max_questions
        self._cache: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()

    def report(
        self, *, days: int = 30, until: date | None = None, language: str | None = None
    ) -> AnalyticsReport:
        """The last `days` days up to `until` (today, UTC), for one language or all."""
        if not 1 <= days <= 3660:
            raise ValueError("days must be between 1 and 3660")
        until = until or utcnow().date()
        since = until - timedelta(days=days - 1)
        start, end = datetime.combine(since, datetime.min.time()), datetime.combine(until + timedelta(days=1),
                                                                                      datetime.min.time())  # fmt: skip
        report = AnalyticsReport(since, until, language, Figures(), {}, {}, Counter(), Counter(), [])
        # (text, language, reason, conversation) of the most recent questions not answered
        unanswered: deque[tuple[str, str, str, str]] = deque(maxlen=self.max_questions)
        with self.db.session() as session:
            query = select(Conversation.id, Conversation.created_at, Conversation.language, Conversation.state).where(
                Conversation.created_at >= start, Conversation.created_at < end, Conversation.channel != "eval"
            ).order_by(Conversation.created_at)  # fmt: skip
            if language:
                query = query.where(Conversation.language == language)
            conversations = session.execute(query).all()
            for chunk in _chunks(conversations, 500):  # a chunk's messages at a time: memory stays bounded
                ids = [c.id for c in chunk]
                messages: dict[str, list[Any]] = defaultdict(list)
                feedback: dict[str, list[Any]] = defaultdict(list)
                for m in session.execute(
                    select(Message.id, Message.conversation_id, Message.role, Message.text, Message.meta)
                    .where(Message.conversation_id.in_(ids)).order_by(Message.id)
                ):  # fmt: skip
                    messages[m.conversation_id].append(m)
                for f in session.execute(
                    select(
                        Feedback.conversation_id, Feedback.kind, Feedback.value, Feedback.message_id
                    ).where(Feedback.conversation_id.in_(ids))
                ):
                    feedback[f.conversation_id].append(f)
                for conversation in chunk:
                    day = conversation.created_at.date().isoformat()
                    slices = [report.totals, report.days.setdefault((day, conversation.language), Figures()),
                              report.days.setdefault((day, "all"), Figures())]  # fmt: skip
                    arm = str((conversation.state or {}).get("experiment_arm") or "")
                    if arm:
                        slices.append(report.arms.setdefault(arm, Figures()))
                    self._count(conversation, messages[conversation.id], feedback[conversation.id], slices, report,
                                unanswered)  # fmt: skip
        report.questions = self._group(list(unanswered))
        return report

    def _count(self, conversation: Any, messages: Sequence[Any], feedback: Sequence[Any], slices: list[Figures],
               report: AnalyticsReport, unanswered: deque[tuple[str, str, str, str]]) -> None:  # fmt: skip
        down = {f.message_id for f in feedback if f.kind == "thumbs" and f.value == "down"}
        turns = sum(1 for m in messages if m.role == "customer")
        handoff_rule = next((str((m.meta or {}).get("rule", "")) for m in messages
                             if m.role == "assistant" and (m.meta or {}).get("handoff")), None)  # fmt: skip
        by_agent = any(m.role == "agent" for m in messages) or any(f.kind == "takeover" for f in feedback)
        handed_off = handoff_rule is not None or by_agent
        if handed_off:
            report.handoff_reasons[handoff_rule or "an agent took over"] += 1
        timings = []
        for index, m in enumerate(messages):
            if m.role != "assistant":
                continue
            meta = m.meta or {}
            if isinstance(meta.get("reply_ms"), int | float):
                timings.append(float(meta["reply_ms"]))
            intent = str(meta.get("intent", ""))
            if intent:
                report.intents[intent] += 1
            asked = next((p for p in reversed(messages[:index]) if p.role == "customer"), None)
            reason = self._not_answered(meta, m.id in down)
            if asked is not None and reason and intent not in NOT_AN_ISSUE:
                unanswered.append((asked.text, conversation.language, reason, conversation.id))
        counts = Counter(f.kind for f in feedback)
        thumbs = Counter(f.value for f in feedback if f.kind == "thumbs")
        for figures in slices:
            figures.conversations += 1
            figures.turns += turns
            if turns:
                figures.handed_off += handed_off
                figures.contained += not handed_off
            figures.thumbs_up += thumbs["up"]
            figures.thumbs_down += thumbs["down"]
            figures.suggestions_accepted += counts["accepted"]
            figures.suggestions_edited += counts["edited"]
            figures.suggestions_rejected += counts["rejected"]
            figures.replies_written += counts["written"]
            figures.reply_ms.extend(timings)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings of `texts`: each distinct text embedded once, and kept for the next report
        (questions repeat; the cache holds at most `CACHE_TEXTS`, the oldest dropped first)."""
        assert self.embedder is not None
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = np.asarray(self.embedder.embed_queries(missing), dtype=np.float32)
            with self._cache_lock:
                self._cache.update(zip(missing, vectors, strict=True))
                while len(self._cache) > CACHE_TEXTS:
                    self._cache.pop(next(iter(self._cache)))
        with self._cache_lock:
            return np.stack([self._cache[t] for t in texts])

    def _not_answered(self, meta: dict[str, Any], thumbs_down: bool) -> str:
        if meta.get("action") in UNSURE_ACTIONS:
            return "out of scope" if meta.get("action") == "decline_out_of_scope" else "unsure"
        if str(meta.get("rule", "")).startswith("unsure"):
            return "unsure"
        if thumbs_down:
            return "rated 👎"
        confidence = meta.get("confidence")
        if isinstance(confidence, int | float) and confidence < self.low_confidence:
            return "low confidence"
        return ""

    def _group(self, unanswered: list[tuple[str, str, str, str]]) -> list[QuestionGroup]:
        if not unanswered:
            return []
        texts = [u[0] for u in unanswered]
        if self.embedder is None:
            communities = _exact_groups(texts)
        else:
            from assistant.backends.clustering import group_by_meaning

            communities = group_by_meaning(self._vectors(texts), threshold=self.group_threshold)
        groups = []
        for members in communities:
            rows = [unanswered[i] for i in members]
            examples = tuple(dict.fromkeys(r[0] for r in rows))[:5]
            groups.append(QuestionGroup(rows[0][0], len(rows), dict(Counter(r[1] for r in rows).most_common()),
                                        dict(Counter(r[2] for r in rows).most_common()), examples,
                                        tuple(dict.fromkeys(r[3] for r in rows))[:20]))  # fmt: skip
        return sorted(groups, key=lambda g: -g.count)


def _exact_groups(texts: Sequence[str]) -> list[list[int]]:
    """Without an embedder: the same words, case and punctuation aside."""
    keys: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        keys.setdefault(
            " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split()), []
        ).append(i)
    return list(keys.values())


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
