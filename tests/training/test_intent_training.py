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


def _tiny_head() -> tuple[HashingEmbedder, IntentHead, np.ndarray, np.ndarray]:
    """(embedder, head fitted on TEXTS, their vectors, their label indices)."""
    embedder = HashingEmbedder(128)
    labels = tuple(TEXTS)
    y = np.array([labels.index(k) for k, ts in TEXTS.items() for _ in ts])
    x = embedder.embed_queries([t for ts in TEXTS.values() for t in ts])
    weights, bias = fit_softmax_regression(x, y, len(labels), epochs=300, learning_rate=0.1)
    return embedder, IntentHead(weights, bias, labels), x, y


def test_head_overfits_and_round_trips(tmp_path: Path) -> None:
    _, head, x, y = _tiny_head()
    labels = head.labels
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


def test_a_message_unlike_every_kept_example_is_out_of_scope_even_when_the_head_is_sure(
    tmp_path: Path,
) -> None:
    from assistant.schema import DialogueState
    from assistant.stages.understanding import Understander
    from assistant.training.intent import fit_out_of_scope

    embedder, head, x, y = _tiny_head()
    labels = head.labels
    fit_out_of_scope(head, x, [labels[i] for i in y], x, y)
    assert head.examples is not None and head.examples.shape == (12, 128)
    assert head.similarity_threshold == 0.0  # 2 % of 12 held-out answers: nothing may be set aside
    head.similarity_threshold = 0.5  # as fitted on real held-out messages
    head.save(tmp_path / "run")
    loaded = IntentHead.load(tmp_path / "run")
    assert loaded.similarity_threshold == 0.5 and loaded.examples is not None
    np.testing.assert_allclose(loaded.nearest(x), 1.0, atol=1e-3)  # kept as float16: same neighbours

    far = "quantum chromodynamics lattice gauge theory"
    assert loaded.nearest(embedder.embed_queries([far]))[0] < 0.5
    understander = Understander(embedder, loaded, _NoSlots(), _Calm(), similarity_check=True)
    state = DialogueState(conversation_id="c")
    assert not understander.parse("where is my order", language="en", state=state).is_out_of_scope
    parsed = understander.parse(far, language="en", state=state)
    assert parsed.is_out_of_scope and parsed.intent in labels  # the best guess is still recorded
    unchecked = Understander(embedder, loaded, _NoSlots(), _Calm())  # the setting's default: off
    assert not unchecked.parse(far, language="en", state=state).is_out_of_scope or parsed.confidence < 0.5

    # a head saved before the check existed (no examples.npy) never applies it
    (tmp_path / "run" / "examples.npy").unlink()
    old = IntentHead.load(tmp_path / "run")
    assert old.examples is None and old.similarity_threshold == 0.0 and not old.unlike_examples(x).any()


def test_the_thresholds_together_set_aside_two_percent_of_the_right_answers() -> None:
    from assistant.training.intent import SET_ASIDE_SHARE, similarity_threshold

    rng = np.random.default_rng(0)
    nearest = rng.uniform(0.6, 1.0, 1000)
    right = np.ones(1000, dtype=bool)
    threshold = similarity_threshold(nearest, right)
    assert np.mean(nearest < threshold) == pytest.approx(SET_ASIDE_SHARE, abs=0.002)
    # the probability threshold already set 5 aside: the similarity takes the rest of the budget
    threshold = similarity_threshold(nearest[:995], right[:995], already=5)
    assert np.sum(nearest[:995] < threshold) == int(SET_ASIDE_SHARE * 1000) - 5
    assert similarity_threshold(nearest, right, already=100) == 0.0  # no budget left
    assert similarity_threshold(nearest, np.zeros(1000, dtype=bool)) == 0.0


class _NoSlots:
    def extract(self, text: str, *, expecting_details: bool = False) -> dict[str, str]:
        return {}


class _Calm:
    def score(self, text: str, language: str) -> float:
        return 0.0
