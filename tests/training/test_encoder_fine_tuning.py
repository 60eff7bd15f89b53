"""Few-shot contrastive fine-tuning of the intent encoder (sentence-transformers' trainer) on a tiny BERT
built in code: it separates the intents, keeps its best dev checkpoint, saves and reloads, resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer

pytestmark = pytest.mark.integration
TEXTS = ["where is my order", "order status please", "where is my parcel", "how do i get my order",
         "red shoes price", "black shirt size small", "blue shoes large", "cheap red shirt"]  # fmt: skip
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]


def test_few_shot_contrastive_training_separates_the_intents_and_keeps_the_best_checkpoint(
    tmp_path: Path,
) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.encoder_training import fine_tune_encoder_few_shot
    from assistant.stages.intent_head import fit_softmax_regression

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    before = SentenceTransformerEmbedder(str(model), device="cpu").embed_queries(TEXTS)
    losses: list[float] = []
    result = fine_tune_encoder_few_shot(
        str(model), TEXTS, LABELS, dev_texts=TEXTS, dev_labels=LABELS, work_dir=tmp_path / "run", epochs=40,
        batch_size=8, learning_rate=3e-3, device="cpu", eval_every=10,
        progress=lambda step, total, loss: losses.append(loss),
    )  # fmt: skip
    assert result.steps == 40 and losses and losses[-1] < losses[0]
    assert result.best_metric == max(e["eval_dev_accuracy"] for e in result.evaluations) == 1.0
    after = SentenceTransformerEmbedder(str(result.model_dir), device="cpu").embed_queries(TEXTS)
    labels = np.array(LABELS)

    def margin(vectors: np.ndarray) -> float:  # mean same-intent cosine minus mean cross-intent cosine
        similarity = vectors @ vectors.T
        same = labels[:, None] == labels[None, :]
        return float(similarity[same & ~np.eye(len(labels), dtype=bool)].mean() - similarity[~same].mean())

    assert margin(after) > margin(before) + 0.1
    weights, bias = fit_softmax_regression(after, labels, 2, epochs=200)
    assert list((after @ weights + bias).argmax(axis=1)) == LABELS
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_interrupted_few_shot_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_encoder_few_shot
    from assistant.backends.trainer_support import TrainingInterrupted

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    args = dict(work_dir=tmp_path / "run", epochs=5, batch_size=4, device="cpu", eval_every=2)
    with pytest.raises(TrainingInterrupted):
        fine_tune_encoder_few_shot(str(model), TEXTS, LABELS, stop_after_steps=3, **args)
    assert any((tmp_path / "run" / "checkpoints").glob("checkpoint-3"))
    assert not (tmp_path / "run" / "encoder").exists()
    result = fine_tune_encoder_few_shot(str(model), TEXTS, LABELS, **args)
    assert result.resumed_from_step == 3 and result.steps == 10
    assert (result.model_dir / "modules.json").is_file()


def test_too_few_pairs_of_one_intent_say_so_before_loading_anything(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_encoder_few_shot
    from assistant.errors import BackendError

    with pytest.raises(BackendError, match="two intents with two or more examples each; 1 of 3"):
        fine_tune_encoder_few_shot("no-such-model", ["a", "b", "c", "d"], [0, 0, 1, 2], work_dir=tmp_path)


def test_intent_training_with_a_fine_tuned_encoder(tmp_path: Path) -> None:
    """The trainer's fine-tuning path end to end on the demo shop (tiny encoder, quick preset):
    the run records its frozen starting point, is not promoted over an active run, and loads."""
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.training.intent import active_intent_encoder, load_active_intent_head, train_intent_model
    from assistant.training.registry import active_run, set_active

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    artifacts = tmp_path / "artifacts"
    (artifacts / "intent" / "existing").mkdir(parents=True)
    set_active(artifacts, "intent", "existing")
    said: list[str] = []
    folder = train_intent_model(
        shop, SentenceTransformerEmbedder(str(model), device="cpu"), artifacts, embedder_reference=str(model),
        run_id="tuned", epochs=50, fine_tune_encoder=True, quick=True, device="cpu", progress=said.append,
    )  # fmt: skip
    foreseen = [
        i for i, line in enumerate(said) if line.startswith("fine-tuning the encoder on") and "about" in line
    ]
    stepped = [i for i, line in enumerate(said) if line.startswith("fine-tuning the encoder: step")]
    assert len(foreseen) == 1 and stepped and foreseen[0] < stepped[0]  # said before it starts
    import json

    metrics = json.loads((folder / "metrics.json").read_text())
    assert (
        metrics["encoder"] == "fine-tuned"
        and "base_dev_macro_f1" in metrics
        and metrics["fine_tune_steps"] > 0
    )
    # said before it starts, and kept beside what it took (the fine-tune and the embedding after it)
    assert metrics["fine_tune_estimate_seconds"] >= 0  # a tiny encoder's can round to 0.0
    assert metrics["fine_tune_total_seconds"] >= metrics["fine_tune_seconds"] > 0
    assert active_run(artifacts, "intent") == "existing"  # a new run never activates itself over another
    set_active(artifacts, "intent", "tuned")
    assert active_intent_encoder(artifacts) == folder / "encoder"
    assert len(load_active_intent_head(artifacts).labels) > 10


def test_eval_intents_fine_tunes_the_encoder_on_each_sample_and_compares_it_with_the_frozen_head(
    tmp_path: Path,
) -> None:
    """`eval intents --fine-tune-encoder --repeats 2` end to end over a tiny encoder: each sample's encoder is
    fine-tuned on that sample's train examples, its figures summed apart (`repeats_fine_tuned_*`) and set
    against the frozen head's on the same sample (`fine_tune_gain_*`), and the report says so."""
    from assistant.evaluation.suites import run_intent_suite
    from assistant.settings import load_settings

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    settings = load_settings(environ={}, overrides=[f"models.embedder={model}", "models.device=cpu",
                                                    "models.intent_english_features=off",
                                                    f"paths.data_dir={tmp_path / 'data'}"])  # fmt: skip
    named = ("order_status", "product_search")  # their names in words join the head's examples
    rows = ["text,label"] + [f"{t},{named[label]}" for t, label in zip(TEXTS * 3, LABELS * 3, strict=True)]
    (tmp_path / "intents.csv").write_text("\n".join(rows) + "\n")
    said: list[str] = []
    folder, payload = run_intent_suite(settings, data=tmp_path / "intents.csv", test_share=0.25, seed=3,
                                       out_root=tmp_path / "out", progress=said.append, fine_tune_encoder=True,
                                       epochs=2, repeats=2, run_id="tuned")  # fmt: skip
    aggregate = payload["aggregate"]
    assert (
        [r["seed"] for r in payload["repeats_fine_tuned"]]
        == [3, 4]
        == [r["seed"] for r in payload["repeats"]]
    )
    assert aggregate["repeats_fine_tuned"] == 2 and aggregate["fine_tune_steps"] > 0
    assert aggregate["fine_tune_total_seconds"] >= aggregate["fine_tune_seconds"] > 0
    assert aggregate["fine_tune_estimate_seconds"] >= 0  # a tiny encoder's can round to 0.0
    assert aggregate["intent_name_examples"] == 2
    # the names are embedded by each sample's fine-tuned encoder too, and fitted with the tuned turns
    assert sum(line.startswith("intent names (fine-tuned): embedded 2/2") for line in said) == 2
    first = payload["repeats_fine_tuned"][0]
    assert aggregate["in_scope_accuracy_nothing_set_aside"] == first["best"]  # the report's run is the first
    assert aggregate["frozen_in_scope_accuracy_nothing_set_aside"] == payload["repeats"][0]["best"]
    gains = [round(100 * (t["best"] - f["best"]), 2) for f, t in
             zip(payload["repeats"], payload["repeats_fine_tuned"], strict=True)]  # fmt: skip
    assert aggregate["fine_tune_gain_points_min"] == min(gains) and aggregate["fine_tune_helped"] == sum(
        g > 0 for g in gains
    )
    assert any("about" in line and "for the 2 samples left" in line for line in said)
    again = [
        line for line in said if line.startswith("sample 2 of 2 (seed 4): fine-tuning again; the first took")
    ]
    assert len(again) == 1 and again[0].endswith("for the 1 left")
    report = (folder / "report.md").read_text()
    assert "## Over 2 samples of the data, fine-tuned encoder (`--repeats`)" in report
    assert "Against the frozen head on the same samples" in report
