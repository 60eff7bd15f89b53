"""What the web front ends do, in one place: the shopper's chat and the agent's desk.

The Gradio pages, the JSON API and the widget are thin adapters over these two classes; every rule
(who may read a conversation, when the bot is quiet because a human took over, which decisions
become feedback, input limits) lives here and is tested without a browser.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace

from assistant import metrics
from assistant.errors import InputError, NotFoundError
from assistant.experiments import CANDIDATE, Experiment
from assistant.pipeline import Assistant, StreamEvent
from assistant.schema import Language, Reply, SuggestedReply
from assistant.store.conversations import ConversationSummary, StoredMessage, new_conversation_id
from assistant.store.leases import ConversationLeases
from assistant.store.orders import CustomerView, OrderView
from assistant.store.verification import VerificationStatus

logger = logging.getLogger(__name__)
# What a shopper may see of a stored assistant message; the rest of `meta` is the trace, for agents.
SHOPPER_META = ("cards", "sources", "suggestions", "language", "handoff")
CHANNELS = ("web", "api", "widget")
DECISIONS = ("accepted", "edited", "written")


@dataclass(frozen=True)
class ShopperSession:
    """A conversation and the secret that proves the holder owns it."""

    conversation_id: str
    token: str


@dataclass(frozen=True)
class TurnOutcome:
    """The result of a shopper message: the bot's reply, or that a human agent will answer."""

    message_id: int
    reply: Reply | None
    reply_message_id: int | None
    is_waiting_for_agent: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _ConversationLocks:
    """One lock per conversation: two tabs sending at once take turns, other conversations run in parallel."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()

    def __call__(self, conversation_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(conversation_id)
            if lock is None:
                lock = threading.Lock()
                self._locks[conversation_id] = lock
            return lock


class ShopperChat:
    """A shopper's side: start a conversation, send messages, read it back, rate answers, ask for a human.

    Every call names the conversation and its session token; an unknown conversation and someone
    else's read the same (`NotFoundError`), so ids cannot be probed.
    """

    def __init__(self, assistant: Assistant, *, max_message_chars: int = 2000,
                 experiment: tuple[Experiment, Assistant] | None = None) -> None:  # fmt: skip
        self.assistant = assistant
        # An A/B test: (the experiment, the candidate arm's assistant); the arm is drawn when a conversation starts.
        self.experiment = experiment
        self.conversations = assistant.conversations
        self.max_message_chars = max_message_chars
        self._locks = _ConversationLocks()
        self._leases = ConversationLeases(self.conversations.db)

    @contextlib.contextmanager
    def _turn(self, conversation_id: str) -> Iterator[None]:
        """One turn at a time per conversation: a lock among this process's threads, then the database
        lease that holds across worker processes."""
        with self._locks(conversation_id), self._leases.hold(conversation_id):
            yield

    def start(self, *, channel: str = "web", language: Language = "en") -> ShopperSession:
        """A new conversation bound to a new random session token (returned once, stored hashed)."""
        if channel not in CHANNELS:
            raise InputError(f"channel {channel!r} is not one of: {', '.join(CHANNELS)}")
        if language not in ("en", "zh"):
            raise InputError(f"language {language!r} is not supported; use en or zh")
        session = ShopperSession(new_conversation_id(), secrets.token_urlsafe(32))
        arm = ""
        if self.experiment is not None:
            experiment = self.experiment[0]
            arm = experiment.label(experiment.arm_for(session.conversation_id))
        self.conversations.create(session.conversation_id, owner_hash=_hash(session.token), channel=channel,
                                  language=language, experiment_arm=arm)  # fmt: skip
        return session

    def authorize(self, conversation_id: str, token: str | None) -> None:
        """`NotFoundError` unless `token` owns the conversation."""
        if not conversation_id or not token or len(conversation_id) > 64 or len(token) > 200:
            raise NotFoundError("no such conversation for this session: start a new one")
        owner = self.conversations.owner_hash(conversation_id)
        if owner is None or not hmac.compare_digest(owner, _hash(token)):
            raise NotFoundError("no such conversation for this session: start a new one")

    def is_owner(self, conversation_id: str | None, token: str | None) -> bool:
        try:
            self.authorize(conversation_id or "", token)
        except NotFoundError:
            return False
        return True

    def check_message(self, message: object) -> str:
        """The message if it is acceptable; `InputError` saying why not."""
        if not isinstance(message, str):
            raise InputError("the message must be text")
        if not message.strip():
            raise InputError("the message is empty: type a question")
        if len(message) > self.max_message_chars:
            raise InputError(
                f"the message is {len(message)} characters long; the limit is {self.max_message_chars}. "
                "Please shorten it or split it into several messages."
            )
        return message

    def send(
        self, conversation_id: str, token: str | None, message: str, *, client: str | None = None
    ) -> TurnOutcome:
        """Run one turn (or, when an agent has taken over, store the message for them).

        `client` is the shopper's network address (failed identity checks are also counted per address)."""
        outcome: TurnOutcome | None = None
        for event in self.stream(conversation_id, token, message, stream=False, client=client):
            if isinstance(event, TurnOutcome):
                outcome = event
        if outcome is None:  # stream() always ends with an outcome
            raise RuntimeError("turn produced no outcome")
        return outcome

    def stream(self, conversation_id: str, token: str | None, message: str, *, stream: bool = True,
               client: str | None = None) -> Iterator[StreamEvent | TurnOutcome]:  # fmt: skip
        """Text deltas as the reply is written, then the `TurnOutcome`.

        Input is checked before anything is stored: a refused message leaves the conversation as it was.
        """
        self.authorize(conversation_id, token)
        message = self.check_message(message)
        with self._turn(conversation_id):
            if self.conversations.assigned_agent(conversation_id):
                message_id = self.conversations.append_message(conversation_id, "customer", message,
                                                               {"for_agent": True})  # fmt: skip
                metrics.FOR_AGENT.inc()
                yield TurnOutcome(message_id, None, None, True)
                return
            reply: Reply | None = None
            assistant = self.assistant_for(conversation_id)
            if stream:
                for event in assistant.respond_stream(conversation_id, message, client=client):
                    if event.kind == "reply":
                        reply = event.reply
                    else:
                        yield event
            else:
                reply = assistant.respond(conversation_id, message, client=client)
            yield self._outcome(conversation_id, reply)

    def assistant_for(self, conversation_id: str) -> Assistant:
        """The assistant of the conversation's A/B arm (the candidate's, or the active models')."""
        if self.experiment is None:
            return self.assistant
        experiment, candidate = self.experiment
        arm = self.conversations.load_state(conversation_id).experiment_arm
        return candidate if arm == experiment.label(CANDIDATE) else self.assistant

    def request_human(self, conversation_id: str, token: str | None) -> TurnOutcome:
        """ "Talk to a human": always hands off, whatever the models think."""
        self.authorize(conversation_id, token)
        with self._turn(conversation_id):
            if self.conversations.assigned_agent(conversation_id):
                last = self.conversations.messages(conversation_id, limit=1)
                return TurnOutcome(last[-1].id if last else 0, None, None, True)
            return self._outcome(conversation_id, self.assistant.hand_off(conversation_id))

    def history(self, conversation_id: str, token: str | None, *, after_id: int = 0) -> list[StoredMessage]:
        """The conversation as the shopper may see it (no trace), oldest first."""
        self.authorize(conversation_id, token)
        return [
            replace(m, meta={k: v for k, v in m.meta.items() if k in SHOPPER_META})
            for m in self.conversations.messages(conversation_id, after_id=after_id, limit=500)
            if m.role in ("customer", "assistant", "agent")
        ]

    def rate(self, conversation_id: str, token: str | None, *, message_id: int, is_helpful: bool,
             comment: str = "") -> int:  # fmt: skip
        """Thumbs up/down (and an optional comment) on one of the conversation's replies; stored as feedback."""
        self.authorize(conversation_id, token)
        if len(comment) > self.max_message_chars:
            raise InputError(f"the comment is too long; the limit is {self.max_message_chars} characters")
        replies = {m.id for m in self.conversations.messages(conversation_id, limit=500)
                   if m.role in ("assistant", "agent")}  # fmt: skip
        if message_id not in replies:
            raise NotFoundError(f"message {message_id} is not a reply in this conversation")
        return self.conversations.add_feedback(conversation_id, "thumbs", value="up" if is_helpful else "down",
                                               comment=comment.strip(), message_id=message_id)  # fmt: skip

    def language(self, conversation_id: str) -> Language:
        return self.conversations.load_state(conversation_id).language

    def _outcome(self, conversation_id: str, reply: Reply | None) -> TurnOutcome:
        stored = self.conversations.messages(conversation_id, limit=2)
        customer = next((m.id for m in reversed(stored) if m.role == "customer"), 0)
        assistant = next((m.id for m in reversed(stored) if m.role == "assistant"), None)
        return TurnOutcome(customer, reply, assistant, False)


