"""Conversation state and messages, persisted so a conversation survives a restart."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from assistant.privacy import redact
from assistant.schema import DialogueState, Language
from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback, Message, utcnow


@dataclass(frozen=True)
class StoredMessage:
    """One stored message (redacted), with what was shown alongside it."""

    id: int
    role: str  # customer | assistant | agent | system
    text: str
    created_at: datetime
    meta: dict[str, Any]


@dataclass(frozen=True)
class ConversationSummary:
    """A row of the agent queue."""

    id: str
    language: str
    handoff: bool
    assigned_agent: str | None
    channel: str
    updated_at: datetime
    message_count: int
    last_message: str
    customer_words: str = ""  # the customer's latest message (redacted as stored)
    intent: str = ""  # as the latest reply understood it
    sentiment: float | None = None  # -1 (angry) .. 1 (happy), of the message the latest reply answered
    handoff_reason: str = ""  # the rule that handed off ("asks for a human", "very upset", ...)
    waiting_since: datetime | None = None  # the customer's oldest message no person has answered yet


# The rule of the hand-off that the shopper's "talk to a human" button forces (see `Assistant.hand_off`).
HUMAN_BUTTON_RULE = "shopper pressed talk to a human"
NOT_AN_ISSUE = frozenset({"ask_human", "greeting", "thanks_goodbye", "confirm", "deny"})


def latest_issue(messages: Sequence[StoredMessage]) -> str | None:
    """The customer's latest message that says what they need (oldest first in `messages`), judged by the
    reply after it: not a request for a human (typed or the button), a greeting, thanks, yes or no. A
    message no reply followed yet (one sent to the waiting agent) counts. Falls back to the latest."""
    return issue_and_reading(messages)[0]


def issue_and_reading(messages: Sequence[StoredMessage]) -> tuple[str | None, dict[str, Any]]:
    """`latest_issue` and the trace of the bot's reply to it (its intent and sentiment; empty when
    none followed or a person answered)."""
    latest: str | None = None
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "customer":
            continue
        latest = latest or message.text
        reply = next((m for m in messages[index + 1 :] if m.role in ("assistant", "agent")), None)
        if reply is None or reply.role == "agent":
            return message.text, {}
        if reply.meta.get("intent") not in NOT_AN_ISSUE and reply.meta.get("rule") != HUMAN_BUTTON_RULE:
            return message.text, reply.meta
    return latest, {}


def new_conversation_id() -> str:
    """An unguessable id (128 bits)."""
    return "c_" + secrets.token_urlsafe(16)


class ConversationStore:
    """Loads and saves `DialogueState`; appends redacted messages; records feedback.

    Messages and feedback are stored with personal data replaced by placeholders, except the contacts in
    `public_contacts` (the shop's own phone numbers and e-mails, from `privacy.public_contacts`), which a
    reply may quote and a reloaded conversation must still show."""

    def __init__(self, db: Database, *, public_contacts: frozenset[str] = frozenset()) -> None:
        self.db = db
        self.public_contacts = public_contacts

    def redact(self, text: str) -> str:
        """`text` as it is stored: personal data replaced, the shop's published contacts kept."""
        return redact(text, keep=self.public_contacts)

    def load_state(self, conversation_id: str) -> DialogueState:
        """The saved state, or a fresh one for a new conversation id."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            if row is None or not row.state:
                return DialogueState(conversation_id=conversation_id)
            return state_from_dict(conversation_id, row.state)

    def feedback(self, conversation_id: str) -> list[Feedback]:
        """Every stored decision on a conversation, oldest first."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Feedback).where(Feedback.conversation_id == conversation_id).order_by(Feedback.id)
                )
            )

    def save_state(self, state: DialogueState) -> None:
        with self.db.session() as session:
            row = session.get(Conversation, state.conversation_id)
            if row is None:
                row = Conversation(id=state.conversation_id)
                session.add(row)
            row.state = state_to_dict(state)
            row.language = state.language
            row.handoff = state.handoff
            session.commit()

    def create(
        self,
        conversation_id: str,
        *,
        owner_hash: str | None,
        channel: str,
        language: Language = "en",
        experiment_arm: str = "",
    ) -> None:
        """A new conversation bound to the holder of a session token (its sha256 is kept), on an A/B arm if
        a test runs."""
        state = DialogueState(conversation_id, language=language, experiment_arm=experiment_arm)
        with self.db.session() as session:
            session.add(Conversation(id=conversation_id, owner_hash=owner_hash, channel=channel, language=language,
                                     state=state_to_dict(state)))  # fmt: skip
            session.commit()

    def owner_hash(self, conversation_id: str) -> str | None:
        """The sha256 of the owning session token, or None (unknown conversation, or one with no owner)."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            return row.owner_hash if row is not None else None

    def assigned_agent(self, conversation_id: str) -> str | None:
        """The agent who has taken the conversation over, if any."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            return row.assigned_agent if row is not None else None

    def assign(self, conversation_id: str, agent: str | None) -> None:
        """Give the conversation to an agent (the bot stops replying), or release it (None)."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            if row is None:
                return
            row.assigned_agent = agent
            row.updated_at = utcnow()
            session.commit()

    def messages(self, conversation_id: str, *, after_id: int = 0, limit: int = 200) -> list[StoredMessage]:
        """Messages with id > `after_id`, oldest first (at most `limit`, the latest ones)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.id > after_id)
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
            return [
                StoredMessage(m.id, m.role, m.text, m.created_at, dict(m.meta or {})) for m in reversed(rows)
            ]

    def queue(self, *, limit: int = 50) -> list[ConversationSummary]:
        """Conversations for the agent console, most urgent first: handed off and waiting for a person
        (the most upset, then the longest waiting), then taken over, then the most recent others."""
        with self.db.session() as session:
            latest = (
                select(
                    Message.conversation_id,
                    func.count(Message.id).label("n"),
                    func.max(Message.id).label("last"),
                    func.max(Message.id).filter(Message.role == "assistant").label("assistant"),
                    func.max(Message.id).filter(Message.role == "agent").label("agent"),
                )
                .group_by(Message.conversation_id)
                .subquery()
            )
            rows = session.execute(
                select(
                    Conversation,
                    latest.c.n,
                    latest.c.last,
                    latest.c.assistant,
                    latest.c.agent,
                )
                .join(latest, latest.c.conversation_id == Conversation.id)
                .where(Conversation.channel != "eval")
                .order_by(Conversation.handoff.desc(), Conversation.updated_at.desc())
                .limit(max(limit, 200))
            ).all()
            wanted = {i for row in rows for i in row[2:4] if i is not None}
            texts: dict[int, Message] = {
                m.id: m for m in session.scalars(select(Message).where(Message.id.in_(wanted)))
            } if wanted else {}  # fmt: skip
            # the last few messages of each, to find the customer's words that state the issue
            ranked = (
                select(
                    Message,
                    func.row_number()
                    .over(partition_by=Message.conversation_id, order_by=Message.id.desc())
                    .label("age"),
                )
                .where(Message.conversation_id.in_([row[0].id for row in rows]))
                .subquery()
            )
            recent: dict[str, list[StoredMessage]] = {}
            for message in session.execute(
                select(ranked).where(ranked.c.age <= 8).order_by(ranked.c.id)
            ).mappings():
                recent.setdefault(message["conversation_id"], []).append(
                    StoredMessage(message["id"], message["role"], message["text"], message["created_at"],
                                  dict(message["meta"] or {})))  # fmt: skip
            # the customer's first message after the last one a person wrote
            unanswered = dict(
                session.execute(
                    select(Message.conversation_id, func.min(Message.created_at))
                    .join(latest, latest.c.conversation_id == Message.conversation_id)
                    .where(Message.role == "customer", Message.id > func.coalesce(latest.c.agent, 0))
                    .group_by(Message.conversation_id)
                ).all()
            )
        summaries = []
        for conversation, count, last, assistant, _agent in rows:
            last_reading = texts[assistant].meta if assistant in texts else {}
            words, reading = issue_and_reading(recent.get(conversation.id, []))
            # the intent and mood of the issue itself, not of the "talk to a human" that may follow it
            meta = reading or last_reading
            sentiment = meta.get("sentiment")
            summaries.append(ConversationSummary(
                conversation.id, conversation.language, bool(conversation.handoff), conversation.assigned_agent,
                conversation.channel or "", conversation.updated_at, int(count),
                texts[last].text[:120] if last in texts else "",
                customer_words=(words or "")[:160],
                intent=str(meta.get("intent", "")),
                sentiment=float(sentiment) if isinstance(sentiment, int | float) else None,
                handoff_reason=str(last_reading.get("rule", "")) if conversation.handoff else "",
                waiting_since=unanswered.get(conversation.id) if conversation.handoff else None,
            ))  # fmt: skip

        def urgency(c: ConversationSummary) -> tuple:
            waiting = c.handoff and not c.assigned_agent
            return (not waiting, not c.handoff, c.sentiment if waiting and c.sentiment is not None else 0.0,
                    c.waiting_since or c.updated_at if waiting else datetime.max, -c.updated_at.timestamp())  # fmt: skip

        return sorted(summaries, key=urgency)[:limit]

    def exists(self, conversation_id: str) -> bool:
        with self.db.session() as session:
            return session.get(Conversation, conversation_id) is not None

    def append_message(
        self, conversation_id: str, role: str, text: str, meta: dict[str, Any] | None = None
    ) -> int:
        """Store a message (redacted); returns its id."""
        with self.db.session() as session:
            if session.get(Conversation, conversation_id) is None:
                session.add(Conversation(id=conversation_id))
                session.flush()
            message = Message(
                conversation_id=conversation_id, role=role, text=self.redact(text), meta=meta or {}
            )
            session.add(message)
            conversation = session.get(Conversation, conversation_id)
            if conversation is not None:
                conversation.updated_at = utcnow()
            session.commit()
            return message.id

    def replace_last_message(self, conversation_id: str, role: str, text: str) -> None:
        """Overwrite the text of the conversation's latest message of `role` (replays put the logged
        agent reply in place of the assistant's, so later turns see the real history)."""
        with self.db.session() as session:
            message = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.role == role)
                .order_by(Message.id.desc())
                .limit(1)
            ).first()
            if message is not None:
                message.text = self.redact(text)
                session.commit()

    def history(self, conversation_id: str, *, limit: int = 20) -> list[tuple[str, str]]:
        """The last `limit` (role, text) pairs, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
            return [(m.role, m.text) for m in reversed(rows)]

    def add_feedback(
        self,
        conversation_id: str,
        kind: str,
        *,
        value: str = "",
        comment: str = "",
        message_id: int | None = None,
        author: str = "shopper",
        suggestion: str = "",
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Store one decision (thumbs, accepted/edited/rejected suggestion...), redacted; returns its id."""
        with self.db.session() as session:
            row = Feedback(
                conversation_id=conversation_id, kind=kind, value=self.redact(value), comment=self.redact(comment),
                message_id=message_id, author=author, suggestion=self.redact(suggestion), meta=meta or {},
            )  # fmt: skip
            session.add(row)
            session.commit()
            return row.id


def state_to_dict(state: DialogueState) -> dict[str, Any]:
    data = dataclasses.asdict(state)
    data.pop("conversation_id")
    return data


def state_from_dict(conversation_id: str, data: dict[str, Any]) -> DialogueState:
    known = {f.name for f in dataclasses.fields(DialogueState)} - {"conversation_id"}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("verified_order_ids", "products_shown"):
        if key in values:
            values[key] = tuple(values[key])
    return DialogueState(conversation_id=conversation_id, **values)
