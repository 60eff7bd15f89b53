"""Terminal front ends: `chat` (a conversation with cards and sources) and `ask` (one turn, JSON)."""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from assistant.schema import Reply
from assistant.settings import Settings
from assistant.store.conversations import new_conversation_id


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """The reply and its whole trace as JSON-ready data."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Path):
            return str(value)
        return value

    return convert(reply)


def format_reply(reply: Reply) -> str:
    """The reply as terminal text: message, cards, sources, quick replies."""
    lines = [reply.text]
    for card in reply.cards:
        stock = {True: "in stock", False: "out of stock", None: "stock unknown"}[card.in_stock]
        lines.append(
            f"  [{card.product_id}] {card.title}  ${card.price:.2f} ({stock})\n      why: {card.reason}"
        )
    if reply.sources:
        lines.append("  sources: " + "; ".join(f"{s.title} [{s.id}]" for s in reply.sources))
    if reply.handoff:
        lines.append("  (handed over to a human agent)")
    if reply.suggestions:
        lines.append("  try: " + " | ".join(reply.suggestions))
    return "\n".join(lines)


def run_chat(settings: Settings) -> int:
    from assistant.factory import build_assistant

    assistant = build_assistant(settings)
    print("Loading models...", flush=True)
    assistant.warm_up()
    conversation_id = new_conversation_id()
    print(f"Chatting as conversation {conversation_id}. Type your message; Ctrl-D or 'exit' to leave.\n")
    while True:
        try:
            message = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if message.strip().lower() in ("exit", "quit", "/exit"):
            return 0
        print("assistant> ", end="", flush=True)
        final = None
        for event in assistant.respond_stream(conversation_id, message):
            if event.kind == "delta":
                print(event.text, end="", flush=True)
            elif event.kind == "replace":
                print(f"\n  (that draft was not supported by our records; corrected:)\n{event.text}", end="")
            elif event.reply is not None:
                final = event.reply
        print()
        if final is not None:
            extra = format_reply(final).split("\n", 1)
            if len(extra) > 1:
                print(extra[1])
        print()


def ask_once(settings: Settings, message: str, *, conversation_id: str | None, as_json: bool) -> int:
    from assistant.factory import build_assistant

    assistant = build_assistant(settings)
    conversation_id = conversation_id or new_conversation_id()
    reply = assistant.respond(conversation_id, message)
    if as_json:
        json.dump(
            {"conversation_id": conversation_id, **reply_to_dict(reply)},
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        print()
    else:
        print(format_reply(reply))
        print(f"(conversation {conversation_id})")
    return 0
