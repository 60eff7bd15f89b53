"""Generator: LoRA on transformers' Trainer overfits a tiny Llama, keeps its best dev checkpoint, resumes,
and saves an adapter that matches the merged model; pairs carry the pipeline's own
prompts and only grounded agent replies; the trainer runs end to end on the demo shop; promotion
follows chrF and refuses a run that lowers groundedness; the factory loads the promoted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assistant_fixtures import build_test_assistant, train_head
from tiny_models import build_tiny_causal_lm

from assistant.backends.embedding import HashingEmbedder
from assistant.backends.language_detection import ScriptLanguageIdentifier
from assistant.backends.sentiment import KeywordSentimentScorer
from assistant.backends.text_generation import ScriptedTextGenerator, TransformersTextGenerator
from assistant.backends.vector_store import InMemoryVectorStore
from assistant.schema import ChatMessage
from assistant.training.generator import LabelledUnderstander

SHOP = Path(__file__).resolve().parents[2] / "dialogue_data"
PROMPTS = [[ChatMessage("user", "where is my parcel")], [ChatMessage("user", "red shoes price")],
           [ChatMessage("user", "free shipping days")], [ChatMessage("user", "return a shirt")]]  # fmt: skip
REPLIES = [
    "the parcel ship within 30 days",
    "cheap red shoes",
    "free shipping within 30 days",
    "return refund thanks",
]


@pytest.fixture(scope="module")
def parts():
    embedder = HashingEmbedder(dimension=512)
    return embedder, InMemoryVectorStore(), train_head(embedder)


def _assistant(tmp_path: Path, parts):
    embedder, store, head = parts
    return build_test_assistant(tmp_path, embedder=embedder, store=store, identifier=ScriptLanguageIdentifier(),
                                head=head, sentiment=KeywordSentimentScorer(), generator=ScriptedTextGenerator(),
                                index=store.count("knowledge") == 0)  # fmt: skip


@pytest.mark.integration
def test_lora_overfits_its_replies_resumes_and_saves_adapter_and_merged_model(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from assistant.backends.generator_training import fine_tune_causal_lm
    from assistant.backends.trainer_support import TrainingInterrupted

    base = build_tiny_causal_lm(tmp_path / "tiny", initializer_range=0.5)  # LoRA leaves the output frozen
    renderer = TransformersTextGenerator(str(base), device="cpu")
    prompts = [renderer.render_prompt(p) for p in PROMPTS]
    before = renderer.generate_batch(PROMPTS, max_new_tokens=8)
    args = dict(work_dir=tmp_path / "run", epochs=120, batch_size=4, learning_rate=2e-2, rank=8, device="cpu",
                dev_prompts=prompts, dev_replies=REPLIES, eval_every=20)  # fmt: skip
    with pytest.raises(TrainingInterrupted):
        fine_tune_causal_lm(str(base), prompts, REPLIES, stop_after_steps=30, **args)
    result = fine_tune_causal_lm(str(base), prompts, REPLIES, **args)
    assert result.resumed_from_step == 30 and result.steps == 120 and result.final_loss < 0.05
    assert result.best_metric == min(e["eval_loss"] for e in result.evaluations) < 0.05
    tuned = TransformersTextGenerator(str(result.model_dir), device="cpu")  # merged: no peft needed to serve
    after = tuned.generate_batch(PROMPTS, max_new_tokens=12)
    assert after == REPLIES and before != REPLIES
    assert not (tmp_path / "run" / "checkpoints").exists()
    # the adapter alone, on the base, gives the merged model's output
    adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base)), str(tmp_path / "run" / "adapter")
    )
    merged = AutoModelForCausalLM.from_pretrained(str(result.model_dir))
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        torch.testing.assert_close(adapter(ids).logits, merged(ids).logits, atol=1e-4, rtol=1e-4)


@pytest.mark.integration
def test_lora_adapts_only_the_top_layers_when_asked(tmp_path: Path) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from assistant.backends.generator_training import lora_config

    model = AutoModelForCausalLM.from_pretrained(str(build_tiny_causal_lm(tmp_path / "tiny")))
    top = get_peft_model(model, lora_config(model, 1, rank=4))
    trainable = {n for n, p in top.named_parameters() if p.requires_grad}
    assert trainable and all(".layers.1." in n and "lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} >= {"q_proj", "v_proj", "down_proj"}
    model = AutoModelForCausalLM.from_pretrained(str(build_tiny_causal_lm(tmp_path / "tiny2")))
    every = get_peft_model(model, lora_config(model, None, rank=4))
    assert any(".layers.0." in n for n, p in every.named_parameters() if p.requires_grad)
    assert not any(p.requires_grad for n, p in every.named_parameters() if "lora_" not in n)


def test_pairs_are_the_pipelines_prompts_with_grounded_agent_replies(tmp_path: Path, parts) -> None:
    from assistant.stages.generation import ungrounded_facts
    from assistant.training.generator import generation_pairs
    from assistant.training.logs import conversations_in_split

    assistant = _assistant(tmp_path, parts)
    writer = assistant.writer
    conversations = list(conversations_in_split(SHOP, "train"))[:40]
    pairs = generation_pairs(assistant, conversations)
    assert pairs and assistant.writer is writer  # the real writer is back
    for pair in pairs:
        assert pair.prompt[0].role == "system" and pair.prompt[-1].role == "user"
        assert pair.floor in pair.prompt[0].content  # the grounded answer the model is asked to rephrase
        assert not ungrounded_facts(pair.reply, pair.evidence)
    # the recorded prompt is exactly what the pipeline gives the model for the same turn
    first = pairs[0]
    conversation = next(c for c in conversations if c["id"] == first.conversation_id)
    (tmp_path / "again").mkdir()
    fresh = _assistant(tmp_path / "again", parts)
    fresh.understander = labelled = LabelledUnderstander(
        fresh.understander
    )  # the replay reads labelled intents
    for turn in conversation["turns"]:
        if turn["role"] == "customer":
            labelled.label = turn["intent"]
            fresh.respond("check", turn["text"])
        else:
            fresh.conversations.replace_last_message("check", "assistant", turn["text"])
    assert list(first.prompt) in fresh.writer.generator.prompts


def test_labelled_intents_make_the_pairs_independent_of_a_weak_intent_model(tmp_path: Path, parts) -> None:
    """A first intent model trained on a few turns misreads most of them; where the log labels the
    turn's intent, the replay uses the label, so the generator still gets its pairs."""
    from assistant.training.generator import generation_pairs
    from assistant.training.logs import conversations_in_split

    embedder, store, _ = parts
    weak = train_head(embedder, limit=8)
    assert len(weak.labels) < 8  # eight turns: a few intents known, the rest always misread
    conversations = list(conversations_in_split(SHOP, "train"))[:30]
    unlabelled = [{**c, "turns": [{k: v for k, v in t.items() if k != "intent"} for t in c["turns"]]}
                  for c in conversations]  # fmt: skip

    def pairs(folder: str, logs: list) -> list:
        (tmp_path / folder).mkdir()
        assistant = _assistant(tmp_path / folder, (embedder, store, weak))
        understander = assistant.understander
        found = generation_pairs(assistant, logs, tag=folder)
        assert assistant.understander is understander  # the pipeline's own is back
        return found

    with_labels, without = pairs("labelled", conversations), pairs("unlabelled", unlabelled)
    assert len(with_labels) >= 2 * max(1, len(without))
    strong = generation_pairs(_assistant(tmp_path, parts), conversations, tag="strong")
    assert len(with_labels) == len(strong)  # with labels, the intent model's quality does not matter


