"""Frozen records that cross stage and module boundaries.

Stages return one of these, never a dict and never ``None`` for "nothing found" (an empty
tuple, or an explicit ``source="template"`` and the like).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat prompt, in the role/content shape chat templates expect."""

    role: Role
    content: str


class ModelRole(StrEnum):
    """The model slots the assistant fills; each maps to one settings key in `[models]`."""

    EMBEDDER = "embedder"
    GENERATOR = "generator"
    ENGLISH_EMBEDDER = "english_embedder"


@dataclass(frozen=True)
class PreparedModel:
    """A model folder ready to load, and where it came from."""

    role: ModelRole
    path: Path
    source: str
    source_sha256: str
    status: Literal["prepared", "already prepared", "located"]
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelLocation:
    """Where a role's weights load from: a local folder, or a hub id for online machines."""

    role: ModelRole
    reference: str
    is_local: bool
    is_ready: bool


# ------------------------------------------------------------------------------------- one turn
Language = Literal["en", "zh"]


@dataclass(frozen=True)
class GuardResult:
    """The message after the guard: cleaned text and what was found wrong with it."""

    text: str
    problem: Literal["empty", "binary", "no_words", "too_long", "none"] = "none"
    was_truncated: bool = False
    removed_control_chars: int = 0
    personal_data: tuple[str, ...] = ()  # kinds found ("email", "phone", "card"), never the values
    is_injection_attempt: bool = False


@dataclass(frozen=True)
class LanguageResult:
    """The reply language and how it was decided."""

    language: Language
    source: Literal["detected", "script", "kept", "default"]
    confidence: float


@dataclass(frozen=True)
class Understanding:
    """Intent, slots and sentiment of one customer message."""

    intent: str
    confidence: float
    is_out_of_scope: bool
    slots: dict[str, str]
    sentiment: float  # -1 (angry) .. 1 (happy)
    top_intents: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class DialogueState:
    """What the assistant remembers about a conversation between turns (persisted)."""

    conversation_id: str
    language: Language = "en"
    slots: dict[str, str] = field(default_factory=dict)
    verified_customer_id: str | None = None
    verified_order_ids: tuple[str, ...] = ()
    products_shown: tuple[str, ...] = ()
    pending_action: str | None = None
    pending_order_id: str | None = None
    handoff: bool = False
    turn_count: int = 0
    low_confidence_streak: int = 0
    last_intent: str | None = None  # the intent a knowledge answer answered ("and to Japan?" follows it)
    experiment_arm: str = ""  # the A/B arm serving this conversation ("" when no experiment runs)


@dataclass(frozen=True)
class Decision:
    """What the policy chose to do this turn, and the rule that chose it."""

    action: str
    rule: str
    order_id: str | None = None


@dataclass(frozen=True)
class Hit:
    """One retrieved document with its fused score."""

    kind: Literal["product", "knowledge", "reply"]
    id: str
    text: str
    score: float
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductCard:
    """A product suggestion the shopper sees, with the reason it was picked."""

    product_id: str
    title: str
    price: float
    currency: str
    reason: str
    in_stock: bool | None  # None: the shop's data does not say (shown as nothing, never guessed)
    image: str | None = None
    price_text: str = ""  # the price as the shop writes it ("£28.00")


@dataclass(frozen=True)
class ActionResult:
    """The outcome of an order action against the store database."""

    action: str
    status: Literal["done", "refused", "not_needed", "failed"]
    facts: dict[str, str] = field(default_factory=dict)
    order_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Source:
    """A citation under the reply: a passage or a product the answer relied on."""

    id: str
    title: str
    kind: Literal["knowledge", "product", "order"]
    text: str = ""


@dataclass(frozen=True)
class Draft:
    """A candidate reply text and where it came from."""

    text: str
    source: Literal["generated", "template", "reply_memory", "knowledge"]
    is_grounded: bool = True
    ungrounded: tuple[str, ...] = ()
    confidence: float = 0.5


@dataclass(frozen=True)
class TurnTrace:
    """Every intermediate result of one turn, for evals and the agent console."""

    guard: GuardResult
    language: LanguageResult
    understanding: Understanding
    state_before: DialogueState
    decision: Decision
    knowledge: tuple[Hit, ...] = ()
    products: tuple[Hit, ...] = ()
    replies: tuple[Hit, ...] = ()
    action: ActionResult | None = None
    drafts: tuple[Draft, ...] = ()
    fallback_reason: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    degraded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    """What the shopper gets back for one message."""

    text: str
    language: Language
    cards: tuple[ProductCard, ...]
    sources: tuple[Source, ...]
    suggestions: tuple[str, ...]
    confidence: float
    handoff: bool
    trace: TurnTrace


@dataclass(frozen=True)
class SuggestedReply:
    """A ranked reply candidate for a support agent."""

    text: str
    confidence: float
    origin: Literal["generated", "template", "reply_memory", "knowledge"]
    sources: tuple[Source, ...] = ()
