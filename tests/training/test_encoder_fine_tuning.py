"""Encoder + head fine-tuning on a tiny BERT built in code: it overfits, saves and reloads, resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer

pytestmark = pytest.mark.integration
TEXTS = ["where is my order", "order status please", "where is my parcel", "how do i get my order",
         "red shoes price", "black shirt size small", "blue shoes large", "cheap red shirt"]  # fmt: skip
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]


def predictions(encoder_dir: Path, weights: np.ndarray, bias: np.ndarray) -> list[int]:
    from assistant.backends.embedding import SentenceTransformerEmbedder

    vectors = SentenceTransformerEmbedder(str(encoder_dir), device="cpu").embed_queries(TEXTS)
    return list((vectors @ weights + bias).argmax(axis=1))


def test_overfits_saves_and_reloads(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_encoder_classifier

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    zeros = np.zeros((32, 2), dtype=np.float32)
    losses: list[float] = []
    result = fine_tune_encoder_classifier(
        str(model), TEXTS, LABELS, init_weights=zeros, init_bias=np.zeros(2, dtype=np.float32),
        work_dir=tmp_path / "run", epochs=40, batch_size=4, learning_rate=1e-3, head_learning_rate=5e-2,
        device="cpu", progress=lambda step, total, loss: losses.append(loss),
    )  # fmt: skip
    assert result.steps == 80 and len(losses) == 80
    assert np.mean(losses[-5:]) < 0.2 < np.mean(losses[:5])
    assert predictions(result.model_dir, result.weights, result.bias) == LABELS
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_encoder_classifier

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    args = dict(init_weights=np.zeros((32, 2), dtype=np.float32), init_bias=np.zeros(2, dtype=np.float32),
                work_dir=tmp_path / "run", epochs=5, batch_size=4, device="cpu", checkpoint_every=2)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        fine_tune_encoder_classifier(str(model), TEXTS, LABELS, stop_after_steps=3, **args)
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and not (tmp_path / "run" / "encoder").exists()
    result = fine_tune_encoder_classifier(str(model), TEXTS, LABELS, **args)
    assert result.resumed_from_step == 3 and result.steps == 10
    assert (result.model_dir / "modules.json").is_file()


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
    folder = train_intent_model(
        shop, SentenceTransformerEmbedder(str(model), device="cpu"), artifacts, embedder_reference=str(model),
        run_id="tuned", epochs=50, fine_tune_encoder=True, quick=True, device="cpu",
    )  # fmt: skip
    import json

    metrics = json.loads((folder / "metrics.json").read_text())
    assert (
        metrics["encoder"] == "fine-tuned"
        and "base_dev_macro_f1" in metrics
        and metrics["fine_tune_steps"] > 0
    )
    assert active_run(artifacts, "intent") == "existing"  # a new run never activates itself over another
    set_active(artifacts, "intent", "tuned")
    assert active_intent_encoder(artifacts) == folder / "encoder"
    assert len(load_active_intent_head(artifacts).labels) > 10