def test_every_turn_without_a_pair_is_counted_with_its_reason(tmp_path: Path, parts) -> None:
    """A shop sees why its logs give few pairs; a label the engine does not act on is named as the cause."""
    from collections import Counter

    from assistant.training.generator import generation_pairs
    from assistant.training.logs import conversations_in_split

    conversations = list(conversations_in_split(SHOP, "train"))[:30]
    customer_turns = sum(t["role"] == "customer" for c in conversations for t in c["turns"])
    skipped: Counter[str] = Counter()
    pairs = generation_pairs(_assistant(tmp_path, parts), conversations, skipped=skipped)
    assert len(pairs) + sum(skipped.values()) == customer_turns
    assert "intent label outside the engine's intents" not in skipped
    renamed = {"order_status": "track_order", "return_policy": "returns_info"}  # a shop's own names
    theirs = [{**c, "turns": [{**t, "intent": renamed.get(t.get("intent"), t.get("intent"))} if t["role"] == "customer"
                              else t for t in c["turns"]]} for c in conversations]  # fmt: skip
    (tmp_path / "theirs").mkdir()
    theirs_skipped: Counter[str] = Counter()
    fewer = generation_pairs(_assistant(tmp_path / "theirs", parts), theirs, skipped=theirs_skipped)
    assert theirs_skipped["intent label outside the engine's intents"] > 0
    # the label's turns, and later turns whose state it changed (no verification)
    assert len(pairs) > len(fewer)


