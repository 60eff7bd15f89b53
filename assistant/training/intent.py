"""Train the intent model: a calibrated softmax head over the multilingual embedder, and with
`fine_tune_encoder` the encoder first fine-tuned contrastively on the labelled turns (few-shot, on
sentence-transformers' trainer: `backends.encoder_training.fine_tune_encoder_few_shot`; saved in the
run's `encoder/`), then the head fitted on its embeddings.

Examples are the labelled customer turns of the training split; the dev split calibrates the
temperature, sets the out-of-scope threshold (joined by the training turns' out-of-fold answers when dev
has few: `fit_out_of_scope`) and gives the metrics written beside the model
(a fine-tuned run also records the frozen starting point's dev metrics, `base_dev_*`).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.embedding import Embedder, JoinedEmbedder, first_part, with_first
from assistant.backends.embedding_cache import embed_texts
from assistant.backends.trainer_support import EVALUATIONS_PER_RUN
from assistant.data.labels import describe_outside, outside_engine
from assistant.errors import DataError, ModelNotPreparedError
from assistant.evaluation.metrics import accuracy, macro_f1
from assistant.settings import AssistantSettings, OutOfScopeFit
from assistant.stages.intent_head import (
    IntentHead,
    fit_softmax_regression,
    fit_temperature,
    softmax,
    unit_rows,
)
from assistant.training.logs import conversations_in_split, data_hashes
from assistant.training.registry import active_run, set_active, step_reporter, write_run
from assistant.training.registry import training_figures as run_figures

logger = logging.getLogger(__name__)
COMPONENT = "intent"
DEFAULT_PREFIX = "default-"  # runs of the engine's default model (training/default_intent.py)
OUT_OF_SCOPE = "out_of_scope"
# The default shares of the correct held-out answers set aside by the probability threshold alone (the settings'
# `assistant.out_of_scope_set_aside`) and by the in-scope score when the check is on (`in_scope_score_set_aside`).
# The second is lower because the score reaches further: on CLINC150 the correct answers of a test part written
# apart from the training data fall under the fitted score threshold more often than the held-out part's
# (bench/intents_oos.py prints the trade at several shares).
# the settings' defaults, as `fit_out_of_scope` takes them
OUT_OF_SCOPE_FIT = AssistantSettings().out_of_scope_fit
SET_ASIDE_SHARE = OUT_OF_SCOPE_FIT.probability_share
SCORE_SET_ASIDE_SHARE = OUT_OF_SCOPE_FIT.score_share
PROBABILITY_CAP = 0.5  # the highest probability threshold any share fits (`out_of_scope_threshold`)
MIN_SCORED_ANSWERS = 10  # correct held-out answers needed to scale the in-scope score (fewer: no check)
# Under this many correct held-out answers, a threshold read as a 1.5-2 % quantile rests on their two or three
# lowest: on CLINC150 at 5 examples per intent (124-134 dev answers) three samples put the fitted score threshold
# 0.2 to 2.2 points of in-scope accuracy below the best, with OOS recall 0.45 to 0.81. So under it the training
# examples' out-of-fold answers join dev's (`fit_out_of_scope`): 0.5 to 1.5 points, recall 0.64 to 0.75, erring
# low because the fold heads see four fifths of the examples; moved to dev's mean first, 1.2 to 2.1 points, recall
# 0.72 to 0.80 (bench/intents_oos.py --test-on-val --per-label 5 --seed 0/1/2 [--validation-alone]). Reports say
# so beside the threshold when the answers are still few.
FEW_THRESHOLD_ANSWERS = 300
# With at least this many correct in-scope dev answers, the out-of-fold answers are moved to their mean before the
# quantile is read (`fit_out_of_scope`); fewer, and their mean is too unsure to move anything by (the shift is
# 0.3-0.5 of a typical answer's spread on CLINC150; the mean of 50 answers is within 0.26 of it).
MIN_SHIFT_ANSWERS = 50
# With at least this many labelled out-of-scope messages held out (dev's, and the training ones scored out of fold),
# the score threshold is read from them for `assistant.out_of_scope_recall` (`fit_out_of_scope`): a recall read
# from 50 is within about ±0.06 of a fresh test's. On CLINC150 at full data (15 dev + 85 training out-of-scope
# messages) a goal of 0.80 gave 0.74-0.79 on its validation file's 100 at 0.7-0.9 points below the best in-scope
# accuracy, 0.85 gave 0.85-0.88 at 1.8-2.1 below, where the 1.5 % share gave 0.87-0.90 at 1.9-2.6 below (three
# samples; bench/intents_oos.py).
MIN_LABELLED_OUT_OF_SCOPE = 50
CROSS_FIT_FOLDS = 5  # folds that score the training examples when dev has few answers (ten did no better)
QUICK_FINE_TUNE = 1200  # training turns the encoder is fine-tuned on with `quick` (one epoch)
DEV_WATCHED = 400  # dev examples scored during encoder fine-tuning (picks the checkpoint kept)
# Texts timed for the speed the turns are embedded at after a fine-tune (`fine_tune_estimate`), as `embed_texts`
# sends them: multilingual-e5-small on 2 cores embeds 76-95 texts/s in one batch of 32 (the trainer's) and
# 123-133 in one of 128.
PROBE_TEXTS = 128


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str
    conversation_id: str


def out_of_scope_threshold(
    probabilities: np.ndarray, gold: np.ndarray, share: float = SET_ASIDE_SHARE
) -> float:
    """Below it lie the `share` least confident of the correct held-out answers, capped at `PROBABILITY_CAP`
    (under it the best guess is less likely than not), so unusual but clear messages are not all "unsure"."""
    correct = probabilities.max(axis=1)[probabilities.argmax(axis=1) == gold]
    return min(PROBABILITY_CAP, float(np.quantile(correct, share))) if len(correct) else 0.0


def label_centroids(vectors: np.ndarray, labels: list[str], known: tuple[str, ...]) -> np.ndarray:
    """(len(known), dim) unit mean of each label's unit training vectors (zeros for a label without any)."""
    unit = unit_rows(vectors)
    names = np.array(labels)
    rows = [unit[names == label].mean(axis=0) if np.any(names == label) else np.zeros(unit.shape[1])
            for label in known]  # fmt: skip
    return unit_rows(np.stack(rows)) if rows else np.zeros((0, unit.shape[1]), dtype=np.float32)


