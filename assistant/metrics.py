"""Operators' metrics in Prometheus' format (`GET /metrics`), on the maintained `prometheus_client`.

Per-turn figures (turns, hand-offs, the bot's time per turn, failures) are counted where they happen.
With `serve --workers N` the parent sets `PROMETHEUS_MULTIPROC_DIR` before the workers start, so each
worker writes its figures there and a scrape of any worker reads them all (`prometheus_client`'s
multiprocess mode). Figures that live in the database (the queue, feedback) are read at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
TURNS = Counter("assistant_turns", "Bot turns answered", ["language", "action"])
HANDOFFS = Counter(
    "assistant_handoffs", "Turns on which the bot handed the conversation to a person", ["language"]
)
FAILED_TURNS = Counter("assistant_failed_turns", "Turns that failed and got the apology reply")
FOR_AGENT = Counter(
    "assistant_messages_for_agent", "Shopper messages stored for the agent who holds the conversation"
)
TURN_SECONDS = Histogram("assistant_turn_seconds", "The bot's own time per turn (the trace's total)", ["language"],
                         buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0))  # fmt: skip
# Known values only, so that a label never carries text from outside (bounded cardinality).
ACTIONS_SEEN: set[str] = set()
MAX_ACTIONS = 64


def record_turn(meta: dict[str, Any]) -> None:
    """Count one bot turn from its stored trace (`pipeline.reply_record`)."""
    language = str(meta.get("language") or "unknown")[:8]
    action = str(meta.get("action") or "unknown")[:40]
    if action not in ACTIONS_SEEN:
        if len(ACTIONS_SEEN) >= MAX_ACTIONS:
            action = "other"
        else:
            ACTIONS_SEEN.add(action)
    TURNS.labels(language, action).inc()
    if meta.get("handoff"):
        HANDOFFS.labels(language).inc()
    if isinstance(meta.get("reply_ms"), int | float):
        TURN_SECONDS.labels(language).observe(float(meta["reply_ms"]) / 1000)


class StoreCollector(Collector):
    """Figures read from the database at scrape time, the same whichever worker answers."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        with self.db.session() as session:
            conversations = session.execute(
                select(Conversation.channel, Conversation.language, func.count())
                .where(Conversation.channel != "eval").group_by(Conversation.channel, Conversation.language)
            ).all()  # fmt: skip
            waiting, held = session.execute(
                select(
                    func.count().filter(
                        Conversation.handoff.is_(True), Conversation.assigned_agent.is_(None)
                    ),
                    func.count().filter(Conversation.assigned_agent.is_not(None)),
                )
            ).one()
            feedback = session.execute(
                select(Feedback.kind, Feedback.value, func.count()).group_by(Feedback.kind, Feedback.value)
                .where(Feedback.kind.in_(("thumbs", "accepted", "edited", "rejected", "written", "takeover")))
            ).all()  # fmt: skip
        started = CounterMetricFamily("assistant_conversations", "Conversations started",
                                      labels=["channel", "language"])  # fmt: skip
        for channel, language, count in conversations:
            started.add_metric([channel or "", language or ""], count)
        yield started
        queue = GaugeMetricFamily("assistant_queue_conversations", "Conversations in the agents' queue",
                                  labels=["state"])  # fmt: skip
        queue.add_metric(["waiting_for_a_person"], waiting)
        queue.add_metric(["taken_over"], held)
        yield queue
        thumbs = CounterMetricFamily("assistant_ratings", "Shoppers' ratings of replies", labels=["value"])
        decisions = CounterMetricFamily("assistant_agent_decisions", "Agents' decisions on suggested replies",
                                        labels=["decision"])  # fmt: skip
        for kind, value, count in feedback:
            if kind == "thumbs":
                thumbs.add_metric([value if value in ("up", "down") else "other"], count)
            else:
                decisions.add_metric([kind], count)
        yield thumbs
        yield decisions


def exposition(db: Database) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every worker's per-turn figures
    else:
        for metric in (TURNS, HANDOFFS, FAILED_TURNS, FOR_AGENT, TURN_SECONDS):
            registry.register(metric)
    registry.register(StoreCollector(db))
    return generate_latest(registry), CONTENT_TYPE_LATEST
