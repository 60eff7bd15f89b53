"""The intent head: overfits a tiny problem, calibrates, and round-trips through save/load."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

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


def test_max_examples_caps_the_train_and_dev_turns_over_the_intents(tmp_path: Path) -> None:
    """`train --max-examples N` (a smoke run) caps the intent head's turns as it does the other components'."""
    import json

    from assistant.training.intent import intent_examples

    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    intents = {e.intent for e in intent_examples(shop, "train")}
    cap = 2 * len(intents) + 3  # every intent twice (pairs for the contrastive fine-tuning), then three more
    said: list[str] = []
    folder = train_intent_model(shop, HashingEmbedder(64), tmp_path, embedder_reference="hashing-64",
                                run_id="small", epochs=20, max_examples=cap, progress=said.append)  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train_examples"] == cap and metrics["dev_examples"] <= cap
    # a handful of dev answers: the training turns' out-of-fold answers joined them for the thresholds
    assert 0 < metrics["threshold_answers_cross_fitted"] <= metrics["threshold_answers"]
    before_the_fits = f"scoring the {cap} training examples out of fold"
    assert any(before_the_fits in line for line in said)
    assert json.loads((folder / "labels.json").read_text())["labels"] == sorted(intents)


def test_a_message_far_from_its_intent_is_out_of_scope_even_when_the_head_is_sure(tmp_path: Path) -> None:
    from assistant.schema import DialogueState
    from assistant.stages.understanding import Understander
    from assistant.training.intent import fit_out_of_scope

    embedder, head, x, y = _tiny_head()
    labels = head.labels
    fit_out_of_scope(head, x, [labels[i] for i in y], x, y, cross_fit=False)  # scaled on these answers alone
    assert head.centroids is not None and head.centroids.shape == (len(labels), 128)
    assert head.score_threshold is not None and head.score_scale is not None
    scores = head.in_scope_score(x)
    assert abs(float(scores.mean())) < 0.5  # scaled on these very answers: about 0 on average
    assert np.mean(scores < head.score_threshold) <= 1 / len(x)  # the lowest at most is set aside
    head.save(tmp_path / "run")
    loaded = IntentHead.load(tmp_path / "run")
    assert loaded.score_threshold == head.score_threshold and loaded.score_scale == head.score_scale
    np.testing.assert_allclose(loaded.in_scope_score(x), scores, rtol=1e-5)

    far = "quantum chromodynamics lattice gauge theory"
    assert loaded.in_scope_score(embedder.embed_queries([far]))[0] < loaded.score_threshold
    understander = Understander(embedder, loaded, _NoSlots(), _Calm(), similarity_check=True)
    state = DialogueState(conversation_id="c")
    assert not understander.parse("where is my order", language="en", state=state).is_out_of_scope
    parsed = understander.parse(far, language="en", state=state)
    assert parsed.is_out_of_scope and parsed.intent in labels  # the best guess is still recorded
    unchecked = Understander(embedder, loaded, _NoSlots(), _Calm(), similarity_check=False)
    assert not unchecked.parse(far, language="en", state=state).is_out_of_scope or parsed.confidence < 0.5

    # a head saved before the score existed (no centroids) applies the probability threshold only
    np.savez(tmp_path / "run" / "head.npz", weights=head.weights, bias=head.bias)
    old = IntentHead.load(tmp_path / "run")
    assert old.centroids is None and old.thresholds(True) == (old.threshold, None)
    assert not old.outside(x).any()


def test_too_few_right_held_out_answers_fit_no_score_check() -> None:
    from assistant.training.intent import MIN_SCORED_ANSWERS, fit_out_of_scope

    _, head, x, y = _tiny_head()
    few = slice(0, MIN_SCORED_ANSWERS - 1)
    answers = fit_out_of_scope(head, x, [head.labels[i] for i in y], x[few], y[few], cross_fit=False).answers
    right = int(np.sum(head.logits(x[few]).argmax(axis=1) == y[few]))  # the probability threshold's answers
    assert (
        answers == right and head.score_threshold is None and head.thresholds(True) == (head.threshold, None)
    )


@pytest.mark.parametrize("set_aside", [None, (0.1, 0.05)])
def test_the_score_threshold_sets_aside_its_share_of_the_right_answers(
    set_aside: tuple[float, float] | None,
) -> None:
    from assistant.training.intent import (
        OUT_OF_SCOPE_FIT,
        SCORE_SET_ASIDE_SHARE,
        SET_ASIDE_SHARE,
        fit_out_of_scope,
    )

    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 3
    y = np.repeat(np.arange(4), 500)
    x = centres[y] + rng.normal(0, 0.6, (2000, 16)).astype(np.float32)
    weights, bias = fit_softmax_regression(x[::2], y[::2], 4, epochs=200)
    head = IntentHead(weights, bias, ("a", "b", "c", "d"))
    shares = set_aside or (SET_ASIDE_SHARE, SCORE_SET_ASIDE_SHARE)  # the settings' defaults when not given
    calibration = fit_out_of_scope(head, x[::2], [head.labels[i] for i in y[::2]], x[1::2], y[1::2],
                                   **({"fit": dataclasses.replace(OUT_OF_SCOPE_FIT, probability_share=set_aside[0],
                                                                  score_share=set_aside[1])}
                                      if set_aside else {}))  # fmt: skip
    answers = calibration.answers
    assert calibration.cross_fitted == 0  # 1,000 held-out answers: enough alone
    right = head.logits(x[1::2]).argmax(axis=1) == y[1::2]
    assert head.score_threshold is not None and answers == int(right.sum())  # what the reports cite
    share = float(np.mean(head.in_scope_score(x[1::2])[right] < head.score_threshold))
    assert share == pytest.approx(shares[1], abs=0.003)
    unsure = float(np.mean(head.probabilities(x[1::2]).max(axis=1)[right] < head.threshold))
    assert unsure == pytest.approx(shares[0], abs=0.003) or head.threshold == 0.5  # capped at 0.5
    assert head.outside(np.full((1, 16), 3.0, dtype=np.float32))[0]  # between every intent: out of scope


class _NoSlots:
    def extract(self, text: str, *, expecting_details: bool = False) -> dict[str, str]:
        return {}


class _Calm:
    def score(self, text: str, language: str) -> float:
        return 0.0


def test_out_of_fold_answers_come_from_heads_that_never_saw_them() -> None:
    from assistant.training.intent import out_of_fold

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (60, 64)).astype(np.float32)  # noise: nothing to learn but each point itself
    names = [("a", "b", "c")[i % 3] for i in range(60)]
    labels = ("a", "b", "c")
    y = np.array([labels.index(n) for n in names])
    weights, bias = fit_softmax_regression(x, y, 3, epochs=300)
    assert (IntentHead(weights, bias, labels).logits(x).argmax(axis=1) == y).mean() > 0.95  # memorised
    logits, similarity = out_of_fold(x, names, labels, epochs=300)
    assert logits.shape == (60, 3) and similarity.shape == (60,)
    assert (logits.argmax(axis=1) == y).mean() < 0.6  # out of fold: about chance, so nothing leaked
    assert np.all(np.abs(similarity) < 0.9)  # no point is compared with a centroid that holds it


def test_few_dev_answers_are_joined_by_the_training_examples_out_of_fold() -> None:
    from assistant.training.intent import FEW_THRESHOLD_ANSWERS, MIN_SCORED_ANSWERS, fit_out_of_scope

    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 3
    y = np.repeat(np.arange(4), 60)
    x = centres[y] + rng.normal(0, 0.8, (240, 16)).astype(np.float32)
    names = [("a", "b", "c", "d")[i] for i in y[:200]]
    weights, bias = fit_softmax_regression(x[:200], y[:200], 4, epochs=200)
    dev = slice(200, 200 + MIN_SCORED_ANSWERS - 2)  # a label sheet's few dev turns
    head = IntentHead(weights, bias, ("a", "b", "c", "d"))
    alone = fit_out_of_scope(head, x[:200], names, x[dev], y[dev], cross_fit=False)
    assert alone.cross_fitted == 0 and head.score_threshold is None  # too few to fit the score on
    joined = fit_out_of_scope(head, x[:200], names, x[dev], y[dev])
    assert 150 < joined.cross_fitted < 200 and joined.answers == joined.cross_fitted + alone.answers
    assert head.score_threshold is not None and 0 < head.threshold <= 0.5
    assert joined.answers < FEW_THRESHOLD_ANSWERS  # still few: the reports say so
    # far from every intent: out of scope by the score fitted on the joined answers
    assert head.outside(np.full((1, 16), -3.0, dtype=np.float32))[0]
    assert not head.outside(centres[:1])[0]


def test_less_sure_fold_heads_do_not_pull_the_score_threshold_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fold heads fitted on four fifths of the examples are less sure than the final head (on CLINC150 their
    correct answers' in-scope scores sit 0.3-0.5 of a spread lower); pooled as they are, the quantile would set
    aside fewer of the final head's answers than its share. With enough dev answers they are moved to dev's mean
    first; with few, as they are."""
    import assistant.training.intent as intent
    from assistant.training.intent import MIN_SHIFT_ANSWERS, SCORE_SET_ASIDE_SHARE, fit_out_of_scope

    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 3
    y = np.tile(np.arange(4), 600)
    x = centres[y] + rng.normal(0, 0.8, (len(y), 16)).astype(np.float32)
    train, dev, fresh = slice(0, 400), slice(400, 480), slice(480, None)  # 80 dev turns: joined, and shifted
    names = [("a", "b", "c", "d")[i] for i in y[train]]
    weights, bias = fit_softmax_regression(x[train], y[train], 4, epochs=200)
    real_out_of_fold = intent.out_of_fold

    def less_sure(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        logits, similarity = real_out_of_fold(*args, **kwargs)
        return logits - 4.0, similarity

    monkeypatch.setattr(intent, "out_of_fold", less_sure)

    def set_aside(dev_turns: slice) -> tuple[float, int, int]:
        head = IntentHead(weights, bias, ("a", "b", "c", "d"))
        calibration = fit_out_of_scope(head, x[train], names, x[dev_turns], y[dev_turns], epochs=200)
        right = head.logits(x[fresh]).argmax(axis=1) == y[fresh]
        share = float(np.mean(head.in_scope_score(x[fresh])[right] < head.score_threshold))
        return share, calibration.cross_fitted, calibration.answers - calibration.cross_fitted

    share, cross_fitted, dev_answers = set_aside(dev)
    assert cross_fitted > 300 and MIN_SHIFT_ANSWERS <= dev_answers < intent.FEW_THRESHOLD_ANSWERS
    # the final head's answers: about its share set aside
    assert share == pytest.approx(SCORE_SET_ASIDE_SHARE, abs=0.01)
    few, cross_fitted, dev_answers = set_aside(slice(400, 400 + MIN_SHIFT_ANSWERS - 10))
    assert cross_fitted > 300 and dev_answers < MIN_SHIFT_ANSWERS
    # not moved: the sure final head's answers all lie above the fold heads'
    assert few < SCORE_SET_ASIDE_SHARE / 3


def _with_out_of_scope(
    rng: np.random.Generator, in_scope: int, outside: int
) -> tuple[np.ndarray, np.ndarray]:
    """Four intents and out-of-scope messages half-way to them (the head alone calls about half of those so)."""
    centres = np.eye(4, 16, dtype=np.float32) * 3
    y = np.concatenate([np.tile(np.arange(4), in_scope // 4), np.full(outside, 4)])
    x = np.concatenate([centres[y[:in_scope]] + rng.normal(0, 0.8, (in_scope, 16)),
                        centres[rng.integers(0, 4, outside)] * 0.55 + rng.normal(0, 0.8, (outside, 16))])  # fmt: skip
    return x.astype(np.float32), y


def test_labelled_out_of_scope_messages_set_the_score_threshold_for_a_recall() -> None:
    """With 50 labelled out-of-scope messages held out (10 dev ones and 80 training ones scored out of fold),
    the score threshold catches the goal's share of fresh ones, within the range of correct answers it may set
    aside; with fewer such messages, no goal, or no cross-fitting, the share decides."""
    from assistant.settings import OutOfScopeFit
    from assistant.training.intent import MIN_LABELLED_OUT_OF_SCOPE, SCORE_SET_ASIDE_SHARE, fit_out_of_scope

    rng = np.random.default_rng(0)
    names = ("a", "b", "c", "d", "out_of_scope")
    x_train, y_train = _with_out_of_scope(rng, 400, 80)
    x_dev, y_dev = _with_out_of_scope(rng, 200, 10)
    x_fresh, y_fresh = _with_out_of_scope(rng, 800, 1000)
    weights, bias = fit_softmax_regression(x_train, y_train, 5, epochs=200)
    outside = y_fresh == 4

    def fitted(goal: float, least: float = 0.0, most: float = 0.5, keep: int = 80,
               cross_fit: bool = True) -> tuple[Any, float, float]:  # fmt: skip
        head = IntentHead(weights, bias, names)
        kept = np.flatnonzero((y_train != 4) | (np.cumsum(y_train == 4) <= keep))
        calibration = fit_out_of_scope(head, x_train[kept], [names[i] for i in y_train[kept]], x_dev, y_dev,
                                       epochs=200, fit=OutOfScopeFit(0.02, SCORE_SET_ASIDE_SHARE, goal, least, most),
                                       cross_fit=cross_fit)  # fmt: skip
        predicted = head.logits(x_fresh).argmax(axis=1)
        under = head.in_scope_score(x_fresh) < head.score_threshold
        set_aside = float(np.mean(under[(predicted == y_fresh) & ~outside]))
        return calibration, float(np.mean(((predicted == 4) | under)[outside])), set_aside

    head_alone = float(np.mean(IntentHead(weights, bias, names).logits(x_fresh).argmax(axis=1)[outside] == 4))
    assert 0.4 < head_alone < 0.65
    for goal in (0.6, 0.7, 0.8):
        calibration, caught, _ = fitted(goal)
        assert calibration.out_of_scope_messages == 90 and calibration.out_of_scope_cross_fitted == 80
        assert (
            calibration.out_of_scope_caught == pytest.approx(goal, abs=0.012) and not calibration.recall_bound
        )
        assert caught == pytest.approx(goal, abs=0.05)  # on fresh out-of-scope messages
    calibration, caught, set_aside = fitted(
        0.8, most=0.05
    )  # the goal would set aside a seventh of the answers
    assert calibration.recall_bound == "max" and set_aside < 0.07 and head_alone < caught < 0.75
    # the head alone catches more than 0.3: any threshold would do, and the least share keeps some check
    calibration, caught, set_aside = fitted(0.3, least=0.03)
    assert calibration.recall_bound == "min" and 0.015 < set_aside < 0.05 and caught > head_alone
    assert fitted(0.3)[2] < 0.005  # with no least share, nothing more is set aside
    share, _, share_aside = fitted(0.0)
    assert share.out_of_scope_messages == 0 and share_aside == pytest.approx(SCORE_SET_ASIDE_SHARE, abs=0.01)
    few_kept = MIN_LABELLED_OUT_OF_SCOPE - 11  # 10 dev + 39 training: the share decides
    few, few_caught, _ = fitted(0.8, keep=few_kept)
    assert few.out_of_scope_messages == 0 and few_caught == fitted(0.0, keep=few_kept)[1]
    alone, alone_caught, _ = fitted(0.8, cross_fit=False)  # an encoder tuned on train: dev's 10 alone
    assert alone.out_of_scope_messages == 0 and alone_caught == fitted(0.0, cross_fit=False)[1]


def test_capped_examples_take_intents_in_pairs_in_turn() -> None:
    from collections import Counter

    from assistant.training.intent import Example, capped_examples

    examples = [Example(f"{intent} {i}", intent, "en", "c") for intent in "abc" for i in range(5)]
    taken = capped_examples(examples, 7)
    assert Counter(e.intent for e in taken) == {"a": 3, "b": 2, "c": 2}
    assert capped_examples(examples, 7) == taken and len(capped_examples(examples, 100)) == 15


def test_a_second_run_takes_the_turns_embeddings_from_the_cache(tmp_path: Path) -> None:
    """With a cache folder (`train intent` passes the shop's), a retrained head embeds only new turns and
    fits the same model."""
    import json

    class Counting(HashingEmbedder):
        texts = 0

        def embed_queries(self, texts):
            Counting.texts += len(texts)
            return super().embed_queries(texts)

    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    options = dict(embedder_reference="hashing-64", epochs=20, max_examples=80, cache_dir=tmp_path / "cache")
    first = train_intent_model(shop, Counting(64), tmp_path / "a", run_id="r1", **options)
    embedded = Counting.texts
    second = train_intent_model(shop, Counting(64), tmp_path / "b", run_id="r2", **options)
    assert embedded > 0 and Counting.texts == embedded  # nothing embedded the second time
    assert json.loads((first / "metrics.json").read_text()) == json.loads(
        (second / "metrics.json").read_text()
    )
    np.testing.assert_array_equal(IntentHead.load(first).weights, IntentHead.load(second).weights)


def test_a_shops_own_labels_and_dev_labels_unseen_in_training_are_reported(tmp_path: Path) -> None:
    """Labels the policy does not act on are named (they train fine but answer only from knowledge), and dev
    turns whose intent no training turn has are counted, not silently dropped."""
    import json

    own = {"track_order" if k == "order_status" else k: ts for k, ts in TEXTS.items()}
    conversations, splits = [], {"train": [], "dev": []}
    for split in ("train", "dev"):
        for intent, texts in own.items():
            for number, text in enumerate(texts):
                cid = f"{split}-{intent}-{number}"
                conversations.append({"id": cid, "language": "en", "turns": [
                    {"role": "customer", "text": text, "intent": intent}, {"role": "agent", "text": "ok"}]})  # fmt: skip
                splits[split].append(cid)
    conversations.append({"id": "dev-new", "language": "en", "turns": [
        {"role": "customer", "text": "do you sell gift cards", "intent": "gift_cards"}]})  # fmt: skip
    splits["dev"].append("dev-new")
    (tmp_path / "shop" / "logs").mkdir(parents=True)
    (tmp_path / "shop" / "splits").mkdir()
    (tmp_path / "shop" / "logs" / "conversations.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in conversations)
    )
    for split, ids in splits.items():
        (tmp_path / "shop" / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    lines: list[str] = []
    folder = train_intent_model(tmp_path / "shop", HashingEmbedder(64), tmp_path / "artifacts",
                                embedder_reference="hashing-64", run_id="own", epochs=50, progress=lines.append)  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["labels_outside_engine"] == {"track_order": 4}
    assert metrics["dev_examples_unseen_intent"] == 1 and metrics["dev_examples"] == 12
    assert any(
        line.startswith("warning: 1 intent label is not") and "track_order (4)" in line for line in lines
    )
    assert any("1 dev turns have intents no training turn has" in line for line in lines)


def test_a_head_fit_beside_the_english_embedder_is_served_beside_it(tmp_path: Path) -> None:
    """A run records what read its turns; the assistant reads messages the same way, whatever the setting
    says now (a head over 96 features cannot take 64), and a head fit on the multilingual embedder alone
    keeps it alone."""
    import json

    from assistant.backends.embedding import JoinedEmbedder
    from assistant.factory import build_intent_model
    from assistant.settings import load_settings

    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    base = HashingEmbedder(64)
    options: dict[str, Any] = dict(embedder_reference="hashing-64", epochs=30, max_examples=80)
    joined = JoinedEmbedder((base, HashingEmbedder(32)))
    folder = train_intent_model(shop, joined, tmp_path, run_id="r1", **options)
    head = IntentHead.load(folder)
    assert head.features == ("embedder", "english_embedder") and head.weights.shape[0] == 96
    assert json.loads((folder / "metrics.json").read_text())["features"] == "embedder + english_embedder"
    settings = load_settings(environ={}, overrides=[f"paths.artifacts_dir={tmp_path}",
                                                    "models.intent_english_features=off"])  # fmt: skip
    embedder, served = build_intent_model(settings, base, languages=("en",))
    assert isinstance(embedder, JoinedEmbedder) and embedder.parts[0] is base
    assert "minilm" in str(embedder.parts[1].model_reference).lower()  # the prepared English embedder
    assert served.features == head.features
    train_intent_model(shop, base, tmp_path, run_id="r2", **options)
    set_active(tmp_path, "intent", "r2")
    embedder, served = build_intent_model(settings, base, languages=("en",))
    assert embedder is base and served.features == ("embedder",) and served.weights.shape[0] == 64


def test_the_english_embedder_joins_for_a_shop_that_speaks_english_only() -> None:
    from assistant.factory import intent_english_features
    from assistant.settings import load_settings

    auto = load_settings(environ={})
    assert intent_english_features(auto, ("en",))
    assert not intent_english_features(auto, ("en", "zh")) and not intent_english_features(auto, ("zh",))
    on = load_settings(environ={}, overrides=["models.intent_english_features=on"])
    off = load_settings(environ={}, overrides=["models.intent_english_features=off"])
    assert intent_english_features(on, ("en", "zh")) and not intent_english_features(off, ("en",))


def test_intent_names_are_written_as_words_and_codes_are_left_out() -> None:
    from assistant.training.intent import name_examples

    labels = ["card_arrival", "OrderStatus", "退货-申请", "what-is.your_name", "17", "A17", "out_of_scope"]
    assert name_examples(labels) == [("card arrival", "card_arrival"), ("order status", "OrderStatus"),
                                     ("退货 申请", "退货-申请"), ("what is your name", "what-is.your_name")]  # fmt: skip


def test_the_intents_names_join_every_fold_head_and_are_never_scored() -> None:
    from assistant.training.intent import out_of_fold

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (60, 64)).astype(np.float32)  # noise: out of fold, about chance
    names = [("a", "b", "c")[i % 3] for i in range(60)]
    y = np.array([("a", "b", "c").index(n) for n in names])
    # given as always-fitted rows, the examples themselves: every fold head has now seen every example
    logits, similarity = out_of_fold(x, names, ("a", "b", "c"), epochs=300, x_always=x, always_labels=names)
    assert logits.shape == (60, 3) and similarity.shape == (60,)  # the always-fitted rows are not scored
    assert (logits.argmax(axis=1) == y).mean() > 0.95


def test_train_intent_fits_the_intents_names_beside_the_turns_unless_told_not_to(tmp_path: Path) -> None:
    import json

    from assistant.training.intent import intent_examples

    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    intents = sorted({e.intent for e in intent_examples(shop, "train")} - {"out_of_scope"})  # it has no name
    options: dict[str, Any] = {"embedder_reference": "hashing-64", "epochs": 40}
    options["max_examples"] = 2 * len(intents) + 2
    said: list[str] = []
    named = train_intent_model(shop, HashingEmbedder(64), tmp_path / "a", run_id="named", progress=said.append,
                               **options)  # fmt: skip
    plain = train_intent_model(shop, HashingEmbedder(64), tmp_path / "b", run_id="plain",
                               names_as_examples=False, **options)  # fmt: skip
    assert json.loads((named / "metrics.json").read_text())["intent_name_examples"] == len(intents)
    assert json.loads((plain / "metrics.json").read_text())["intent_name_examples"] == 0
    assert any(f"and {len(intents)} intent names" in line for line in said)
    head, without = IntentHead.load(named), IntentHead.load(plain)
    assert head.labels == without.labels and set(intents) <= set(head.labels)
    words = HashingEmbedder(64).embed_queries([name.replace("_", " ") for name in intents])
    own = np.array([head.labels.index(name) for name in intents])
    # each intent's own name is its answer; fitted without the names, the head misses some
    assert (head.logits(words).argmax(axis=1) == own).all()
    assert (without.logits(words).argmax(axis=1) != own).any()


def test_the_fine_tune_estimate_counts_training_the_dev_evaluations_and_the_embedding_after() -> None:
    """Three forward passes per example and epoch, the examples and watched dev turns at each of the trainer's
    evaluations, then the texts the tuned encoder (beside the English embedder: its own speed) embeds."""
    from assistant.backends.trainer_support import EVALUATIONS_PER_RUN
    from assistant.training.intent import fine_tune_estimate, spoken_seconds

    alone = fine_tune_estimate(100.0, examples=200, epochs=4, watched=50, embedded=1000)
    assert alone == pytest.approx((200 * 4 * 3 + EVALUATIONS_PER_RUN * 250 + 1000) / 100)
    joined = fine_tune_estimate(
        100.0, examples=200, epochs=4, watched=50, embedded=1000, embedded_per_second=50
    )
    assert joined == pytest.approx(alone + 1000 / 100)  # the embedding after runs at half the speed
    assert fine_tune_estimate(0.0, examples=1, epochs=1, watched=0, embedded=0) > 0  # no division by zero
    assert spoken_seconds(75) == "75 s" and spoken_seconds(600) == "10 min"
    from assistant.training.intent import distinct

    assert distinct(["where is my order", "where is my order", "refund"]) == 2  # embedded once each