@dataclass(frozen=True)
class Calibration:
    """What the temperature and out-of-scope thresholds were read from."""

    answers: int  # correct held-out answers in all
    cross_fitted: int = 0  # of them, training examples scored out of fold (0: dev alone)
    # the in-scope scores of the correct in-scope answers the score threshold is a quantile of (empty: not fitted)
    scores: tuple[float, ...] = field(default=(), repr=False)
    # the calibrated top probabilities of the correct answers the probability threshold is a quantile of
    confidences: tuple[float, ...] = field(default=(), repr=False)
    # labelled out-of-scope messages the score threshold was read from for the recall goal (0: the share decided),
    # of them training examples scored out of fold, the share of them it catches, and which end of the range of
    # answers it may set aside bound it ("max": held back from the goal; "min": looser would still reach it)
    out_of_scope_messages: int = 0
    out_of_scope_cross_fitted: int = 0
    out_of_scope_caught: float | None = None
    recall_bound: str = ""

    def figures(self) -> dict[str, object]:
        """What `train intent` and `eval intents` record of it, by the names `metrics.json` uses."""
        return {
            "threshold_answers": self.answers,  # correct held-out answers the thresholds came from
            "threshold_answers_cross_fitted": self.cross_fitted,  # of them, train examples out of fold
            "score_threshold_out_of_scope_messages": self.out_of_scope_messages,  # 0: the share decided
            "score_threshold_out_of_scope_cross_fitted": self.out_of_scope_cross_fitted,
            "held_out_oos_caught": self.out_of_scope_caught,
            # "max": held back from the goal; "min": a looser threshold would reach it
            "score_threshold_bound": self.recall_bound or None,
        }


def name_examples(labels: Sequence[str]) -> list[tuple[str, str]]:
    """(the intent's name in words, the intent) for each intent whose name has a word: `card_arrival` -> "card
    arrival", `OrderStatus` -> "order status", `退货-申请` -> "退货 申请". Fitted beside the labelled turns
    (`models.intent_names_as_examples`), the name tells the head and the intent's centroid what the intent is
    about where five customers' ways of saying it leave that open. Out of scope names no request and has none;
    nor has a code without two letters together (`17`, `A17`)."""
    out = []
    for label in labels:
        words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label)  # OrderStatus -> Order Status
        words = " ".join(re.sub(r"[\W_]+", " ", words).split()).lower()
        if label != OUT_OF_SCOPE and re.search(r"[^\W\d_]{2}", words):
            out.append((words, label))
    return out


