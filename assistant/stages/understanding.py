"""Understanding: intent (calibrated, with an out-of-scope threshold), slots and sentiment."""

from __future__ import annotations

import re

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.sentiment import SentimentScorer
from assistant.schema import DialogueState, Understanding
from assistant.stages.intent_head import IntentHead
from assistant.stages.slots import SlotExtractor

FOLLOW_UP = re.compile(
    r"^\W*(?:and|what about|how about|also|same for|then)\b|^\W*(?:to|for|in) \w|^\W*(?:那|还有|那么)", re.I
)
FOLLOW_UP_SLOTS = frozenset({"region", "category", "product_type", "code", "colour", "brand", "material"})
# Intents whose messages carry verification details; a message that is only details is one.
DETAILS_INTENT = "provide_details"
# What sentiment reads of a long message: its start and its end. SnowNLP segments and scores every
# character (about 0.1 ms each), so a 2,000-character Chinese message would cost ten times a short one.
SENTIMENT_CHARS = 400


def excerpt(text: str, max_chars: int) -> str:
    """`text`, or its first and last `max_chars` / 2 characters when longer (where the point usually is)."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return f"{text[:half]} … {text[-half:]}"


class Understander:
    """Parses one customer message in the context of the conversation state."""

    def __init__(
        self,
        embedder: Embedder,
        head: IntentHead,
        slots: SlotExtractor,
        sentiment: SentimentScorer,
        *,
        similarity_check: bool = False,
    ) -> None:
        self.embedder = embedder
        self.head = head
        self.similarity_check = (
            similarity_check  # the in-scope score check (`assistant.out_of_scope_by_similarity`)
        )
        self.slot_extractor = slots
        self.sentiment = sentiment

    def parse(
        self, text: str, *, language: str, state: DialogueState, vector: np.ndarray | None = None
    ) -> Understanding:
        """Intent, slots and sentiment; pass the message's query `vector` if it is already embedded."""
        # Postcodes are read only where details are expected: after asking for them, and after offering a
        # human (a shopper whose checks were stopped often sends their details again).
        pending = state.pending_action or ""
        expecting = pending.startswith("verify:") or pending == "offer_handoff"
        slots = self.slot_extractor.extract(text, expecting_details=expecting)
        if vector is None:
            vector = self.embedder.embed_queries([text])
        elif hasattr(self.embedder, "join_first"):  # `vector` is its first part's: the others read the text
            vector = self.embedder.join_first(vector, [text])
        vector = np.asarray(vector).reshape(1, -1)
        probabilities = self.head.probabilities(vector)[0]
        order = probabilities.argsort()[::-1]
        top = tuple((self.head.labels[i], round(float(probabilities[i]), 4)) for i in order[:3])
        intent, confidence = top[0]
        threshold, score_threshold = self.head.thresholds(self.similarity_check)
        unlike = score_threshold is not None and bool(self.head.outside(vector, score_threshold)[0])
        # When we asked for details, a message that is mostly an order number, e-mail or postcode answers it.
        if expecting and ("email" in slots or "postcode" in slots or "order_id" in slots):
            leftover = len(text) - sum(len(v) for v in slots.values())
            if leftover < 40 and intent != DETAILS_INTENT and confidence < 0.9:
                intent, confidence, unlike = DETAILS_INTENT, max(confidence, 0.9), False
        # "and to Japan?" after a shipping answer: the same question about another region, category or code.
        if state.last_intent and FOLLOW_UP.search(text) and len(text) <= 60 and FOLLOW_UP_SLOTS & set(slots):
            intent, confidence, unlike = state.last_intent, max(confidence, 0.8), False
        is_out_of_scope = intent == "out_of_scope" or confidence < threshold or unlike
        return Understanding(
            intent=intent,
            confidence=float(confidence),
            is_out_of_scope=is_out_of_scope,
            slots=slots,
            sentiment=self.sentiment.score(excerpt(text, SENTIMENT_CHARS), language),
            top_intents=top,
        )
