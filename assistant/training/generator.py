"""Fine-tune the reply generator on (grounded prompt -> the agent's reply) pairs, with a LoRA adapter on
transformers' `Trainer` (`backends.generator_training`): the run keeps the adapter (`adapter/`) and
the model with it merged (`model/`, what the assistant serves after `promote`).

The prompts are not rebuilt by hand: the training conversations are replayed through the
assistant, whose reply writer is swapped for one that records the exact prompt the pipeline would
give the model (`ReplyGenerator.prompt`, with the evidence, the grounded floor answer and the
history as the pipeline has them) instead of calling a model. A turn becomes a pair only when the
pipeline chose the logged action and every fact in the agent's reply is in the evidence, so the
model never learns to state what its prompt does not contain. Where the log labels a customer turn's
intent, the replay takes that label instead of the intent model's reading (`LabelledUnderstander`;
slots, sentiment and everything after are the pipeline's own): the pairs then do not depend on how
good the shop's intent model is yet (a first model trained on a few turns misreads many of them, and
every misread turn was a lost pair), and each prompt holds the evidence for what the shopper asked.

Metrics on dev and test pairs, for the starting model (`base_*`) and the fine-tuned one:
`chrf` of the generated draft against the agent's reply (the headline), `groundedness` (share of
drafts with no fact missing from the evidence), `accepted` (share passing the pipeline's whole
check, which is what decides whether a shopper sees the draft) and `reply_chrf` (chrF of what the
shopper would see: the draft if accepted, else the grounded floor).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from assistant.catalog import ShopKnowledge
from assistant.errors import DataError
from assistant.evaluation import metrics as m
from assistant.evaluation.replay import comparable_action
from assistant.pipeline import Assistant
from assistant.privacy import redact
from assistant.schema import ChatMessage, Decision, DialogueState, Draft, Hit, Understanding
from assistant.stages.generation import (
    Evidence,
    ReplyGenerator,
    model_writes,
    quality_problems,
    ungrounded_facts,
)
from assistant.stages.policy import ENGINE_INTENTS
from assistant.training.feedback import feedback_manifest
from assistant.training.logs import conversations_in_split, data_hashes
from assistant.training.registry import active_run, step_reporter, training_figures, write_run

logger = logging.getLogger(__name__)
COMPONENT = "generator"
QUICK_TRAIN, QUICK_EVAL, QUICK_LAYERS, QUICK_EPOCHS = 160, 40, 6, 2.0
FULL_EPOCHS = 2.0


class PromptedGenerator(Protocol):
    """A generator that can also show the exact text it gives the model (for training)."""

    def render_prompt(self, messages: Sequence[ChatMessage]) -> str: ...

    def generate_batch(
        self, prompts: Sequence[Sequence[ChatMessage]], *, max_new_tokens: int, temperature: float = 0.0
    ) -> list[str]: ...


@dataclass(frozen=True)
class GenerationPair:
    """One training or evaluation example: the pipeline's prompt and what the agent actually wrote."""

    prompt: tuple[ChatMessage, ...]
    reply: str  # the agent's reply (the target)
    evidence: str  # everything a reply may state
    floor: str  # the grounded answer the pipeline sends when the model's draft fails its check
    conversation_id: str


class PromptRecorder(ReplyGenerator):
    """The pipeline's reply writer, recording the prompt it would give the model (and sending the floor)."""

    def __init__(self, shop: ShopKnowledge) -> None:
        super().__init__(shop, None)
        self.recorded: tuple[tuple[ChatMessage, ...], str, str] | None = None

    def generate(self, decision: Decision, evidence: Evidence, language: str, history: Sequence[ChatMessage],
                 replies: tuple[Hit, ...] = ()) -> tuple[Draft, ...]:  # fmt: skip
        floor = self.template(decision, evidence, language, replies)
        if model_writes(decision, language):  # where the pipeline would ask the model, with any model
            self.recorded = (tuple(self.prompt(evidence, history, floor)), evidence.text(), floor.text)
        return (floor,)