def embed_names(
    named: Sequence[tuple[str, str]], embed: Callable[[list[str]], np.ndarray], dim: int
) -> np.ndarray:
    """The vectors of the intents' names (`name_examples`) by `embed`; an empty (0, `dim`) table without any."""
    return embed([t for t, _ in named]) if named else np.zeros((0, dim), dtype=np.float32)


def fit_intent_head(x_train: np.ndarray, y_train: np.ndarray, labels: tuple[str, ...], *,
                    x_named: np.ndarray | None = None, named: Sequence[tuple[str, str]] = (), epochs: int = 800,
                    l2: float = 1e-5, features: tuple[str, ...] = ("embedder",)) -> IntentHead:  # fmt: skip
    """The softmax head over the training examples' vectors (`y_train`: their indices in `labels`) and the
    intents' names beside them (`x_named`, `named`: `name_examples`), as `train intent` fits it."""
    if x_named is not None and len(named):
        y_named = np.array([labels.index(label) for _, label in named], dtype=int)
        x_train, y_train = np.concatenate([x_train, x_named]), np.concatenate([y_train, y_named])
    weights, bias = fit_softmax_regression(x_train, y_train, len(labels), epochs=epochs, l2=l2)
    return IntentHead(weights, bias, labels, features=features)


def out_of_fold(
    x_train: np.ndarray, train_labels: list[str], labels: tuple[str, ...], *, epochs: int = 800,
    folds: int = CROSS_FIT_FOLDS, x_always: np.ndarray | None = None, always_labels: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(logits, similarity to the best intent's centroid) of every training example, each from a head and
    centroids fitted on the other folds (folds stratified by label: one intent's examples spread over them).
    `x_always` (`always_labels`: the intents' names, `name_examples`) join every fold's fit and are not scored."""
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in train_labels])
    x_always = x_always if x_always is not None and len(always_labels) else np.zeros((0, x_train.shape[1]))
    y_always = np.array([index[label] for label in always_labels], dtype=int)
    fold = np.zeros(len(y), dtype=int)
    rng, offset = np.random.default_rng(0), 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    logits = np.zeros((len(y), len(labels)), dtype=np.float64)
    similarity = np.zeros(len(y), dtype=np.float64)
    for k in range(folds):
        fitted, held = fold != k, fold == k
        if not held.any() or not fitted.any():
            continue
        x_fitted = np.concatenate([x_train[fitted], x_always])
        y_fitted = np.concatenate([y[fitted], y_always])
        weights, bias = fit_softmax_regression(x_fitted, y_fitted, len(labels), epochs=epochs)
        logits[held] = IntentHead(weights, bias, labels).logits(x_train[held])
        centroids = label_centroids(x_fitted, [labels[i] for i in y_fitted], labels)
        similarity[held] = np.sum(unit_rows(x_train[held]) * centroids[logits[held].argmax(axis=1)], axis=1)
    return logits, similarity


def fit_out_of_scope(head: IntentHead, x_train: np.ndarray, train_labels: list[str], x_dev: np.ndarray,
                     y_dev: np.ndarray, *, cross_fit: bool = True, epochs: int = 800,
                     fit: OutOfScopeFit = OUT_OF_SCOPE_FIT, x_named: np.ndarray | None = None,
                     named_labels: Sequence[str] = (),
                     progress: Callable[[str], None] = lambda _: None) -> Calibration:  # fmt: skip
    """Temperature and out-of-scope thresholds of `head`, fitted on held-out answers (`x_dev`, `y_dev` label
    indices): the probability threshold (`fit.probability_share` of the correct held-out answers under it), and
    the in-scope score's centroids, scale and threshold (`fit.score_share`) for when the assistant's check is on.

    With fewer than `FEW_THRESHOLD_ANSWERS` correct dev answers (a shop that labelled one sheet has a handful)
    and `cross_fit`, the training examples join them, each scored by a head fitted without its fold
    (`out_of_fold`): every answer still comes from a head that never saw it, and a 1.5 % quantile no longer
    rests on two or three dev turns. Leave `cross_fit` off when the embeddings come from an encoder fine-tuned
    on the training examples (their out-of-fold answers would be too sure). With fewer than
    `MIN_SCORED_ANSWERS` correct in-scope answers the score is not fitted. With at least `MIN_SHIFT_ANSWERS`
    correct dev answers, the out-of-fold answers' scores are moved to dev's mean before the score threshold is
    read (the fold heads are less sure than the final head).

    With at least `MIN_LABELLED_OUT_OF_SCOPE` labelled out-of-scope messages held out (dev's, joined by the
    training ones scored out of fold when dev has fewer and `cross_fit`), the score threshold is instead the
    loosest that catches `fit.recall` of them (0: never), set aside by the head or under it, kept between the
    scores under which lie `fit.score_share_min` and `fit.score_share_max` of the correct answers.

    `x_named` (`named_labels`): the intents' names the head was fitted on beside the training examples
    (`name_examples`); they join the centroids and every fold head, and are never scored as answers."""
    dev_logits = logits = head.logits(x_dev)
    gold = np.asarray(y_dev)
    if x_named is not None and len(named_labels):
        x_all, labels_all = np.concatenate([x_train, x_named]), [*train_labels, *named_labels]
    else:
        x_all, labels_all = x_train, list(train_labels)
    centroids = label_centroids(x_all, labels_all, head.labels) if len(x_all) else None
    dev_similarity = similarity = (
        np.sum(unit_rows(x_dev) * centroids[logits.argmax(axis=1)], axis=1) if centroids is not None
        else np.zeros(len(gold)))  # fmt: skip
    cross_fitted = 0
    folds: tuple[np.ndarray, np.ndarray] | None = None
    foldable = cross_fit and len(set(train_labels)) > 1 and len(x_train) >= 2 * CROSS_FIT_FOLDS
    if foldable and int(np.sum(logits.argmax(axis=1) == gold)) < FEW_THRESHOLD_ANSWERS:
        progress(f"dev has fewer than {FEW_THRESHOLD_ANSWERS} correct answers: scoring the {len(x_train)} training "
                 f"examples out of fold ({CROSS_FIT_FOLDS} more heads) to read the thresholds from more")  # fmt: skip
        folds = out_of_fold(
            x_train, train_labels, head.labels, epochs=epochs, x_always=x_named, always_labels=named_labels
        )
        index = {label: i for i, label in enumerate(head.labels)}
        y_train = np.array([index[label] for label in train_labels])
        cross_fitted = int(np.sum(folds[0].argmax(axis=1) == y_train))
        logits = np.concatenate([folds[0], logits])
        similarity = np.concatenate([folds[1], similarity])
        gold = np.concatenate([y_train, gold])
    head.temperature = fit_temperature(logits, gold)
    probabilities = softmax(logits / head.temperature)
    head.threshold = out_of_scope_threshold(probabilities, gold, fit.probability_share)
    head.centroids, head.score_scale, head.score_threshold = None, None, None
    best = logits.argmax(axis=1)
    right = (best == gold) & np.array([head.labels[i] != OUT_OF_SCOPE for i in best], dtype=bool)
    confidences = tuple(float(v) for v in probabilities.max(axis=1)[best == gold])
    calibration = Calibration(int(np.sum(best == gold)), cross_fitted, confidences=confidences)
    if int(right.sum()) < MIN_SCORED_ANSWERS or centroids is None:
        return calibration
    top, near = logits.max(axis=1)[right], similarity[right]
    head.centroids = centroids
    head.score_scale = (float(top.mean()), max(float(top.std()), 1e-6),
                        float(near.mean()), max(float(near.std()), 1e-6))  # fmt: skip
    scale = head.score_scale  # the in-scope score (`IntentHead.in_scope_score`) of these answers
    scores = (top - scale[0]) / scale[1] + (near - scale[2]) / scale[3]
    folded = np.arange(len(gold))[right] < len(gold) - len(y_dev)  # the out-of-fold training answers
    shift = 0.0
    if folded.any() and int(np.sum(~folded)) >= MIN_SHIFT_ANSWERS:
        # fold heads see four fifths of the examples and are less sure than the final head: their answers sit
        # lower, and a quantile of them sets aside fewer of the final head's answers than its share. Moved to
        # the mean of dev's answers (the final head's, held out), they give the quantile its tail's shape.
        shift = float(scores[~folded].mean() - scores[folded].mean())
        scores = np.where(folded, scores + shift, scores)
    head.score_threshold = float(np.quantile(scores, fit.score_share))
    calibration = replace(calibration, scores=tuple(float(v) for v in scores))
    if fit.recall <= 0 or OUT_OF_SCOPE not in head.labels:
        return calibration
    outside = head.labels.index(OUT_OF_SCOPE)
    held = np.asarray(y_dev) == outside
    labelled = [i for i, label in enumerate(train_labels) if label == OUT_OF_SCOPE]
    if int(held.sum()) + (len(labelled) if foldable else 0) < MIN_LABELLED_OUT_OF_SCOPE:
        return calibration
    top, near = dev_logits[held].max(axis=1), dev_similarity[held]
    caught = dev_logits[held].argmax(axis=1) == outside  # the head itself calls them out of scope
    moved = np.zeros(int(held.sum()))
    if int(held.sum()) < MIN_LABELLED_OUT_OF_SCOPE:
        if folds is None:
            progress(f"scoring the {len(labelled)} labelled out-of-scope training examples out of fold "
                     f"({CROSS_FIT_FOLDS} more heads) to read the in-scope score threshold from them")  # fmt: skip
            folds = out_of_fold(
                x_train,
                train_labels,
                head.labels,
                epochs=epochs,
                x_always=x_named,
                always_labels=named_labels,
            )
        top = np.concatenate([folds[0][labelled].max(axis=1), top])
        near = np.concatenate([folds[1][labelled], near])
        caught = np.concatenate([folds[0][labelled].argmax(axis=1) == outside, caught])
        moved = np.concatenate([np.full(len(labelled), shift), moved])
    outside_scores = (top - scale[0]) / scale[1] + (near - scale[2]) / scale[3] + moved
    threshold = recall_threshold(outside_scores, caught, fit.recall, floor=float(scores.min()))
    least, most = (float(np.quantile(scores, share)) for share in (fit.score_share_min, fit.score_share_max))
    head.score_threshold = min(max(threshold, least), most)
    return replace(calibration, out_of_scope_messages=len(outside_scores),
                   out_of_scope_cross_fitted=len(outside_scores) - int(held.sum()),
                   out_of_scope_caught=round(float(np.mean(caught | (outside_scores < head.score_threshold))), 4),
                   recall_bound="max" if threshold > most else "min" if threshold < least else "")  # fmt: skip


def recall_threshold(scores: np.ndarray, caught: np.ndarray, goal: float, *, floor: float) -> float:
    """The loosest threshold (set aside when under it) with which `goal` of these out-of-scope messages are
    caught, counting those already `caught` (called out of scope by the head); `floor` when those reach it."""
    needed = int(np.ceil(goal * len(scores) - 1e-9)) - int(np.sum(caught))
    remaining = np.sort(scores[~caught])
    if needed <= 0 or not len(remaining):
        return floor
    return float(np.nextafter(remaining[min(needed, len(remaining)) - 1], np.inf))


def forward_speed(encoder: Any, texts: Sequence[str]) -> float:
    """Texts per second `encoder` embeds here, timed on `texts` (marked, so no cache answers them) after a first
    call on a few of them: an encoder's first call is slow (4 texts/s for multilingual-e5-small on 2 cores,
    then 90), and where every turn's embedding came from the cache the probe is that first call."""
    encoder.embed_queries([f"{t} ··" for t in texts[:4]])
    timer = time.perf_counter()
    encoder.embed_queries([f"{t} ·" for t in texts])
    return len(texts) / max(time.perf_counter() - timer, 1e-6)


def fine_tune_estimate(per_second: float, *, examples: int, epochs: float, watched: int, embedded: int,
                       embedded_per_second: float | None = None) -> float:  # fmt: skip
    """Seconds a few-shot encoder fine-tune and what follows it should take at `per_second` forward passes of
    the encoder tuned: a training step costs about three per example; each of the trainer's
    `EVALUATIONS_PER_RUN` dev evaluations embeds the examples and the `watched` dev turns
    (`centroid_evaluator`); afterwards the tuned encoder (with the English embedder beside it, where it sits)
    embeds `embedded` distinct texts for the head at `embedded_per_second` (long runs: timed on `PROBE_TEXTS`).
    Loading and saving the model come on top (seconds on a CPU)."""
    training = examples * epochs * 3 + EVALUATIONS_PER_RUN * (examples + watched)
    return training / max(per_second, 1e-6) + embedded / max(embedded_per_second or per_second, 1e-6)


def foresee_fine_tune(embedder: Any, probe: Sequence[str], *, examples: int, epochs: float, watched: int,
                      embedded: int) -> tuple[float, float]:  # fmt: skip
    """(`fine_tune_estimate`'s seconds, the forward speed it used) with the speeds timed here on `probe`: the
    encoder tuned (`embedder`'s first part) in one batch of 32, as the trainer's, and the whole `embedder` (the
    English one beside it, where it sits) on up to `PROBE_TEXTS` at once, as `embed_texts` sends them."""
    per_second = forward_speed(first_part(embedder), probe[:32])
    embedded_per_second = forward_speed(embedder, probe[:PROBE_TEXTS])
    seconds = fine_tune_estimate(per_second, examples=examples, epochs=epochs, watched=watched, embedded=embedded,
                                 embedded_per_second=embedded_per_second)  # fmt: skip
    return seconds, per_second


def distinct(texts: Sequence[str]) -> int:
    """How many different texts `texts` holds: what `embed_texts` embeds of them."""
    return len(set(texts))


def spoken_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def capped_examples(examples: list[Example], total: int) -> list[Example]:
    """At most `total` of `examples`, two at a time from each intent in turn (seeded): stratified, with
    pairs of one intent for the contrastive fine-tuning."""
    from assistant.evaluation.intents import cap_per_label  # evaluation imports this module

    keys = cap_per_label([(str(i), e.intent) for i, e in enumerate(examples)], total=total, seed=0, step=2)
    return [examples[int(i)] for i, _ in keys]


def intent_examples(shop_dir: Path, split: str) -> list[Example]:
    """Labelled customer turns of the conversations in `split`."""
    out = []
    for conversation in conversations_in_split(shop_dir, split):
        for turn in conversation["turns"]:
            if turn["role"] == "customer" and turn.get("intent"):
                language = turn.get("language", conversation["language"])
                out.append(Example(turn["text"], turn["intent"], language, conversation["id"]))
    return out


def head_features(embedder: Embedder) -> tuple[str, ...]:
    """What a head fit on `embedder`'s vectors records as reading messages for it (`IntentHead.features`)."""
    return ("embedder", "english_embedder") if isinstance(embedder, JoinedEmbedder) else ("embedder",)


def train_intent_model(
    shop_dir: Path,
    embedder: Embedder,
    artifacts_dir: Path,
    *,
    embedder_reference: str,
    settings_toml: str = "",
    run_id: str | None = None,
    epochs: int = 800,
    progress: Callable[[str], None] = lambda _: None,
    fine_tune_encoder: bool = False,
    quick: bool = False,
    device: str = "auto",
    stop_after_steps: int | None = None,
    max_examples: int | None = None,
    cache_dir: Path | None = None,
    out_of_scope_fit: OutOfScopeFit = OUT_OF_SCOPE_FIT,
    names_as_examples: bool = True,
) -> Path:
    """Train, calibrate, evaluate on dev and write `artifacts/intent/<run_id>/`; returns that folder.

    With `fine_tune_encoder`, `embedder_reference` (a folder or hub id) is fine-tuned; `quick` uses
    1,200 training turns for one epoch (minutes on a CPU). `max_examples` caps the train and dev turns
    (stratified over intents, in pairs: a smoke run, as `train --max-examples` caps the other components).
    Re-running with the same `run_id` resumes an interrupted fine-tuning from its last checkpoint. The run
    becomes active only if no intent model is active yet; otherwise `promote` decides. `out_of_scope_fit`: how
    the out-of-scope thresholds are fitted (`fit_out_of_scope`; the `assistant.*` settings). With `cache_dir`,
    the turns' embeddings by `embedder` are cached there (`backends.embedding_cache`): a later run embeds only
    new turns. With `names_as_examples` (`models.intent_names_as_examples`), each intent's name in words joins its
    examples (`name_examples`).
    """
    train = intent_examples(shop_dir, "train")
    dev = intent_examples(shop_dir, "dev")
    if not train or not dev:
        raise DataError(f"{shop_dir} has no labelled customer turns in the train or dev split: label a few per "
                        "intent with `python -m assistant data label-sheet --out sheet.csv`, then `data apply-labels "
                        "sheet.csv` (logs without splits: `data split`)")  # fmt: skip
    if max_examples:  # a smoke run: the head, its thresholds and the metrics on a stratified few
        train = capped_examples(train, max_examples)
    labels = tuple(sorted({e.intent for e in train}))
    index = {label: i for i, label in enumerate(labels)}
    outside = outside_engine(Counter(e.intent for e in train))
    if outside:
        progress(f"warning: {describe_outside(outside)}")
    unseen = sum(1 for e in dev if e.intent not in index)
    if unseen:  # the head cannot name them; they are counted in the metrics, not scored
        progress(f"{unseen} dev turns have intents no training turn has; left out of the dev figures")
    dev = [e for e in dev if e.intent in index]
    if max_examples:
        dev = capped_examples(dev, max_examples)
    x_train = embed_texts(
        embedder, [e.text for e in train], progress=progress, label="train", cache_dir=cache_dir
    )
    x_dev = embed_texts(embedder, [e.text for e in dev], progress=progress, label="dev", cache_dir=cache_dir)
    y_train = np.array([index[e.intent] for e in train])
    y_dev = np.array([index[e.intent] for e in dev])
    named = name_examples(labels) if names_as_examples else []
    x_named = embed_names(named, lambda texts: embed_texts(embedder, texts, progress=progress, label="intent names",
                                                           cache_dir=cache_dir), x_train.shape[1])  # fmt: skip
    features = head_features(embedder)
    progress(f"fitting the head on {len(train)} examples{f' and {len(named)} intent names' if named else ''}, "
             f"{len(labels)} intents"
             f"{' (the English embedder beside the multilingual one)' if len(features) > 1 else ''}")  # fmt: skip
    head = fit_intent_head(
        x_train, y_train, labels, x_named=x_named, named=named, epochs=epochs, features=features
    )
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    folder = artifacts_dir / COMPONENT / run_id
    base_metrics: dict[str, object] = {}
    training_figures: dict[str, object] = {}
    if fine_tune_encoder:
        from assistant.backends.embedding import SentenceTransformerEmbedder
        from assistant.backends.encoder_training import fine_tune_encoder_few_shot

        base_predicted = head.probabilities(x_dev, calibrated=False).argmax(axis=1)
        gold = [labels[i] for i in y_dev]
        base_metrics = {"base_dev_accuracy": round(accuracy(gold, [labels[i] for i in base_predicted]), 4),
                        "base_dev_macro_f1": round(macro_f1(gold, [labels[i] for i in base_predicted]), 4)}  # fmt: skip
        chosen = list(range(len(train)))
        if quick:  # a deterministic spread over the whole split, not its first conversations
            chosen = chosen[:: max(1, len(train) // QUICK_FINE_TUNE)][:QUICK_FINE_TUNE]
        watched = list(range(len(dev)))[:: max(1, len(dev) // DEV_WATCHED)][:DEV_WATCHED]
        fine_tune_epochs = 1.0 if quick else 4.0
        estimate, per_second = foresee_fine_tune(
            embedder, [e.text for e in train[:PROBE_TEXTS]], examples=len(chosen), epochs=fine_tune_epochs,
            watched=len(watched), embedded=sum(distinct([e.text for e in part]) for part in (train, dev)) + len(named),
        )  # fmt: skip
        progress(f"fine-tuning the encoder on {len(chosen)} examples for {fine_tune_epochs:g} epoch(s), then "
                 f"embedding the turns with it: about {spoken_seconds(estimate)} here (forward {per_second:.0f} "
                 "examples/s; training ~3x that per example). --quick or --max-examples makes it shorter")  # fmt: skip
        started = time.perf_counter()
        result = fine_tune_encoder_few_shot(
            embedder_reference, [train[i].text for i in chosen], [int(y_train[i]) for i in chosen], work_dir=folder,
            dev_texts=[dev[i].text for i in watched], dev_labels=[int(y_dev[i]) for i in watched],
            epochs=fine_tune_epochs, device=device, stop_after_steps=stop_after_steps,
            progress=step_reporter(progress, "fine-tuning the encoder"),
        )  # fmt: skip
        training_figures = {"fine_tune_steps": result.steps, "fine_tune_examples": len(chosen),
                            "fine_tune_samples_per_s": round(result.samples_per_s, 2),
                            "fine_tune_seconds": round(time.perf_counter() - started, 1),
                            "fine_tune_estimate_seconds": round(estimate, 1),
                            "fine_tune_device": result.device, **run_figures(result)}  # fmt: skip
        # the fine-tuned encoder takes the multilingual one's place (beside the English one, where it sits)
        tuned = with_first(embedder, SentenceTransformerEmbedder(str(result.model_dir), device=device))
        x_train = embed_texts(
            tuned, [e.text for e in train], progress=progress, label="train (fine-tuned encoder)"
        )
        x_dev = embed_texts(tuned, [e.text for e in dev], progress=progress, label="dev (fine-tuned encoder)")
        x_named = embed_names(named, lambda texts: embed_texts(tuned, texts, progress=progress,
                                                               label="intent names (fine-tuned)"), x_train.shape[1])  # fmt: skip
        # what the estimate foresaw: the fine-tune and the embedding after it
        training_figures["fine_tune_total_seconds"] = round(time.perf_counter() - started, 1)
        progress(f"fitting the head on the fine-tuned encoder's embeddings of {len(train)} examples")
        head = fit_intent_head(x_train, y_train, labels, x_named=x_named, named=named, epochs=epochs,
                               features=features)  # fmt: skip
    calibration = fit_out_of_scope(head, x_train, [e.intent for e in train], x_dev, y_dev,
                                   cross_fit=not fine_tune_encoder, epochs=epochs, fit=out_of_scope_fit,
                                   x_named=x_named, named_labels=[label for _, label in named],
                                   progress=progress)  # fmt: skip
    if calibration.cross_fitted:
        progress(f"the out-of-scope thresholds were read from {calibration.answers} correct answers, "
                 f"{calibration.cross_fitted} of them training turns scored by heads fitted without them")  # fmt: skip
    if calibration.out_of_scope_messages:
        bound = {"max": f"; held back by the most it may set aside, {out_of_scope_fit.score_share_max}",
                 "min": f"; kept at the least it sets aside, {out_of_scope_fit.score_share_min}"}  # fmt: skip
        progress(f"the in-scope score threshold catches {calibration.out_of_scope_caught:.2f} of "
                 f"{calibration.out_of_scope_messages} labelled out-of-scope turns held out (goal "
                 f"{out_of_scope_fit.recall}{bound.get(calibration.recall_bound, '')}"
                 f"{' of the correct answers' if calibration.recall_bound else ''})")  # fmt: skip
    if calibration.answers < FEW_THRESHOLD_ANSWERS:
        progress(f"the out-of-scope thresholds rest on {calibration.answers} correct answers (fewer than "
                 f"{FEW_THRESHOLD_ANSWERS}): expect them to move with more labelled turns")  # fmt: skip
    probabilities = head.probabilities(x_dev)
    predicted = probabilities.argmax(axis=1)
    gold_names = [labels[i] for i in y_dev]
    predicted_names = [labels[i] for i in predicted]
    metrics: dict[str, object] = {
        "dev_accuracy": round(accuracy(gold_names, predicted_names), 4),
        "dev_macro_f1": round(macro_f1(gold_names, predicted_names), 4),
        "temperature": round(head.temperature, 4),
        "threshold": round(head.threshold, 4),
        "score_threshold": None if head.score_threshold is None else round(head.score_threshold, 4),
        **calibration.figures(),  # what the thresholds were read from
        **out_of_scope_fit.figures(),  # the shares, recall goal and range the thresholds were fitted with
        "train_examples": len(train),
        "intent_name_examples": len(named),  # the intents' names fitted beside them (`name_examples`)
        "dev_examples": len(dev),
        "dev_examples_unseen_intent": unseen,
        "labels_outside_engine": outside,
        "encoder": "fine-tuned" if fine_tune_encoder else "frozen",
        "features": " + ".join(features),
        **base_metrics,
        **training_figures,
    }
    for language in sorted({e.language for e in dev}):
        chosen = [i for i, e in enumerate(dev) if e.language == language]
        metrics[f"dev_accuracy_{language}"] = round(
            accuracy([gold_names[i] for i in chosen], [predicted_names[i] for i in chosen]), 4
        )
        metrics[f"dev_macro_f1_{language}"] = round(
            macro_f1([gold_names[i] for i in chosen], [predicted_names[i] for i in chosen]), 4
        )
    head.save(folder)
    write_run(folder, metrics=metrics, settings_toml=settings_toml, manifest={
        "component": COMPONENT, "run_id": run_id, "embedder": embedder_reference, "data": data_hashes(shop_dir),
    })  # fmt: skip
    active = active_run(artifacts_dir, COMPONENT)
    if active is None or active.startswith(DEFAULT_PREFIX):  # the shop's own logs replace the engine default
        set_active(artifacts_dir, COMPONENT, run_id)
    progress(
        f"intent model {run_id}: dev accuracy {metrics['dev_accuracy']}, macro-F1 {metrics['dev_macro_f1']}"
    )
    return folder


def active_intent_encoder(artifacts_dir: Path) -> Path | None:
    """The fine-tuned encoder folder of the active intent run, or None (it uses the shared embedder)."""
    run_id = active_run(artifacts_dir, COMPONENT)
    folder = artifacts_dir / COMPONENT / run_id / "encoder" if run_id else None
    return folder if folder is not None and folder.is_dir() else None


def load_active_intent_head(artifacts_dir: Path) -> IntentHead:
    run_id = active_run(artifacts_dir, COMPONENT)
    if run_id is None:
        raise ModelNotPreparedError(
            f"no active intent model under {artifacts_dir / COMPONENT}: run `python -m assistant train intent`"
        )
    return IntentHead.load(artifacts_dir / COMPONENT / run_id)
