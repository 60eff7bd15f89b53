"""One turn of the assistant, top to bottom: `Assistant.respond()`.

guard -> language -> understanding -> dialogue state -> policy -> retrieval -> recommendation ->
action -> generation -> reply. Every intermediate result goes into the `TurnTrace`. Failures
degrade here, in one place: the trace records what degraded and the shopper gets a polite reply.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import text as sql_text

from assistant import metrics
from assistant.backends.embedding import Embedder, JoinedEmbedder, first_part
from assistant.catalog import ShopKnowledge
from assistant.errors import AssistantError, IndexNotBuiltError
from assistant.privacy import redact
from assistant.schema import (
    ChatMessage,
    Decision,
    DialogueState,
    Draft,
    GuardResult,
    Hit,
    Language,
    LanguageResult,
    ProductCard,
    Reply,
    Source,
    SuggestedReply,
    TurnTrace,
    Understanding,
)
from assistant.stages.actions import ActionOutcome, ActionRunner
from assistant.stages.generation import Evidence, ReplyGenerator, rank_by_answer, ungrounded_facts
from assistant.stages.guard import Guard
from assistant.stages.language import LanguageDetector
from assistant.stages.policy import PolicyMaker
from assistant.stages.recommendation import Recommender, describe_constraint, meets, product_filters
from assistant.stages.retrieval import Retriever
from assistant.stages.understanding import Understander
from assistant.store.conversations import HUMAN_BUTTON_RULE, ConversationStore, latest_issue

logger = logging.getLogger(__name__)
PROBE = "health check: is the shop open?"  # what the readiness check embeds and classifies
PRODUCT_SLOTS = ("category", "product_type", "colour", "material", "brand", "price_max", "price_min", "size",
                 "product_id")  # fmt: skip
KNOWLEDGE_ACTIONS = frozenset({"answer_policy"})
# Constraints a shopper gives are hard filters; when nothing meets them all, these are given up in this order
# (the reply says which) to show the closest alternatives. The kind of product goes last: "cheaper" after a
# list of pens shows the cheapest pens, never shampoo.
RELAXATION_ORDER = ("colour", "material", "brand", "size", "price_min", "price_max", "product_type")


@dataclass
class StageTimer:
    """Milliseconds per stage, for the trace."""

    timings_ms: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def with_total(self) -> dict[str, float]:
        """The stages and `total`: the whole turn so far, which the stages add up to (bar bookkeeping)."""
        return {**self.timings_ms, "total": round((time.perf_counter() - self.started) * 1000, 2)}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[stage] = round((time.perf_counter() - started) * 1000, 2)


@dataclass(frozen=True)
class StreamEvent:
    """What `respond_stream` yields: text deltas, a replacement when a draft failed its check, the reply."""

    kind: str  # "delta" | "replace" | "reply"
    text: str = ""
    reply: Reply | None = None


@dataclass
class _Turn:
    """The turn in progress (internal)."""

    conversation_id: str
    state_before: DialogueState
    state: DialogueState
    guard: GuardResult
    language: LanguageResult
    understanding: Understanding
    decision: Decision
    knowledge: tuple[Hit, ...]
    products: tuple[Hit, ...]
    replies: tuple[Hit, ...]
    cards: tuple[ProductCard, ...]
    outcome: ActionOutcome
    evidence: Evidence
    history: list[ChatMessage]
    timer: StageTimer
    degraded: list[str]


class Assistant:
    """The shop assistant: answers shoppers and suggests replies to agents."""

    def __init__(
        self,
        *,
        shop: ShopKnowledge,
        embedder: Embedder,
        guard: Guard,
        language: LanguageDetector,
        understander: Understander,
        policy: PolicyMaker,
        retriever: Retriever,
        recommender: Recommender,
        actions: ActionRunner,
        writer: ReplyGenerator,
        conversations: ConversationStore,
        top_k: int = 5,
        history_turns: int = 6,
        agent_candidates: int = 1,
    ) -> None:
        self.shop, self.embedder, self.guard, self.language = shop, embedder, guard, language
        self.understander, self.policy, self.retriever, self.recommender = (
            understander,
            policy,
            retriever,
            recommender,
        )
        self.actions, self.writer, self.conversations = actions, writer, conversations
        self.top_k, self.history_turns = top_k, history_turns
        self.agent_candidates = agent_candidates  # model drafts per suggestion request (one batched call)

    def with_parts(self, **parts: Any) -> Assistant:
        """A copy sharing every stage but `parts` (an A/B test's candidate arm, `assistant.experiments`)."""
        fields: dict[str, Any] = dict(
            shop=self.shop, embedder=self.embedder, guard=self.guard, language=self.language,
            understander=self.understander, policy=self.policy, retriever=self.retriever,
            recommender=self.recommender, actions=self.actions, writer=self.writer, conversations=self.conversations,
            top_k=self.top_k, history_turns=self.history_turns, agent_candidates=self.agent_candidates,
        )  # fmt: skip
        unknown = set(parts) - set(fields)
        if unknown:
            raise TypeError(f"not parts of an Assistant: {', '.join(sorted(unknown))}")
        return Assistant(**{**fields, **parts})

    def warm_up(self) -> None:
        """Load models and indexes now rather than on the first message."""
        parts = (self.embedder, self.understander.embedder, self.retriever, self.writer.generator,
                 self.language.identifier, self.understander.sentiment)  # fmt: skip
        for part in parts:
            warm = getattr(part, "warm_up", None)
            if callable(warm):
                warm()

    def health(self) -> dict[str, object]:
        """What the health check reports about the reply generator: the endpoint's state (probed), the
        in-process model, or none (grounded replies only)."""
        generator = self.writer.generator
        if generator is None:
            return {"backend": "none", "mode": "templates"}
        probe = getattr(generator, "health", None)
        if callable(probe):
            return dict(probe())
        return {
            "backend": "in-process",
            "model": str(getattr(generator, "model_reference", type(generator).__name__)),
        }

    def check(self) -> dict[str, Any]:
        """A readiness check that exercises each part: the database (a query, the schema at the newest
        migration), the index (documents in the vector store and the lexical index), the embedder (a probe
        query), the intent model (classifies it), language detection, and the reply generator.

        `status` is "ok"; "degraded" when only the language model is down (replies stay grounded on the
        templates); "down" when anything else fails. Reasons here are short and safe to show publicly; the
        details go to the log."""
        from assistant.store.database import current_revision, head_revision

        parts: dict[str, dict[str, Any]] = {}

        def run(name: str, probe: Callable[[], dict[str, Any]]) -> None:
            started = time.perf_counter()
            try:
                parts[name] = {"ok": True, **probe()}
            except Exception as exc:
                logger.warning("health check: %s failed", name, exc_info=True)
                parts[name] = {"ok": False, "reason": f"{type(exc).__name__}"}
            parts[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)

        def database() -> dict[str, Any]:
            db = self.conversations.db
            with db.session() as session:
                session.execute(sql_text("SELECT 1"))
            revision, head = current_revision(db.engine), head_revision()
            if revision != head:
                raise RuntimeError(
                    f"schema at {revision}, newest is {head}: run `python -m assistant db upgrade`"
                )
            return {"dialect": db.dialect, "revision": revision}

        def index() -> dict[str, Any]:
            counts = self.retriever.status()
            if not any(v > 0 for k, v in counts.items() if k.endswith("_vectors")):
                raise IndexNotBuiltError("the search index is empty: run `python -m assistant index`")
            return counts

        vector: list[np.ndarray] = []

        def embedder() -> dict[str, Any]:
            out = np.asarray(self.embedder.embed_queries([PROBE]))
            if out.shape[0] != 1 or not np.isfinite(out).all():
                raise RuntimeError("the embedder returned no usable vector")
            vector.append(out)
            return {"dimension": int(out.shape[1])}

        def intent_model() -> dict[str, Any]:
            head = self.understander.head
            # This embedder, the run's own encoder, or the English embedder beside this one: the embedder
            # check's vector is reused (joined with the English one's) unless intent has its own encoder.
            reads = self.understander.embedder
            if not vector or first_part(reads) is not self.embedder:
                probe = np.asarray(reads.embed_queries([PROBE]))
            elif isinstance(reads, JoinedEmbedder):
                probe = reads.join_first(vector[0], [PROBE])
            else:
                probe = vector[0]
            probabilities = head.probabilities(probe)
            if not np.isfinite(probabilities).all():
                raise RuntimeError("the intent model returned no probabilities")
            return {"intents": len(head.labels)}

        def language() -> dict[str, Any]:
            return {"probe": self.language.detect("where is my order?", conversation_language=None).language}

        for name, probe in (("database", database), ("index", index), ("embedder", embedder),
                            ("intent_model", intent_model), ("language_detection", language)):  # fmt: skip
            run(name, probe)
        generation = self.health()
        parts["generation"] = {"ok": generation.get("state") != "down", **generation}
        if not all(p["ok"] for name, p in parts.items() if name != "generation"):
            status = "down"
        else:
            status = "ok" if parts["generation"]["ok"] else "degraded"
        return {"status": status, "checks": parts}

    def respond(self, conversation_id: str, message: str, *, client: str | None = None) -> Reply:
        """Run one turn and return the reply (never raises for bad input).

        `client` is the shopper's network address when known; failed identity checks are counted per
        address as well as per conversation and order number."""
        try:
            turn = self._prepare(conversation_id, message, client=client)
            with turn.timer("generation"):
                drafts = self._drafts(turn)
            return self._finish(turn, drafts)
        except Exception:
            return self._failed_turn(conversation_id, message)

    def _failed_turn(self, conversation_id: str, message: str) -> Reply:
        """The apology for a turn that broke; the shopper's message is kept with it, so an agent sees it."""
        logger.exception("turn failed in conversation %s", conversation_id)
        metrics.FAILED_TURNS.inc()
        reply = self._failure_reply(conversation_id)
        try:
            last = self.conversations.messages(conversation_id, limit=1)
            if not (
                last and last[-1].role == "customer" and last[-1].text == self.conversations.redact(message)
            ):
                self.conversations.append_message(
                    conversation_id, "customer", message or "(unreadable message)"
                )
            self.conversations.append_message(conversation_id, "assistant", reply.text,
                                              {**reply_record(reply), "failed": True})  # fmt: skip
        except Exception:  # the database itself may be what failed
            logger.exception("could not store the failed turn of %s", conversation_id)
        return reply

    def respond_stream(
        self, conversation_id: str, message: str, *, client: str | None = None
    ) -> Iterator[StreamEvent]:
        """Like `respond`, yielding the text as it is written, then the final reply. A turn that breaks
        (before or while streaming) replaces what was shown with the apology, like `respond`."""
        try:
            turn = self._prepare(conversation_id, message, client=client)
            yield from self._stream_turn(turn)
        except Exception:
            reply = self._failed_turn(conversation_id, message)
            yield StreamEvent("replace", reply.text)
            yield StreamEvent("reply", reply=reply)

    def _stream_turn(self, turn: _Turn) -> Iterator[StreamEvent]:
        language = turn.language.language
        drafts: tuple[Draft, ...]
        with turn.timer("generation"):
            if self.writer.uses_model(turn.decision, language):
                floor = self.writer.template(turn.decision, turn.evidence, language, turn.replies)
                # Only checked text reaches the shopper: the draft is held back sentence by sentence, and a
                # sentence is shown only once everything in it is supported by the evidence. At the first
                # unsupported sentence the model stops and the grounded floor replaces what was shown (which
                # was itself grounded, so a "replace" changes wording, never facts).
                pieces: list[str] = []
                pending = ""
                failed: tuple[str, ...] = ()
                try:
                    for piece in self.writer.stream(
                        turn.decision, turn.evidence, language, turn.history, floor
                    ):
                        pieces.append(piece)
                        pending += piece
                        complete, pending = split_complete_sentences(pending)
                        if complete:
                            failed = self.writer.unsupported(complete, turn.evidence, floor.text)
                            if failed:
                                break
                            yield StreamEvent("delta", complete)
                    if not failed and pending.strip():
                        failed = self.writer.unsupported(pending, turn.evidence, floor.text)
                        if not failed:
                            yield StreamEvent("delta", pending)
                    generated = self.writer.check("".join(pieces), turn.evidence, floor)
                except AssistantError as exc:  # the model is down, slow or broke off: the floor answers
                    generated = self._generation_failed(turn, exc)
                if failed and generated.is_grounded:  # stopped early: the rest was never checked, so not kept
                    generated = replace(generated, is_grounded=False, ungrounded=failed, confidence=0.1)
                drafts = (generated, floor)
                if not generated.is_grounded:
                    yield StreamEvent("replace", floor.text)
            else:
                drafts = self._drafts(turn)
                for piece in re.findall(r"\S+\s*", drafts[-1].text):
                    yield StreamEvent("delta", piece)
        yield StreamEvent("reply", reply=self._finish(turn, drafts))

    def hand_off(self, conversation_id: str, language: Language | None = None) -> Reply:
        """The shopper pressed "talk to a human": hand the conversation to the team, whatever the models
        would have decided. The reply says so in the conversation's language."""
        state = self.conversations.load_state(conversation_id)
        language = language or state.language
        message = self.writer.render("shopper_asks_human", language)
        try:
            turn = self._prepare(conversation_id, message, forced=Decision("handoff", HUMAN_BUTTON_RULE))
            return self._finish(turn, self._drafts(turn))
        except Exception:
            logger.exception("hand-off failed in conversation %s", conversation_id)
            self.conversations.save_state(replace(state, handoff=True))
            return self._failure_reply(conversation_id)

    def suggest_replies(self, conversation_id: str, k: int = 3) -> list[SuggestedReply]:
        """Ranked reply candidates for an agent: the assistant's own draft and past agent replies.

        They answer the customer's issue: the latest message that states one (not "let me talk to a
        person", a greeting or a thanks, as the reply that followed it classified it), drafted as if no
        hand-off were pending, and never the bot's own hand-off sentence."""
        stored = self.conversations.messages(conversation_id, limit=200)
        issue = latest_issue(stored)
        if issue is None:
            return []
        state = self.conversations.load_state(conversation_id)
        turn = self._prepare(conversation_id, issue, state=replace(state, handoff=False), dry_run=True,
                             allow_handoff=False)  # fmt: skip
        drafts = self._drafts(turn, candidates=self.agent_candidates)
        sources = self._sources(turn)
        out: list[SuggestedReply] = []
        for draft in drafts:
            if draft.is_grounded and draft.text:
                out.append(SuggestedReply(draft.text, round(draft.confidence * turn.understanding.confidence, 3),
                                          draft.source, sources))  # fmt: skip
        evidence = turn.evidence.text()
        for hit in turn.replies:
            text = str(hit.metadata.get("reply", ""))
            # A past reply is offered only if every fact in it holds for this conversation too.
            if text and not ungrounded_facts(text, evidence):
                confidence = round(min(0.9, hit.score * 30) * 0.7 * turn.understanding.confidence, 3)
                cited = tuple(s for s in sources if s.id in str(hit.metadata.get("passages", "")))
                out.append(SuggestedReply(text, confidence, "reply_memory", cited))
        handed_off = {m.text.strip() for m in stored if m.role == "assistant" and m.meta.get("handoff")}
        handed_off |= {self.writer.render(key, lang).strip() for key in ("handoff", "wait_for_human")
                       for lang in self.shop.languages}  # fmt: skip
        unique: dict[str, SuggestedReply] = {}
        for suggestion in sorted(out, key=lambda s: -s.confidence):
            if suggestion.text.strip() not in handed_off:
                unique.setdefault(suggestion.text, suggestion)
        return list(unique.values())[:k]

    # ------------------------------------------------------------------------------ the stages
    def _prepare(self, conversation_id: str, message: str, *, state: DialogueState | None = None,
                 dry_run: bool = False, forced: Decision | None = None, client: str | None = None,
                 allow_handoff: bool = True) -> _Turn:  # fmt: skip
        timer, degraded = StageTimer(), list[str]()
        with timer("state_load"):
            state_before = state or self.conversations.load_state(conversation_id)
        with timer("guard"):
            guard = self.guard.check(message)
        with timer("language"):
            language = self.language.detect(
                guard.text, conversation_language=state_before.language if state_before.turn_count else None
            )
        with timer("embedding"):  # the query vector: intent and every search of the turn share it
            vector = (
                self.embedder.embed_queries([guard.text])[0] if guard.text else np.zeros(1, dtype=np.float32)
            )
        with timer("understanding"):
            understanding = self._understand(guard, language, state_before, vector)
        mentioned = dict(understanding.slots)  # what this message itself names
        with timer("state"):
            state = carry_state(state_before, understanding, language.language, guard.text)
            slots = resolve_references(state, understanding.slots, self.shop, guard.text)
            understanding = replace(understanding, slots=slots)
        with timer("policy"):
            decision = forced or self.policy.decide(guard, understanding, state, allow_handoff=allow_handoff)
        with timer("retrieval"):
            knowledge, products, replies, unmet = self._retrieve(
                guard, decision, understanding, state, vector, degraded
            )
        with timer("recommendation"):
            cards = (
                self.recommender.recommend(products, slots=understanding.slots, state=state, language=language.language)
                if decision.action == "recommend_products" else ()
            )  # fmt: skip
        with timer("action"):
            outcome = self.actions.run(decision, understanding, state, dry_run=dry_run, client=client)
        product_records = self._products_in_focus(decision, understanding.slots, mentioned, state, products)
        if decision.action in KNOWLEDGE_ACTIONS:  # the passage whose sentences answer best leads
            passages = rank_by_answer(guard.text, knowledge[:2])
        elif outcome.result.status == "refused":
            passages = ()
        else:
            passages = self._fixed_passages(decision, language.language)
        passage_facts = tuple(
            (str(k), str(v))
            for h in passages
            for k, v in (self.shop.passages.get(h.id, {}).get("facts") or {}).items()
        )
        unmet = unmet if cards or product_records else ()
        evidence = Evidence(
            outcome.result, passages, cards, product_records, guard.text, passage_facts, unmet
        )
        with timer("history"):
            history = [
                ChatMessage("user" if role == "customer" else "assistant", text)
                for role, text in self.conversations.history(conversation_id, limit=self.history_turns)
            ]
        return _Turn(conversation_id, state_before, outcome.state, guard, language, understanding, decision,
                     knowledge, products, replies, cards, outcome, evidence, history, timer, degraded)  # fmt: skip

    def _products_in_focus(self, decision: Decision, slots: dict[str, str], mentioned: dict[str, str],
                           state: DialogueState, hits: tuple[Hit, ...]) -> tuple[dict, ...]:  # fmt: skip
        """The product a question is about: the one referred to ("the second one", "it"), else the best match."""
        if decision.action not in ("answer_product", "check_stock"):
            return ()
        names_a_product = any(k in mentioned for k in ("product_type", "brand", "category"))
        if "product_id" in slots and not names_a_product:
            return tuple(p for p in (self.shop.products.get(slots["product_id"]),) if p)
        if "ordinal" in slots:  # "the fourth one" of three shown: ask rather than guess
            return ()
        if not names_a_product and len(state.products_shown) == 1:  # "is it in stock?"
            return tuple(p for p in (self.shop.products.get(state.products_shown[0]),) if p)
        ids = [str(h.metadata.get("product_id")) for h in hits[:1]]
        return tuple(self.shop.products[pid] for pid in ids if pid in self.shop.products)

    def _fixed_passages(self, decision: Decision, language: str) -> tuple[Hit, ...]:
        out = []
        for group in self.shop.profile.template_passages.get(decision.action, ()):
            passage = self.shop.passage(group, language)
            if passage:
                out.append(Hit("knowledge", passage["id"], f"{passage['title']}. {passage['text']}", 1.0,
                               passage["title"], {"group": group, "language": passage["language"]}))  # fmt: skip
        return tuple(out)

    def _understand(self, guard: GuardResult, language: LanguageResult, state: DialogueState,
                    vector: np.ndarray) -> Understanding:  # fmt: skip
        if guard.problem in ("empty", "binary", "no_words"):
            return Understanding("unreadable", 0.0, False, {}, 0.0)
        # The intent embedder is this one, or has it first (the English embedder beside it: only that runs);
        # else intent has its own fine-tuned encoder.
        shared = first_part(self.understander.embedder) is self.embedder
        return self.understander.parse(guard.text, language=language.language, state=state,
                                       vector=vector if shared else None)  # fmt: skip

    def _retrieve(self, guard: GuardResult, decision: Decision, understanding: Understanding, state: DialogueState,
                  vector: np.ndarray, degraded: list[str]
                  ) -> tuple[tuple[Hit, ...], tuple[Hit, ...], tuple[Hit, ...], tuple[str, ...]]:  # fmt: skip
        """Knowledge, product and reply-memory hits, and the shopper's constraints no product met."""
        if not guard.text:
            return (), (), (), ()
        language = state.language
        knowledge: tuple[Hit, ...] = ()
        products: tuple[Hit, ...] = ()
        replies: tuple[Hit, ...] = ()
        unmet: tuple[str, ...] = ()
        try:
            # Knowledge is searched on every turn: the evidence for policy answers, and for the trace (the
            # agent console shows it; the evals score it) whatever the action.
            knowledge = self._search_knowledge(guard.text, vector, understanding, language)
            if decision.action in ("recommend_products", "answer_product", "check_stock"):
                products, unmet = self._search_products(
                    guard.text, vector, decision, understanding.slots, state
                )
            replies = self.retriever.search(
                "reply", guard.text, vector, top_k=3, where={"language": language}
            )
        except AssistantError as exc:
            logger.warning("retrieval degraded: %s", exc)
            degraded.append("retrieval")
        return knowledge, products, replies, unmet

    def _search_knowledge(self, text: str, vector: np.ndarray, understanding: Understanding,
                          language: str) -> tuple[Hit, ...]:  # fmt: skip
        topics = list(self.shop.profile.intent_topics.get(understanding.intent, ()))
        hits: tuple[Hit, ...] = ()
        if topics:
            where = {"$and": [{"language": language}, {"topic": {"$in": topics}}]}
            hits = self.retriever.search("knowledge", text, vector, top_k=self.top_k, where=where)
        if not hits:
            hits = self.retriever.search(
                "knowledge", text, vector, top_k=self.top_k, where={"language": language}
            )
        exact = [
            self.shop.passage(g, language)
            for g in self.shop.profile.passages_for(understanding.intent, understanding.slots)
        ]
        first = tuple(
            Hit("knowledge", p["id"], f"{p['title']}. {p['text']}", (hits[0].score if hits else 0.0) + 1e-3,
                p["title"], {"group": p.get("group", p["id"]), "language": p["language"], "topic": p["topic"]})
            for p in exact if p
        )  # fmt: skip
        return (first + tuple(h for h in hits if h.id not in {f.id for f in first}))[: self.top_k]

    def _search_products(self, text: str, vector: np.ndarray, decision: Decision, slots: dict[str, str],
                         state: DialogueState) -> tuple[tuple[Hit, ...], tuple[str, ...]]:  # fmt: skip
        """Products for the message under the shopper's constraints (hard filters), and the constraints that had
        to be given up because no product met them all (then the hits are the closest alternatives)."""
        language = state.language
        query = " ".join(
            [
                text,
                *(
                    slots[k]
                    for k in ("product_type", "category", "colour", "material", "brand")
                    if k in slots
                ),
            ]
        )
        if not self.shop.products:
            return (), ()
        is_recommendation = decision.action == "recommend_products"
        if is_recommendation:
            constraints = dict(slots)
        else:  # a question about one product: what it is, not what it costs, narrows it down
            constraints = {
                k: v for k, v in slots.items() if k in ("product_type", "colour", "material", "brand", "size")
            }
        max_price = _max_price(slots, state, self.shop) if is_recommendation else None
        if max_price is not None:
            constraints["price_max"] = f"{max_price:g}"
        given_up: list[str] = []
        for key in (None, *RELAXATION_ORDER):
            if key is not None:
                if key not in constraints:
                    continue
                given_up.append(key)
                constraints.pop(key)
            where = product_filters(constraints, language, in_stock_only=is_recommendation)
            hits = self.retriever.search(
                "product", query, vector, top_k=24 if is_recommendation else 6, where=where
            )
            hits = tuple(
                h
                for h in hits
                if meets(self.shop.products.get(str(h.metadata.get("product_id"))), constraints)
            )
            if hits:
                unmet = tuple(describe_constraint(k, slots, max_price, self.shop, language) for k in given_up)
                return hits[: 12 if is_recommendation else 3], unmet
        return (), ()

    def _drafts(self, turn: _Turn, *, candidates: int = 1) -> tuple[Draft, ...]:
        language = turn.language.language
        try:
            if candidates > 1:
                return self.writer.candidates(turn.decision, turn.evidence, language, turn.history, turn.replies,
                                              n=candidates)  # fmt: skip
            return self.writer.generate(turn.decision, turn.evidence, language, turn.history, turn.replies)
        except AssistantError as exc:
            return (self._generation_failed(turn, exc),
                    self.writer.template(turn.decision, turn.evidence, language, turn.replies))  # fmt: skip

    @staticmethod
    def _generation_failed(turn: _Turn, exc: AssistantError) -> Draft:
        """The empty draft a failed generation leaves, saying why (the trace's fallback reason)."""
        logger.warning("generation degraded: %s", exc)
        turn.degraded.append("generation")
        return Draft(
            "", "generated", is_grounded=False, ungrounded=(f"generation failed: {exc}",), confidence=0.0
        )

    def _finish(self, turn: _Turn, drafts: tuple[Draft, ...]) -> Reply:
        chosen = next((d for d in drafts if d.is_grounded and d.text), drafts[-1])
        fallback_reason = ""
        if drafts[0].source == "generated" and chosen is not drafts[0]:
            failed = not drafts[0].text and drafts[0].ungrounded
            fallback_reason = (drafts[0].ungrounded[0] if failed
                               else f"generated draft rejected: {', '.join(drafts[0].ungrounded) or 'empty'}")  # fmt: skip
        language: Language = turn.language.language
        result = turn.outcome.result
        is_locked = result.status == "refused" and result.reason == "locked"
        state = finish_state(turn.state, turn.decision, turn.understanding, turn.cards, turn.outcome.product_ids,
                             offers_handoff=is_locked)  # fmt: skip
        trace = TurnTrace(
            guard=turn.guard, language=turn.language, understanding=turn.understanding, state_before=turn.state_before,
            decision=turn.decision, knowledge=turn.knowledge, products=turn.products, replies=turn.replies,
            action=turn.outcome.result, drafts=drafts, fallback_reason=fallback_reason,
            timings_ms=turn.timer.with_total(), degraded=tuple(turn.degraded),
        )  # fmt: skip
        # Buttons follow what happened: a refused cancellation offers no "Yes, cancel it".
        refused = result is not None and result.status == "refused"
        quick = self._quick_replies("offer_handoff" if is_locked else ("default" if refused else turn.decision.action),
                                    language)  # fmt: skip
        reply = Reply(
            text=chosen.text, language=language, cards=turn.cards, sources=self._sources(turn), suggestions=quick,
            confidence=round(turn.understanding.confidence * chosen.confidence, 3),
            handoff=state.handoff, trace=trace,
        )  # fmt: skip
        self.conversations.append_message(
            turn.conversation_id, "customer", turn.guard.text or "(unreadable message)"
        )
        record = reply_record(reply)
        self.conversations.append_message(turn.conversation_id, "assistant", reply.text, record)
        metrics.record_turn(record)
        self.conversations.save_state(state)
        logger.debug(
            "turn %s: %s -> %s", turn.conversation_id, turn.understanding.intent, turn.decision.action
        )
        return reply

    def _quick_replies(self, action: str, language: str) -> tuple[str, ...]:
        table = self.shop.profile.quick_replies
        texts = table.get(action) or table.get("default") or {}
        return tuple(texts.get(language) or texts.get("en") or ())

    def _sources(self, turn: _Turn) -> tuple[Source, ...]:
        sources = [Source(h.id, h.title or h.id, "knowledge", h.text) for h in turn.evidence.passages[:1]]
        sources += [Source(c.product_id, c.title, "product") for c in turn.cards]
        sources += [Source(p["id"], self.shop.title(p, turn.language.language), "product")
                    for p in turn.evidence.products[:1]]  # fmt: skip
        result = turn.outcome.result
        if result.order_id and result.status == "done":
            sources.append(Source(result.order_id, f"Order {result.order_id}", "order"))
        return tuple(sources)

    def _failure_reply(self, conversation_id: str) -> Reply:
        state = DialogueState(conversation_id=conversation_id)
        try:
            state = self.conversations.load_state(conversation_id)
        except Exception:  # the database itself may be what failed
            logger.exception("could not load state for %s", conversation_id)
        text = self.writer.render("failure", state.language)
        empty = GuardResult(text="")
        trace = TurnTrace(empty, LanguageResult(state.language, "kept", 0.0), Understanding("unknown", 0.0, True, {}, 0.0),
                          state, Decision("apologize", "internal error"), degraded=("turn",))  # fmt: skip
        return Reply(
            text, state.language, (), (), self._quick_replies("default", state.language), 0.0, False, trace
        )


_SENTENCE_BREAK = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def split_complete_sentences(text: str) -> tuple[str, str]:
    """(the complete sentences at the start of `text`, with their spaces; the unfinished rest)."""
    ends = [m.end() for m in _SENTENCE_BREAK.finditer(text)]
    if not ends:
        return "", text
    return text[: ends[-1]], text[ends[-1] :]


def reply_record(reply: Reply) -> dict:
    """What is stored with an assistant message: what the shopper saw (cards, sources, quick replies),
    so a reloaded page shows it again, and a summary of the trace for the agent console."""
    trace = reply.trace
    action = trace.action
    return {
        "intent": trace.understanding.intent,
        "action": trace.decision.action,
        "rule": trace.decision.rule,
        "confidence": reply.confidence,
        "intent_confidence": round(trace.understanding.confidence, 3),
        "sentiment": round(trace.understanding.sentiment, 3),
        "language": reply.language,
        "slots": {k: redact(str(v)) for k, v in trace.understanding.slots.items()},
        "facts": {k: redact(str(v)) for k, v in (action.facts.items() if action else ())},
        "action_status": action.status if action else "",
        "knowledge": [h.id for h in trace.knowledge[:3]],
        "drafts": [{"source": d.source, "grounded": d.is_grounded} for d in trace.drafts],
        "fallback_reason": trace.fallback_reason,
        "degraded": list(trace.degraded),
        "reply_ms": trace.timings_ms.get("total"),  # the bot's own time on the turn (analytics)
        "handoff": reply.handoff,
        "cards": [dataclasses.asdict(c) for c in reply.cards],
        # Sources are the shop's own passages and products (public, its contact details included): never redacted.
        "sources": [
            {"id": s.id, "title": s.title, "kind": s.kind, "text": s.text[:1200]} for s in reply.sources
        ],
        "suggestions": list(reply.suggestions),
    }


# ------------------------------------------------------------------------------ state helpers
def carry_state(
    state: DialogueState, understanding: Understanding, language: Language, text: str
) -> DialogueState:
    """The state for this turn: language, carried product slots ("in black", "cheaper"), the address."""
    slots = dict(state.slots)
    new = understanding.slots
    if new.get("product_type") and new.get("product_type") != slots.get("product_type"):
        for key in PRODUCT_SLOTS:  # a new kind of product starts a new search
            slots.pop(key, None)
    elif new.get("category") and new.get("category") != slots.get("category") and not new.get("product_type"):
        for key in PRODUCT_SLOTS:
            slots.pop(key, None)
    for key in PRODUCT_SLOTS:
        if key in new:
            slots[key] = new[key]
    # E-mails and postcodes are used once for verification and never kept in the state.
    return replace(state, language=language, slots=slots)


def resolve_references(
    state: DialogueState, slots: dict[str, str], shop: ShopKnowledge, text: str = ""
) -> dict[str, str]:
    """Merge carried slots; turn "the second one" into a product id; read an awaited address."""
    merged = {**{k: v for k, v in state.slots.items() if k in PRODUCT_SLOTS}, **slots}
    if state.pending_action == "request_address" and text:
        address = re.sub(r"^(the new address is|new address:?|please send it to|新地址是|改成|改为)\s*", "", text,
                         flags=re.IGNORECASE)  # fmt: skip
        merged["address"] = address.strip(" .。")
    ordinal = slots.get("ordinal")
    if ordinal and state.products_shown:
        index = int(ordinal) - 1 if ordinal != "-1" else len(state.products_shown) - 1
        if 0 <= index < len(state.products_shown):
            merged["product_id"] = state.products_shown[index]
    return merged


def _max_price(slots: dict[str, str], state: DialogueState, shop: ShopKnowledge) -> float | None:
    if slots.get("cheaper") and state.products_shown:
        prices = [shop.products[p]["price"] for p in state.products_shown if p in shop.products]
        if prices:
            return min(prices) - 0.01
    try:
        return float(slots["price_max"]) if slots.get("price_max") else None
    except ValueError:
        return None


def finish_state(state: DialogueState, decision: Decision, understanding: Understanding,
                 cards: tuple[ProductCard, ...], product_ids: tuple[str, ...],
                 focus: tuple[dict, ...] = (), *, offers_handoff: bool = False) -> DialogueState:  # fmt: skip
    """The state to save after the reply (`offers_handoff`: the reply asked whether to bring in a human)."""
    slots = {k: v for k, v in state.slots.items() if k not in ("email", "postcode", "address")}
    if cards:
        slots.pop("product_id", None)
    if focus:
        slots["product_id"] = focus[0]["id"]
    pending = state.pending_action
    if decision.action == "apologize" or offers_handoff:
        pending = "offer_handoff"
    elif pending == "offer_handoff":
        pending = None
    unsure = understanding.is_out_of_scope and understanding.intent not in ("out_of_scope", "unreadable")
    shown = tuple(c.product_id for c in cards) or state.products_shown
    if "product_id" in understanding.slots and not cards:
        shown = state.products_shown
    answered = decision.action == "answer_policy" and not understanding.is_out_of_scope
    return replace(
        state,
        last_intent=understanding.intent if answered else None,
        pending_action=pending,
        handoff=state.handoff or decision.action == "handoff",
        products_shown=shown if not product_ids else tuple(dict.fromkeys((*shown, *product_ids))),
        turn_count=state.turn_count + 1,
        low_confidence_streak=state.low_confidence_streak + 1 if unsure else 0,
        slots=slots,
    )