def test_a_labelled_intent_replaces_the_models_reading_and_nothing_else(tmp_path: Path, parts) -> None:
    from assistant.schema import DialogueState

    assistant = _assistant(tmp_path, parts)
    labelled = LabelledUnderstander(assistant.understander)
    assert (
        labelled.embedder is assistant.understander.embedder and labelled.head is assistant.understander.head
    )
    state = DialogueState("c1")
    text = "can I return red shoes I bought in Berlin 10115?"
    model = assistant.understander.parse(text, language="en", state=state)
    assert labelled.parse(text, language="en", state=state) == model  # no label: the model's reading
    labelled.label = "complaint"
    forced = labelled.parse(text, language="en", state=state)
    assert (forced.intent, forced.confidence, forced.is_out_of_scope) == ("complaint", 1.0, False)
    assert (forced.slots, forced.sentiment) == (model.slots, model.sentiment)
    labelled.label = "out_of_scope"
    assert labelled.parse(text, language="en", state=state).is_out_of_scope


def test_feedback_replies_become_pairs_and_bot_replies_never_do(tmp_path: Path, parts) -> None:
    from assistant.training.generator import generation_pairs

    assistant = _assistant(tmp_path, parts)
    conversation = {"id": "feedback:1", "language": "en", "turns": [
        {"role": "customer", "text": "How long do I have to return a jacket?"},
        {"role": "agent", "text": "You can return it within 30 days of delivery.", "target": False},
        {"role": "customer", "text": "How long do I have to return shoes?"},
        {"role": "agent", "text": "Shoes can go back within 30 days of delivery."},
    ]}  # fmt: skip
    pairs = generation_pairs(assistant, [conversation])
    assert [p.reply for p in pairs] == ["Shoes can go back within 30 days of delivery."]


@pytest.mark.integration
def test_generator_trainer_on_the_demo_shop_and_promotion(tmp_path: Path, parts) -> None:
    from assistant.training.generator import active_generator, train_generator
    from assistant.training.registry import active_run, promote

    base = build_tiny_causal_lm(tmp_path / "tiny")
    artifacts = tmp_path / "artifacts"
    folder = train_generator(
        SHOP, _assistant(tmp_path, parts), artifacts, base_reference=str(base),
        make_generator=lambda ref: TransformersTextGenerator(ref, device="cpu"),
        run_id="tiny", max_train=24, max_eval=8, max_new_tokens=12, epochs=1, evaluate_test=False, device="cpu",
    )  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    expected = {"base_dev_chrf", "dev_chrf", "dev_groundedness", "base_dev_groundedness", "dev_accepted"}
    assert expected <= set(metrics)
    assert metrics["train_pairs"] == 24 and metrics["dev_pairs"] == 8
    assert (folder / "model" / "config.json").is_file() and (folder / "manifest.json").is_file()
    assert (folder / "adapter" / "adapter_config.json").is_file() and "fine_tune_best_step" in metrics
    assert len((folder / "samples.jsonl").read_text().splitlines()) == 8
    assert active_run(artifacts, "generator") is None and active_generator(artifacts) is None

    # promotion: the headline is chrF, and groundedness may not drop
    def rewrite(**values: float) -> None:
        metrics.update(values)
        (folder / "metrics.json").write_text(json.dumps(metrics))

    rewrite(base_dev_chrf=10.0, dev_chrf=20.0, base_dev_groundedness=0.9, dev_groundedness=0.8)
    refused = promote(artifacts, "generator", "tiny")
    assert not refused.is_promoted and "groundedness" in refused.reason
    rewrite(dev_chrf=5.0, dev_groundedness=0.95)
    assert not promote(artifacts, "generator", "tiny").is_promoted
    rewrite(dev_chrf=20.0)
    assert promote(artifacts, "generator", "tiny").is_promoted
    assert active_generator(artifacts) == folder / "model"


def test_factory_builds_the_promoted_generator(tmp_path: Path) -> None:
    from dataclasses import replace

    from assistant.factory import build_generator
    from assistant.settings import load_settings
    from assistant.training.registry import set_active

    settings = load_settings()
    settings = replace(settings, paths=replace(settings.paths, artifacts_dir=tmp_path))
    (tmp_path / "generator" / "run1" / "model").mkdir(parents=True)
    set_active(tmp_path, "generator", "run1")
    assert build_generator(settings).model_reference == str(tmp_path / "generator" / "run1" / "model")
