"""The intent head: overfits a tiny problem, calibrates, and round-trips through save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.backends.embedding import HashingEmbedder
from assistant.errors import ModelNotPreparedError
from assistant.stages.intent_head import IntentHead, fit_softmax_regression, fit_temperature, softmax
from assistant.training.intent import active_run, load_active_intent_head, set_active, train_intent_model

TEXTS = {
    "order_status": ["where is my order", "track my parcel", "has my package shipped", "我的订单到哪了"],
    "return_request": ["i want to return shoes", "send back the jacket", "return label please", "我要退货"],
    "greeting": ["hello", "hi there", "good morning", "你好"],
}


def test_head_overfits_and_round_trips(tmp_path: Path) -> None:
    embedder = HashingEmbedder(128)
    texts = [t for ts in TEXTS.values() for t in ts]
    labels = tuple(TEXTS)
    y = np.array([labels.index(k) for k, ts in TEXTS.items() for _ in ts])
    x = embedder.embed_queries(texts)
    weights, bias = fit_softmax_regression(x, y, len(labels), epochs=300, learning_rate=0.1)
    head = IntentHead(weights, bias, labels)
    assert (head.probabilities(x).argmax(axis=1) == y).all()
    head.temperature = fit_temperature(head.logits(x), y)
    head.threshold = 0.4
    head.save(tmp_path / "run")
    loaded = IntentHead.load(tmp_path / "run")
    np.testing.assert_allclose(loaded.probabilities(x), head.probabilities(x), rtol=1e-6)
    assert loaded.labels == labels and loaded.threshold == 0.4


def test_temperature_softens_overconfident_logits() -> None:
    logits = np.array([[10.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 0.0]])
    targets = np.array([0, 1, 1, 0])  # one confident mistake
    assert fit_temperature(logits, targets) > 1.0
    assert softmax(np.array([[0.0, 0.0]])).tolist() == [[0.5, 0.5]]


def test_missing_model_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelNotPreparedError, match="train intent"):
        load_active_intent_head(tmp_path)
    with pytest.raises(ModelNotPreparedError, match="train intent"):
        IntentHead.load(tmp_path / "nothing")


def test_train_on_the_demo_shop_writes_a_versioned_artifact(tmp_path: Path) -> None:
    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    folder = train_intent_model(shop, HashingEmbedder(256), tmp_path, embedder_reference="hashing-256",
                                settings_toml="[x]\n", run_id="r1", epochs=60)  # fmt: skip
    assert {p.name for p in folder.iterdir()} >= {"head.npz", "labels.json", "metrics.json", "manifest.json",
                                                   "settings.toml"}  # fmt: skip
    assert active_run(tmp_path, "intent") == "r1"
    metrics = __import__("json").loads((folder / "metrics.json").read_text())
    assert metrics["dev_accuracy"] > 0.5 and 0 < metrics["threshold"] < 1
    assert "dev_accuracy_zh" in metrics
    set_active(tmp_path, "intent", "missing-run")
    assert active_run(tmp_path, "intent") is None