class LabelledUnderstander:
    """The pipeline's understander, with the turn's labelled intent (`label`, set before each turn) in
    place of the model's reading; without a label, the model's reading as it is."""

    def __init__(self, understander: Any) -> None:
        self.understander = understander
        self.label: str | None = None

    def __getattr__(self, name: str) -> Any:  # embedder, head, sentiment: the pipeline's own
        if name == "understander":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.understander, name)

    def parse(self, text: str, *, language: str, state: DialogueState, vector: Any = None) -> Understanding:
        understood = self.understander.parse(text, language=language, state=state, vector=vector)
        if not self.label or (self.label == understood.intent and not understood.is_out_of_scope):
            return understood
        return replace(
            understood, intent=self.label, confidence=1.0, is_out_of_scope=self.label == "out_of_scope"
        )


def _skip_reason(gold: dict | None, recorded: tuple | None, reply: Any, label: str | None) -> str | None:
    """Why a replayed customer turn gives no pair (None: it gives one)."""
    if gold is None:
        return "no agent reply"
    if gold.get("target") is False or not gold["text"].strip():
        return "agent reply not a target"  # a bot's reply, or empty
    if recorded is None:
        return "the pipeline does not use the model"  # a template, a hand-off, a verification
    if gold.get("action") not in (None, comparable_action(reply)):
        # the pipeline chose another action, so its prompt does not fit the agent's reply; with a label the
        # engine does not act on, that is the label's doing
        known = label is None or label in ENGINE_INTENTS
        return "another action" if known else "intent label outside the engine's intents"
    if ungrounded_facts(gold["text"], recorded[1]):
        return "agent reply states facts the evidence lacks"  # the prompt does not hold what the agent knew
    return None


def generation_pairs(
    assistant: Assistant,
    conversations: Sequence[dict[str, Any]],
    *,
    limit: int | None = None,
    tag: str = "gen",
    progress: Callable[[str], None] = lambda _: None,
    skipped: Counter[str] | None = None,
) -> list[GenerationPair]:
    """Replay `conversations` (logged history after every turn, as the evals do, with the turns' labelled
    intents where they have them) and keep the turns where the model would write and the agent's reply
    is a grounded answer to the same action. `skipped`, when given, counts the customer turns that gave no
    pair by reason (`_skip_reason`), so a shop sees why its logs yield few pairs."""
    recorder = PromptRecorder(assistant.shop)
    labelled = LabelledUnderstander(assistant.understander)
    writer, assistant.writer = assistant.writer, recorder
    understander, assistant.understander = assistant.understander, labelled  # type: ignore[assignment]
    pairs: list[GenerationPair] = []
    started = time.perf_counter()
    try:
        for done, conversation in enumerate(conversations, 1):
            conversation_id = f"{tag}-{conversation['id']}"
            turns = conversation["turns"]
            for position, turn in enumerate(turns):
                if turn["role"] != "customer":
                    continue
                gold = turns[position + 1] if position + 1 < len(turns) else None
                gold = gold if gold is not None and gold["role"] == "agent" else None
                recorder.recorded = None
                labelled.label = turn.get("intent") or None
                reply = assistant.respond(conversation_id, turn["text"])
                if gold is not None:
                    assistant.conversations.replace_last_message(conversation_id, "assistant", gold["text"])
                recorded = recorder.recorded
                reason = _skip_reason(gold, recorded, reply, labelled.label)
                if (
                    reason is not None or gold is None or recorded is None
                ):  # (the last two: never without a reason)
                    if skipped is not None:
                        skipped[reason or "no agent reply"] += 1
                    continue
                prompt, evidence, floor = recorded
                pairs.append(
                    GenerationPair(prompt, gold["text"].strip(), evidence, floor, conversation["id"])
                )
            if done % 50 == 0:
                wanted = f"/{limit}" if limit is not None else ""
                progress(f"{tag}: {done} conversations replayed, {len(pairs)}{wanted} pairs, "
                         f"{time.perf_counter() - started:.0f} s")  # fmt: skip
            if limit is not None and len(pairs) >= limit:
                break
    finally:
        assistant.writer, assistant.understander = writer, understander
    return pairs[:limit] if limit is not None else pairs


