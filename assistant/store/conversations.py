"""Conversation state and messages, persisted so a conversation survives a restart."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from sqlalchemy import select

from assistant.privacy import redact
from assistant.schema import DialogueState
from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback, Message


def new_conversation_id() -> str:
    """An unguessable id (128 bits)."""
    return "c_" + secrets.token_urlsafe(16)


class ConversationStore:
    """Loads and saves `DialogueState`; appends redacted messages; records feedback."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load_state(self, conversation_id: str) -> DialogueState:
        """The saved state, or a fresh one for a new conversation id."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            if row is None or not row.state:
                return DialogueState(conversation_id=conversation_id)
            return state_from_dict(conversation_id, row.state)

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
            message = Message(conversation_id=conversation_id, role=role, text=redact(text), meta=meta or {})
            session.add(message)
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
                message.text = redact(text)
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
    ) -> int:
        with self.db.session() as session:
            row = Feedback(
                conversation_id=conversation_id, kind=kind, value=redact(value), comment=redact(comment),
                message_id=message_id,
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
