"""Agent feedback as training data: conversations in the store where a human replied (a suggestion
accepted as it was or edited, or a reply written from scratch), in the logs' conversation format.

- Replies a human sent are training targets (`role: agent`). An accepted or edited suggestion also
  names the documents it was built from, which become the turn's `passages` / `products` (the
  retriever's and reranker's positives); a reply written from scratch names none.
- The bot's own replies stay in the history (`target: false`): later turns need them as context,
  but nothing learns to imitate them, whatever the shopper thought of them.
- Customer turns carry no intent label, so the intent model learns from the labelled logs only.

Conversations held out as the evals' dev/test splits never come from here: feedback is training
data only. Texts are stored redacted, so no e-mails, phone or card numbers reach a model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback, Message

HUMAN_REPLIES = frozenset({"accepted", "edited", "written"})


def feedback_conversations(db: Database) -> list[dict[str, Any]]:
    """Every stored conversation with at least one human reply, oldest first, as log conversations."""
    with db.session() as session:
        decisions = list(session.scalars(select(Feedback).where(Feedback.kind.in_(HUMAN_REPLIES))))
        by_message = {f.message_id: f for f in decisions if f.message_id is not None}
        conversation_ids = sorted({f.conversation_id for f in decisions})
        out = []
        for conversation_id in conversation_ids:
            row = session.get(Conversation, conversation_id)
            messages = session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
            ).all()
            language = row.language if row is not None else "en"
            turns: list[dict[str, Any]] = []
            for message in messages:
                if message.role == "customer":
                    turns.append({"role": "customer", "text": message.text, "language": language})
                    continue
                decision = by_message.get(message.id) if message.role == "agent" else None
                turn: dict[str, Any] = {"role": "agent", "text": message.text, "language": language}
                if decision is None:
                    turn["target"] = False  # the bot's reply (or an agent's with no recorded decision)
                else:
                    meta = decision.meta or {}
                    turn["passages"] = [str(s) for s in meta.get("passages", [])]
                    turn["products"] = [str(s) for s in meta.get("products", [])]
                    turn["decision"] = decision.kind
                if turns and turns[-1]["role"] == "agent":  # two replies in a row: keep them as one turn
                    turns[-1] = _merge(turns[-1], turn)
                else:
                    turns.append(turn)
            if any(t["role"] == "agent" and t.get("target", True) for t in turns):
                out.append({"id": f"feedback:{conversation_id}", "language": language, "turns": turns})
    return out


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two replies to one customer message: a human's reply replaces the bot's (it is the answer the
    shop stands by); two human replies are one answer; a bot reply after a human's adds nothing."""
    first_human, second_human = first.get("target", True), second.get("target", True)
    if second_human and not first_human:
        return second
    if first_human and not second_human:
        return first
    merged = dict(second)
    merged["text"] = f"{first['text']}\n{second['text']}"
    for key in ("passages", "products"):
        if key in first or key in second:
            merged[key] = [*first.get(key, []), *second.get(key, [])]
    return merged


def feedback_manifest(conversations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many feedback conversations a run learnt from, and their sha256 (for its data manifest)."""
    digest = hashlib.sha256(json.dumps(list(conversations), sort_keys=True, ensure_ascii=False).encode())
    return {"conversations": len(conversations), "sha256": digest.hexdigest()}