def evaluate_generator(
    generator: PromptedGenerator,
    pairs: Sequence[GenerationPair],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    progress: Callable[[str], None] = lambda _: None,
    label: str = "",
) -> tuple[dict[str, float], list[str]]:
    """Greedy drafts for `pairs` (batched, similar lengths together) and their metrics."""
    order = sorted(range(len(pairs)), key=lambda i: sum(len(x.content) for x in pairs[i].prompt))
    drafts = [""] * len(pairs)
    started = time.perf_counter()
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        texts = generator.generate_batch(
            [list(pairs[i].prompt) for i in chunk], max_new_tokens=max_new_tokens
        )
        for i, text in zip(chunk, texts, strict=True):
            drafts[i] = text
        done = min(start + batch_size, len(order))
        rate = done / max(time.perf_counter() - started, 1e-6)
        progress(f"{label}: {done}/{len(order)} drafts, ~{(len(order) - done) / rate:.0f} s left")
    return draft_metrics(pairs, drafts), drafts


def draft_metrics(pairs: Sequence[GenerationPair], drafts: Sequence[str]) -> dict[str, float]:
    """chrF, groundedness, acceptance and shipped-reply chrF of `drafts` against the pairs."""
    if not pairs:
        return {}
    grounded = [not ungrounded_facts(d, p.evidence) for p, d in zip(pairs, drafts, strict=True)]
    accepted = [
        g and not quality_problems(d, p.floor) for p, d, g in zip(pairs, drafts, grounded, strict=True)
    ]
    shipped = [d if ok else p.floor for p, d, ok in zip(pairs, drafts, accepted, strict=True)]
    return {
        "chrf": round(statistics.fmean(m.chrf(d, p.reply) for p, d in zip(pairs, drafts, strict=True)), 2),
        "groundedness": round(statistics.fmean(grounded), 4),
        "accepted": round(statistics.fmean(accepted), 4),
        "reply_chrf": round(
            statistics.fmean(m.chrf(s, p.reply) for p, s in zip(pairs, shipped, strict=True)), 2
        ),
        "floor_chrf": round(statistics.fmean(m.chrf(p.floor, p.reply) for p in pairs), 2),
        "pairs": len(pairs),
    }