@dataclass(frozen=True)
class ConversationView:
    """A conversation as an agent sees it: every message with its trace, and who holds it."""

    id: str
    language: str
    handoff: bool
    assigned_agent: str | None
    messages: tuple[StoredMessage, ...]
    verified_customer_id: str | None
    verification: VerificationStatus  # failed identity checks and locks
    # Only once the shopper proved an order in this conversation: who they are, and the orders they proved
    # (the one in question first). Nothing about a customer is shown before that.
    customer: CustomerView | None = None
    orders: tuple[OrderView, ...] = ()


class AgentDesk:
    """A support agent's side: the queue, a conversation with its trace, suggestions, take over, send.

    Every decision on a suggestion (accepted as is, edited, rejected; or a reply written from
    scratch) is stored as feedback with the agent's name, for training and audit.
    """

    def __init__(self, assistant: Assistant, *, max_message_chars: int = 4000) -> None:
        self.assistant = assistant
        self.conversations = assistant.conversations
        self.max_message_chars = max_message_chars

    def queue(self, *, limit: int = 50) -> list[ConversationSummary]:
        """Handed-off conversations first, then the most recently active."""
        return self.conversations.queue(limit=limit)

    def open(self, conversation_id: str) -> ConversationView:
        if not self.conversations.exists(conversation_id):
            raise NotFoundError(f"no conversation {conversation_id!r}")
        state = self.conversations.load_state(conversation_id)
        customer: CustomerView | None = None
        orders: tuple[OrderView, ...] = ()
        if state.verified_customer_id:
            repository = self.assistant.actions.orders
            customer = repository.customer(state.verified_customer_id)
            proved = [state.pending_order_id, *reversed(state.verified_order_ids)]
            ids = list(dict.fromkeys(i for i in proved if i and i in state.verified_order_ids))
            orders = tuple(o for i in ids if (o := repository.get(i, customer_id=state.verified_customer_id)))
        return ConversationView(conversation_id, state.language, state.handoff,
                                self.conversations.assigned_agent(conversation_id),
                                tuple(self.conversations.messages(conversation_id, limit=500)),
                                state.verified_customer_id,
                                self.assistant.actions.ledger.status(conversation_id), customer, orders)  # fmt: skip

    def suggestions(self, conversation_id: str, *, k: int = 3) -> list[SuggestedReply]:
        """Ranked suggested replies for the conversation's latest customer message (changes nothing)."""
        self.open(conversation_id)
        return self.assistant.suggest_replies(conversation_id, k=k)

    def take_over(self, conversation_id: str, agent: str) -> None:
        """The bot stops replying; the shopper's messages wait for this agent."""
        view = self.open(conversation_id)
        if view.assigned_agent not in (None, agent):
            raise InputError(f"{view.assigned_agent} is already handling this conversation")
        self.conversations.assign(conversation_id, agent)
        self.conversations.add_feedback(conversation_id, "takeover", author=agent)

    def release(self, conversation_id: str, agent: str, *, is_resolved: bool = True) -> None:
        """Hand the conversation back to the bot (and leave the queue); stored as a decision."""
        view = self.open(conversation_id)
        if view.assigned_agent not in (None, agent):
            raise InputError(f"{view.assigned_agent} is handling this conversation, not you")
        self.conversations.assign(conversation_id, None)
        state = self.conversations.load_state(conversation_id)
        self.conversations.save_state(
            replace(state, handoff=False, pending_action=None, low_confidence_streak=0)
        )
        self.conversations.add_feedback(
            conversation_id, "resolved" if is_resolved else "released", author=agent
        )

    def send(self, conversation_id: str, agent: str, text: str, *, suggestion: SuggestedReply | None = None,
             rank: int | None = None) -> int:  # fmt: skip
        """Send `text` to the shopper as `agent` (taking the conversation over if nobody has).

        With `suggestion`, the decision is "accepted" when the text is unchanged, else "edited";
        without, "written". Returns the message id.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("the reply is empty")
        if len(text) > self.max_message_chars:
            raise InputError(f"the reply is {len(text)} characters; the limit is {self.max_message_chars}")
        view = self.open(conversation_id)
        if view.assigned_agent is None:
            self.take_over(conversation_id, agent)
        elif view.assigned_agent != agent:
            raise InputError(f"{view.assigned_agent} is handling this conversation; ask them to release it")
        text = text.strip()
        decision = (
            "written" if suggestion is None else "accepted" if text == suggestion.text.strip() else "edited"
        )
        message_id = self.conversations.append_message(conversation_id, "agent", text, {"agent": agent,
                                                                                         "decision": decision})  # fmt: skip
        meta = {} if suggestion is None else {"origin": suggestion.origin, "confidence": suggestion.confidence,
                                              "rank": rank, "sources": [s.id for s in suggestion.sources],
                                              "passages": [s.id for s in suggestion.sources if s.kind == "knowledge"],
                                              "products": [s.id for s in suggestion.sources if s.kind == "product"]}  # fmt: skip
        self.conversations.add_feedback(conversation_id, decision, value=text, message_id=message_id, author=agent,
                                        suggestion=suggestion.text if suggestion else "", meta=meta)  # fmt: skip
        return message_id

    def reject(self, conversation_id: str, agent: str, suggestion: SuggestedReply, *, reason: str = "",
               rank: int | None = None) -> int:  # fmt: skip
        """Record that a suggestion was wrong (and why); nothing is sent."""
        self.open(conversation_id)
        return self.conversations.add_feedback(
            conversation_id, "rejected", comment=reason[: self.max_message_chars], author=agent,
            suggestion=suggestion.text, meta={"origin": suggestion.origin, "confidence": suggestion.confidence,
                                              "rank": rank},
        )  # fmt: skip