def train_generator(
    shop_dir: Path,
    assistant: Assistant,
    artifacts_dir: Path,
    *,
    base_reference: str,
    make_generator: Callable[[str], PromptedGenerator],
    feedback: Sequence[dict[str, Any]] = (),
    settings_toml: str = "",
    run_id: str | None = None,
    quick: bool = False,
    device: str = "auto",
    max_train: int | None = None,
    max_eval: int | None = None,
    max_new_tokens: int = 96,
    train_layers: int | None = None,
    epochs: float | None = None,
    evaluate_test: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Collect pairs, measure the starting model, fine-tune, measure again, write the run folder."""
    from assistant.backends.generator_training import fine_tune_causal_lm

    train_limit = max_train or (QUICK_TRAIN if quick else None)
    eval_limit = max_eval or (QUICK_EVAL if quick else None)
    progress("replaying the training logs to record the pipeline's prompts")
    logged = list(conversations_in_split(shop_dir, "train"))
    # Agent feedback first: it is the newest and most deliberate data the shop has.
    skipped: Counter[str] = Counter()
    train = generation_pairs(
        assistant, [*feedback, *logged], limit=train_limit, tag="train", progress=progress, skipped=skipped
    )
    if skipped:
        progress(
            "training turns without a pair: " + ", ".join(f"{n} {why}" for why, n in skipped.most_common())
        )
    outside = skipped["intent label outside the engine's intents"]
    if outside:
        progress(f"warning: {outside} training turns are labelled with intents the engine does not act on; map "
                 "them onto the engine's intents (`python -m assistant data validate` lists them)")  # fmt: skip
    dev = generation_pairs(assistant, list(conversations_in_split(shop_dir, "dev")), limit=eval_limit, tag="dev",
                           progress=progress)  # fmt: skip
    test = (generation_pairs(assistant, list(conversations_in_split(shop_dir, "test")), limit=eval_limit,
                             tag="test", progress=progress) if evaluate_test else [])  # fmt: skip
    if not train or not dev:
        why = ", ".join(f"{n} {reason}" for reason, n in skipped.most_common()) or "no customer turns"
        raise DataError(f"{shop_dir} has no turns the model would write, in the train or dev split (training "
                        f"turns without a pair: {why})")  # fmt: skip
    from_feedback = sum(1 for p in train if p.conversation_id.startswith("feedback:"))
    progress(
        f"{len(train)} training pairs ({from_feedback} from agent feedback), {len(dev)} dev, {len(test)} test"
    )

    metrics: dict[str, object] = {}
    samples: dict[str, list[str]] = {}
    base = make_generator(base_reference)
    for split, pairs in (("dev", dev), ("test", test)):
        if pairs:
            scores, samples[f"base_{split}"] = evaluate_generator(base, pairs, max_new_tokens=max_new_tokens,
                                                                   progress=progress, label=f"starting model, {split}")  # fmt: skip
            metrics.update(
                {f"base_{split}_{k}": v for k, v in scores.items() if k not in ("pairs", "floor_chrf")}
            )
    prompts = [base.render_prompt(p.prompt) for p in train]
    dev_prompts = [base.render_prompt(p.prompt) for p in dev]
    del base
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    folder = artifacts_dir / COMPONENT / run_id
    layers = train_layers if train_layers is not None else (QUICK_LAYERS if quick else None)
    started = time.perf_counter()
    result = fine_tune_causal_lm(base_reference, prompts, [p.reply for p in train], work_dir=folder,
                                 dev_prompts=dev_prompts, dev_replies=[p.reply for p in dev], train_layers=layers,
                                 epochs=epochs or (QUICK_EPOCHS if quick else FULL_EPOCHS),
                                 batch_size=8 if quick else 16, device=device,
                                 progress=step_reporter(progress, "training the generator"))  # fmt: skip
    seconds = time.perf_counter() - started
    tuned = make_generator(str(result.model_dir))
    for split, pairs in (("dev", dev), ("test", test)):
        if pairs:
            scores, samples[split] = evaluate_generator(tuned, pairs, max_new_tokens=max_new_tokens,
                                                        progress=progress, label=f"fine-tuned model, {split}")  # fmt: skip
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    metrics.update({"train_pairs": len(train), "train_pairs_from_feedback": from_feedback,
                    "train_turns_without_pair": dict(skipped.most_common()),
                    "lora_layers": "all" if layers is None else layers, "fine_tune_steps": result.steps,
                    "fine_tune_seconds": round(seconds, 1), "fine_tune_samples_per_s": round(result.samples_per_s, 2),
                    "fine_tune_device": result.device, **training_figures(result)})  # fmt: skip
    write_run(folder, metrics=metrics, settings_toml=settings_toml, manifest={
        "component": COMPONENT, "run_id": run_id, "base": base_reference,
        "data": data_hashes(shop_dir, with_documents=True), "feedback": feedback_manifest(feedback),
    })  # fmt: skip
    _write_samples(folder / "samples.jsonl", dev, samples)
    progress(f"generator {run_id}: dev chrF {metrics['base_dev_chrf']} -> {metrics['dev_chrf']}, groundedness "
             f"{metrics['base_dev_groundedness']} -> {metrics['dev_groundedness']}")  # fmt: skip
    return folder


def _write_samples(path: Path, dev: Sequence[GenerationPair], samples: dict[str, list[str]]) -> None:
    """Dev prompts' message, agent reply, floor and both models' drafts, for a person to read (redacted:
    the file outlives the run)."""
    with path.open("w", encoding="utf-8") as out:
        for index, pair in enumerate(dev):
            record = {"conversation": pair.conversation_id, "message": redact(pair.prompt[-1].content),
                      "agent_reply": redact(pair.reply), "floor": redact(pair.floor),
                      "starting_model": redact(samples.get("base_dev", [""] * len(dev))[index]),
                      "fine_tuned": redact(samples.get("dev", [""] * len(dev))[index])}  # fmt: skip
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def active_generator(artifacts_dir: Path) -> Path | None:
    """The active generator run's model folder, or None (the prepared model)."""
    run_id = active_run(artifacts_dir, COMPONENT)
    folder = artifacts_dir / COMPONENT / run_id / "model" if run_id else None
    return folder if folder is not None and folder.is_dir() else None
