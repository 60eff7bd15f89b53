"""`eval intents`: an intent model scored the way the live assistant uses it.

The head is fitted on the train part; its temperature and out-of-scope threshold on a validation part
carved from train (never the test part; when it has few answers, the train examples' out-of-fold answers
join it), with the very functions `train intent` uses, so a test
message counts as "out of scope" exactly when the assistant would treat it as unsure: the predicted
intent is `out_of_scope` or its calibrated probability is under the threshold (with
`assistant.out_of_scope_by_similarity` on: its in-scope score is under the score threshold).

Reported: in-scope accuracy (an in-scope message must get its own intent, not be rejected), the share
of in-scope messages rejected, out-of-scope precision and recall (test labels the model never saw
count as out of scope: it cannot name them, so the right outcome is "unsure"), macro-F1, a threshold
curve, a confusion table, per-label figures and a file of mistakes. Without any out-of-scope test
message the curve still shows what each threshold costs in-scope.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.analytics import spreadsheet_safe
from assistant.data.labels import read_text_file, strict_csv_rows
from assistant.errors import DataError
from assistant.evaluation import metrics as m
from assistant.settings import OutOfScopeFit
from assistant.training.intent import (
    FEW_THRESHOLD_ANSWERS,
    MIN_LABELLED_OUT_OF_SCOPE,
    OUT_OF_SCOPE_FIT,
    PROBABILITY_CAP,
    Calibration,
    fit_out_of_scope,
    recall_threshold,
)

OOS = "out_of_scope"
Pairs = list[tuple[str, str]]
SKIP_REASONS = ("no text", "no label", "label mapped to nothing")  # rows `read_labelled` leaves out


# What `eval intents` holds a run to (issue 19's goal): out-of-scope recall at least RECALL_GOAL with in-scope
# accuracy at most POINTS_GOAL points below the head's best (nothing set aside).
RECALL_GOAL = 0.80
POINTS_GOAL = 2.0


# ----------------------------------------------------------------------------------------- reading
def read_labelled(path: Path, *, text_column: str | None = None, label_column: str | None = None,
                  label_map: dict[str, str] | None = None, skipped: Counter[str] | None = None,
                  ) -> dict[str, Pairs]:  # fmt: skip
    """(text, label) pairs: CSV/TSV with a text and a label column (named, or found among text/instruction/
    utterance and label/intent/category), JSONL, or CLINC150's JSON ({"train": [[text, intent]], "val": ...,
    "oos_train": ...}). Returns split -> pairs ("all" when the file has no split of its own). `label_map`
    renames labels (e.g. {"oos": "out_of_scope"}); a label mapped to "" drops its rows. Rows left out are
    counted into `skipped` by reason (`SKIP_REASONS`), so a report can say how many a file lost."""
    raw = read_text_file(path)
    mapping = {"oos": OOS, **(label_map or {})}
    skipped = Counter() if skipped is None else skipped

    def mapped(pairs: Sequence[tuple[Any, Any]]) -> Pairs:
        out = []
        for text, label in pairs:
            given = str(label if label is not None else "").strip()
            label = mapping.get(given, given).strip()
            if not str(text if text is not None else "").strip():
                skipped[SKIP_REASONS[0]] += 1
            elif not given:
                skipped[SKIP_REASONS[1]] += 1
            elif not label:
                skipped[SKIP_REASONS[2]] += 1
            else:
                out.append((str(text), label))
        return out

    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc})") from None
        if not isinstance(data, dict) or "train" not in data:
            raise DataError(f"{path}: expected CLINC150-style JSON with a 'train' list")
        test_key = "test" if "test" in data else "val"

        def pairs(key: str) -> list[tuple[Any, Any]]:
            items = data.get(key, [])
            if not isinstance(items, list):
                raise DataError(f"{path}: '{key}' should be a list of [text, label] pairs")
            for number, item in enumerate(items):
                if not isinstance(item, list) or len(item) != 2:
                    raise DataError(f"{path}: '{key}' item {number} is {json.dumps(item)[:80]}, not a "
                                    "[text, label] pair")  # fmt: skip
            return [(text, label) for text, label in items]

        return {"train": mapped(pairs("train") + pairs("oos_train")),
                "test": mapped(pairs(test_key) + pairs(f"oos_{test_key}"))}  # fmt: skip
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"{path}, line {number}: not JSON") from None
                if not isinstance(rows[-1], dict):
                    raise DataError(
                        f'{path}, line {number}: not a JSON object ({{"text": ..., "label": ...}})'
                    )
        text_key = text_column or "text"
        return {"all": mapped([(r.get(text_key, ""), r.get(label_column or "label", r.get("intent", "")))
                               for r in rows])}  # fmt: skip
    dialect = csv.excel_tab if path.suffix in (".tsv", ".tab") else csv.excel
    fields, rows = strict_csv_rows(raw, str(path), dialect=dialect)
    text_column = text_column or next((c for c in ("text", "instruction", "utterance") if c in fields), None)
    label_column = label_column or next((c for c in ("label", "intent", "category") if c in fields), None)
    if text_column not in fields or label_column not in fields:
        raise DataError(f"{path}: needs a text column and a label column (--text-column, --label-column); "
                        f"it has {fields}")  # fmt: skip
    return {"all": mapped([(r[text_column], r[label_column]) for _, r in rows])}


# ----------------------------------------------------------------------------------------- splitting
def cap_per_label(
    pairs: Pairs, per_label: int | None = None, total: int | None = None, *, seed: int, step: int = 1
) -> Pairs:
    """At most `per_label` examples of each label, then at most `total` in all, spread evenly over labels
    (`step` at a time from each label in turn: 2 keeps pairs of one label for contrastive training)."""
    by_label: dict[str, Pairs] = defaultdict(list)
    for pair in pairs:
        by_label[pair[1]].append(pair)
    rng = random.Random(seed)
    for items in by_label.values():
        rng.shuffle(items)
    if per_label:
        by_label = {k: v[:per_label] for k, v in by_label.items()}
    if total and sum(len(v) for v in by_label.values()) > total:
        out: Pairs = []
        rounds = max(len(v) for v in by_label.values())
        for i in range(0, rounds, step):  # round-robin over labels keeps the cap stratified
            for label in sorted(by_label):
                out.extend(by_label[label][i : i + step][: total - len(out)])
        return out
    return [p for label in sorted(by_label) for p in by_label[label]]


def hold_out_labels(pairs: Pairs, share: float, *, seed: int) -> tuple[str, ...]:
    """A seeded `share` of the labels of `pairs` (at least one; never `out_of_scope`), for the eval to leave out
    of training so their messages test out-of-scope detection on the shop's own kind of message (the unlabelled
    intents a shop will meet live), where the data has no out-of-scope examples or only unlike ones. At least
    two labels stay; a `DataError` says so when they cannot."""
    labels = sorted({label for _, label in pairs if label != OOS})
    count = max(1, round(share * len(labels)))
    if len(labels) - count < 2:
        raise DataError(f"--hold-out-intents {share:g} would leave {len(labels) - count} of the {len(labels)} "
                        "intents to train on; an intent model needs at least two")  # fmt: skip
    return tuple(sorted(random.Random(seed).sample(labels, count)))


# ----------------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Scored:
    """Test predictions as the assistant would act on them."""

    gold: list[str]
    predicted: list[str]  # the head's best label
    confidence: list[float]  # its calibrated probability
    labels: tuple[str, ...]  # what the model knows
    threshold: float
    temperature: float
    scores: list[float] = field(default_factory=list)  # the in-scope score (`IntentHead.in_scope_score`)
    score_threshold: float | None = None  # None: the check is off
    # what the thresholds were read from: the correct held-out answers (how many, how many of them train examples
    # scored out of fold, their probabilities and in-scope scores) and labelled out-of-scope messages
    calibration: Calibration = field(default_factory=lambda: Calibration(0), repr=False)

    def answers_set_aside(self, threshold: float | None) -> float | None:
        """The share of the correct held-out answers under `threshold` on the signal acted on (the in-scope
        score with the check on, else the probability): the `assistant.in_scope_score_set_aside` (or
        `out_of_scope_set_aside`) that would fit that threshold. None when they are not known."""
        answers = self.calibration.scores if self.checked() else self.calibration.confidences
        if threshold is None or not answers:
            return None
        return round(float(np.mean(np.asarray(answers) < threshold)), 4)

    def final(self, threshold: float | None = None, score_threshold: float | None = None) -> list[str]:
        """The label acted on: out of scope when predicted so, under the probability threshold or under the
        in-scope score threshold (as `Understander` decides)."""
        t = self.threshold if threshold is None else threshold
        s = self.score_threshold if score_threshold is None else score_threshold
        scores = self.scores if s is not None and self.scores else [np.inf] * len(self.predicted)
        s = -np.inf if s is None else s
        return [OOS if p == OOS or c < t or n < s else p
                for p, c, n in zip(self.predicted, self.confidence, scores, strict=True)]  # fmt: skip

    def gold_is_oos(self) -> list[bool]:
        known = set(self.labels)
        return [g == OOS or g not in known for g in self.gold]

    def figures(
        self, threshold: float | None = None, score_threshold: float | None = None
    ) -> dict[str, float | None]:
        final = self.final(threshold, score_threshold)
        oos_gold = self.gold_is_oos()
        in_scope = [i for i, o in enumerate(oos_gold) if not o]
        correct = sum(final[i] == self.gold[i] for i in in_scope)
        rejected = sum(final[i] == OOS for i in in_scope)
        best = sum(self.predicted[i] == self.gold[i] for i in in_scope)  # nothing set aside
        out: dict[str, float | None] = {
            "in_scope_accuracy": round(correct / len(in_scope), 4) if in_scope else None,
            "in_scope_accuracy_nothing_set_aside": round(best / len(in_scope), 4) if in_scope else None,
            "in_scope_rejected": round(rejected / len(in_scope), 4) if in_scope else None,
            "accuracy_all": round(sum(f == (OOS if o else g) for f, g, o in zip(final, self.gold, oos_gold,
                                                                                strict=True)) / len(final), 4)
            if final else None,
        }  # fmt: skip
        if any(oos_gold):
            p, r = m.precision_recall([(o, f == OOS) for o, f in zip(oos_gold, final, strict=True)])
            out["oos_precision"], out["oos_recall"] = round(p, 4), round(r, 4)
        else:
            out["oos_precision"] = out["oos_recall"] = None
        return out

    def checked(self) -> bool:
        return bool(self.scores) and self.score_threshold is not None

    def at_recall(self, goal: float = RECALL_GOAL) -> dict[str, float | None]:
        """The trade the signal acted on (the in-scope score with the check on, else the probability) allows,
        read off this test, not a fitted rule: the in-scope accuracy at the loosest threshold whose
        out-of-scope recall reaches `goal`. Nones without out-of-scope test messages."""
        oos_gold = np.array(self.gold_is_oos(), dtype=bool)
        if not oos_gold.any() or oos_gold.all():
            return dict.fromkeys(("threshold", "answers_set_aside", "in_scope_accuracy", "oos_recall"))
        signal = np.array(self.scores if self.checked() else self.confidence, dtype=np.float64)
        predicted_oos = np.array([p == OOS for p in self.predicted], dtype=bool)
        threshold = recall_threshold(signal[oos_gold], predicted_oos[oos_gold], goal, floor=-np.inf)
        rejected = predicted_oos | (signal < threshold)
        correct = np.array([p == g for p, g in zip(self.predicted, self.gold, strict=True)]) & ~rejected
        needed = bool(np.isfinite(threshold))  # False: the head's own out-of-scope calls reach the goal
        return {"threshold": round(threshold, 4) if needed else None,
                "answers_set_aside": self.answers_set_aside(threshold if needed else None),
                "in_scope_accuracy": round(float(correct[~oos_gold].mean()), 4),
                "oos_recall": round(float(rejected[oos_gold].mean()), 4)}  # fmt: skip

    def curve(self, steps: int = 20) -> list[dict[str, float | None]]:
        """Figures along the thresholds: the in-scope score threshold with the check on (the probability
        threshold stays as fitted), else the probability threshold."""
        if self.checked():
            low, high = np.quantile(self.scores, [0.005, 0.2])
            return [{"score_threshold": round(float(t), 3), "answers_set_aside": self.answers_set_aside(float(t)),
                     **self.figures(score_threshold=float(t))} for t in np.linspace(low, high, steps)]  # fmt: skip
        return [{"threshold": round(float(t), 3), "answers_set_aside": self.answers_set_aside(float(t)),
                 **self.figures(float(t))} for t in np.linspace(0, 0.95, steps)]  # fmt: skip


def score_head(
    head: Any,
    x_validation: np.ndarray,
    validation: Pairs,
    x_test: np.ndarray,
    test: Pairs,
    *,
    x_train: np.ndarray | None = None,
    train: Sequence[tuple[str, str]] = (),
    similarity_check: bool = True,
    cross_fit: bool = True,
    fit: OutOfScopeFit = OUT_OF_SCOPE_FIT,
    x_named: np.ndarray | None = None,
    named: Sequence[tuple[str, str]] = (),
) -> Scored:
    """Temperature and thresholds fitted on `validation` as `train intent` fits them (the in-scope score
    too, with the `train` examples' centroids; the train examples' out-of-fold answers join a validation
    part with few, unless `cross_fit` is off: `training.intent.fit_out_of_scope`); then the test
    predictions, acted on with the check on (`similarity_check` and train examples given) or off, as
    `assistant.out_of_scope_by_similarity` decides live. `fit`: the shares, recall goal and range the
    thresholds are fitted with (`AssistantSettings.out_of_scope_fit`; the settings' defaults unless given).
    `x_named` (`named`): the intents' names the head was fitted on beside `train` (`training.intent.name_examples`):
    in the centroids and the fold heads, never scored."""
    calibration = Calibration(0)
    index = {label: i for i, label in enumerate(head.labels)}
    y_validation = np.array([index[lab] for _, lab in validation if lab in index])
    x_val_known = x_validation[[i for i, (_, lab) in enumerate(validation) if lab in index]]
    if len(y_validation):
        calibration = fit_out_of_scope(
            head, x_train if x_train is not None else np.zeros((0, x_validation.shape[1])),
            [lab for _, lab in train], x_val_known, y_validation, cross_fit=cross_fit and x_train is not None,
            fit=fit, x_named=x_named, named_labels=[lab for _, lab in named],
        )  # fmt: skip
    return acted_on(head, x_test, test, similarity_check=similarity_check and x_train is not None,
                    calibration=calibration)  # fmt: skip


def acted_on(
    head: Any, x_test: np.ndarray, test: Pairs, *, similarity_check: bool, calibration: Calibration
) -> Scored:
    """The test predictions of a head already calibrated (`score_head`), acted on with the in-scope score
    check on or off; `calibration` says what its thresholds were read from."""
    threshold, score_threshold = head.thresholds(similarity_check)
    probabilities = head.probabilities(x_test) if len(test) else np.zeros((0, len(head.labels)))
    best = probabilities.argmax(axis=1) if len(test) else np.zeros(0, dtype=int)
    scores = (
        [float(n) for n in head.in_scope_score(x_test)] if score_threshold is not None and len(test) else []
    )
    return Scored([lab for _, lab in test], [head.labels[i] for i in best],
                  [float(probabilities[n, i]) for n, i in enumerate(best)], tuple(head.labels),
                  float(threshold), float(head.temperature), scores, score_threshold, calibration)  # fmt: skip


def per_label(scored: Scored) -> dict[str, dict[str, float | int]]:
    final = scored.final()
    out = {}
    for label in sorted(set(scored.gold) | set(final)):
        tp = sum(g == label and f == label for g, f in zip(scored.gold, final, strict=True))
        fp = sum(g != label and f == label for g, f in zip(scored.gold, final, strict=True))
        fn = sum(g == label and f != label for g, f in zip(scored.gold, final, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                      "support": tp + fn, "known": label in scored.labels or label == OOS}  # fmt: skip
    return out


def confusions(scored: Scored, top: int = 25) -> list[dict[str, Any]]:
    pairs = Counter((g, f) for g, f in zip(scored.gold, scored.final(), strict=True) if g != f)
    return [{"gold": g, "predicted": f, "count": n} for (g, f), n in pairs.most_common(top)]


def write_details(folder: Path, scored: Scored, test: Pairs) -> None:
    """mistakes.csv, confusion.csv and per_label.csv beside the report."""
    folder.mkdir(parents=True, exist_ok=True)
    final = scored.final()
    with (folder / "mistakes.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "gold", "acted_on", "best_guess", "confidence", "in_scope_score",
                         "gold_known_to_model"])  # fmt: skip
        scores: list[float | None] = list(scored.scores) or [None] * len(test)
        for (text, gold), f, p, c, n in zip(
            test, final, scored.predicted, scored.confidence, scores, strict=True
        ):
            if f != gold:
                writer.writerow([spreadsheet_safe(text), gold, f, p, round(c, 4), "" if n is None else round(n, 4),
                                 gold in scored.labels or gold == OOS])  # fmt: skip
    labels = sorted(set(scored.gold) | set(final))
    counts = Counter(zip(scored.gold, final, strict=True))
    with (folder / "confusion.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gold \\ acted on", *labels])
        for g in labels:
            writer.writerow([g, *(counts[(g, f)] for f in labels)])
    with (folder / "per_label.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "precision", "recall", "f1", "support", "known"])
        for label, row in per_label(scored).items():
            writer.writerow([label, row["precision"], row["recall"], row["f1"], row["support"], row["known"]])


def _other_way(scored: Scored, other: Scored) -> list[str]:
    """A line comparing the figures with the in-scope score check the other way, and its curve."""
    on = other.checked()
    now, then = scored.figures(), other.figures()

    def cell(figures: dict[str, float | None], key: str) -> str:
        return "–" if figures[key] is None else f"{figures[key]:.3f}"

    lines = [f"### With the in-scope score check {'on' if on else 'off'} (`assistant.out_of_scope_by_similarity`)", "",
             f"In-scope accuracy {cell(then, 'in_scope_accuracy')} (as run: {cell(now, 'in_scope_accuracy')}), "
             f"OOS recall {cell(then, 'oos_recall')} (as run: {cell(now, 'oos_recall')}); nothing set aside: "
             f"{cell(now, 'in_scope_accuracy_nothing_set_aside')}."]  # fmt: skip
    if on:
        lines += ["", *_curve_table(other)]
    return lines


CURVE_COLUMNS = ("answers_set_aside", "in_scope_accuracy", "in_scope_rejected", "oos_precision", "oos_recall")


def _curve_table(scored: Scored) -> list[str]:
    """The threshold curve as a markdown table; its second column is the share of the correct held-out answers
    each threshold sets aside, the value of the setting that would fit it."""
    swept = "score threshold" if scored.checked() else "threshold"
    lines = [f"| {swept} | held-out answers set aside | in-scope accuracy | in-scope rejected | OOS precision "
             "| OOS recall |", "|---|---|---|---|---|---|"]  # fmt: skip
    for row in scored.curve():
        value = row.get("score_threshold", row.get("threshold"))
        cells = [row[k] for k in CURVE_COLUMNS]
        lines.append(f"| {value:.3f} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
    return lines


def markdown_sections(scored: Scored, unseen: dict[str, int], other: Scored | None = None,
                      left_out: dict[str, int] | None = None, held_out: dict[str, int] | None = None) -> str:  # fmt: skip
    """The report's intent sections: the threshold curve (and that of `other`, the same model acted on
    with the in-scope score check the other way), the confusions, unseen labels, the intents held out of
    training (`held_out`: label -> test messages) and the data's rows left out (`left_out`: reason -> rows)."""
    checked = scored.checked()
    if checked:
        rule = (f"Temperature {scored.temperature:.3f} and the in-scope score's scale and threshold "
                f"({scored.score_threshold:.3f}) were fitted on the held-out answers (the check, "
                "`assistant.out_of_scope_by_similarity`, is on). A test message is acted on as out of scope when "
                "the best intent is `out_of_scope` or its in-scope score (the top logit plus the similarity to "
                "that intent's centroid, each scaled on the correct held-out answers) is under the "
                "threshold. The curve moves the score threshold:")  # fmt: skip
    else:
        rule = (f"Temperature {scored.temperature:.3f} and threshold {scored.threshold:.3f} were fitted on the "
                "held-out answers. A test message is acted on as out of scope when the best intent is "
                "`out_of_scope` or its calibrated probability is under the threshold. The curve moves the "
                "threshold:")  # fmt: skip
    fitted = f"The thresholds were read from {scored.calibration.answers} correct validation answers."
    if scored.calibration.cross_fitted:
        fitted = (f"The validation part had few answers, so the thresholds were read from "
                  f"{scored.calibration.answers} correct answers: {scored.calibration.cross_fitted} of them train "
                  f"examples, each scored by a head fitted without it (out of fold), the rest the validation "
                  "part's.")  # fmt: skip
    if scored.calibration.answers < FEW_THRESHOLD_ANSWERS:
        fitted += (f" Fewer than {FEW_THRESHOLD_ANSWERS}: a threshold that sets aside 1.5-2 % of them rests on "
                   "their few lowest and moves from one sample of the data to the next, so read the curve below "
                   "rather than the single figure, and label more turns for validation.")  # fmt: skip
    cal = scored.calibration
    if cal.out_of_scope_messages:
        folded = f", {cal.out_of_scope_cross_fitted} of them train examples scored out of fold"
        fitted += (f" The in-scope score threshold was read from {cal.out_of_scope_messages} labelled out-of-scope "
                   f"messages held out{folded if cal.out_of_scope_cross_fitted else ''}: the loosest that catches "
                   f"the share `assistant.out_of_scope_recall` asks for; it catches {cal.out_of_scope_caught:.3f} of "
                   "them.")  # fmt: skip
        if cal.recall_bound == "max":
            fitted += (" It was held back from the goal by `assistant.in_scope_score_set_aside_max`, the most of "
                       "the correct answers it may set aside: these out-of-scope messages lie among the in-scope "
                       "ones.")  # fmt: skip
        elif cal.recall_bound == "min":
            fitted += (" A looser one would reach the goal (the head itself calls most of them out of scope), so "
                       "it sets aside the least it may, `assistant.in_scope_score_set_aside_min` of the correct "
                       "answers, for messages unlike any labelled.")  # fmt: skip
    elif scored.score_threshold is not None:
        fitted += (f" The in-scope score threshold sets aside a share of them (`assistant.in_scope_score_set_aside`)"
                   f"; with {MIN_LABELLED_OUT_OF_SCOPE} labelled out-of-scope messages held out (validation's, or "
                   "train's scored out of fold) it is read from those for `assistant.out_of_scope_recall`.")  # fmt: skip
    swept = "score threshold" if checked else "threshold"
    setting = "in_scope_score_set_aside" if checked else "out_of_scope_set_aside"
    lines = ["## Out of scope as the assistant decides it", "", fitted, "", rule, "", *_curve_table(scored)]
    trade = scored.at_recall()
    if trade["in_scope_accuracy"] is not None:
        best = scored.figures()["in_scope_accuracy_nothing_set_aside"] or 0.0
        lines += ["", f"Read off this test (not a fitted rule): out-of-scope recall first reaches 0.80 "
                  f"({trade['oos_recall']:.3f}) at {swept} {trade['threshold'] if trade['threshold'] is not None else '–'}, "
                  f"where in-scope accuracy is {trade['in_scope_accuracy']:.3f}, "
                  f"{100 * (best - trade['in_scope_accuracy']):.1f} points below nothing set aside ({best:.3f})."]  # fmt: skip
        capped = not checked and (trade["threshold"] or 0.0) > PROBABILITY_CAP  # no share fits a higher one
        if trade["answers_set_aside"] is not None and not capped:
            instead = (
                "with `assistant.out_of_scope_recall = 0` " if checked and cal.out_of_scope_messages else ""
            )
            lines[-1] += (f" That threshold sets aside {trade['answers_set_aside']:.3f} of the correct held-out "
                          f"answers: {instead}`assistant.{setting} = {trade['answers_set_aside']:.3f}` would fit it "
                          "there (chosen on this test, so confirm it on turns it has not seen).")  # fmt: skip
        elif capped:
            lines[-1] += (f" The fitted probability threshold is capped at {PROBABILITY_CAP}, so no "
                          f"`assistant.{setting}` reaches that one; the in-scope score check "
                          "(`assistant.out_of_scope_by_similarity`) reaches further.")  # fmt: skip
    if other is not None:
        lines += ["", *_other_way(scored, other)]
    lines += ["", "## Most confused (gold → acted on)", "", "| gold | acted on | count |", "|---|---|---|"]
    lines += [f"| {c['gold']} | {c['predicted']} | {c['count']} |" for c in confusions(scored)]
    if unseen:
        lines += ["", "## Test labels the model never saw (counted as out of scope)", ""]
        lines += [f"- {label}: {n}" for label, n in sorted(unseen.items(), key=lambda kv: -kv[1])]
    if held_out:
        lines += ["", "## Intents held out of training (`--hold-out-intents`: their messages test out of scope)", "",
                  f"{len(held_out)} intent{'' if len(held_out) == 1 else 's'}, {sum(held_out.values())} test messages (their train examples joined "
                  "the test): the out-of-scope figures above say how many messages of intents nobody labelled are "
                  "caught. They lie closer to the labelled intents than off-topic questions, so expect a lower "
                  "recall than with out-of-scope examples written apart.", ""]  # fmt: skip
        lines += [f"- {label}: {n}" for label, n in sorted(held_out.items(), key=lambda kv: (-kv[1], kv[0]))]
    if left_out:
        lines += ["", "## Rows of the data left out (neither trained on nor tested)", ""]
        lines += [f"- {reason}: {n}" for reason, n in sorted(left_out.items(), key=lambda kv: -kv[1])]
    lines += ["", "Every mistake is in `mistakes.csv`; the full confusion matrix in `confusion.csv`; per-label "
              "precision, recall and F1 in `per_label.csv`."]  # fmt: skip
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- repeats
def sample_row(seed: int, train: int, scored: Scored) -> dict[str, Any]:
    """One sample's figures for the repeats table (`eval intents --repeats`): as acted on, nothing set aside,
    the points between, the out-of-scope figures, the trade read off the test at `RECALL_GOAL`, and whether
    the fitted thresholds meet the goal (None without out-of-scope test messages)."""
    figures = scored.figures()
    best, acted = figures["in_scope_accuracy_nothing_set_aside"], figures["in_scope_accuracy"]
    below = None if best is None or acted is None else round(100 * (best - acted), 2)
    trade = scored.at_recall()
    allowed = trade["in_scope_accuracy"]
    recall = figures["oos_recall"]
    return {"seed": seed, "train_examples": train, "test_examples": len(scored.gold), "in_scope_accuracy": acted, "best": best, "points_below": below,
            "oos_precision": figures["oos_precision"], "oos_recall": recall,
            "points_below_at_recall_goal": None if allowed is None or best is None else round(100 * (best - allowed), 2),
            "goal_met": None if recall is None or below is None else bool(recall >= RECALL_GOAL and below <= POINTS_GOAL)}  # fmt: skip


def repeat_summary(rows: list[dict[str, Any]], prefix: str = "repeats_") -> dict[str, Any]:
    """Mean, least and most of each figure over the samples, and in how many the fitted thresholds met the
    goal (`repeats_goal_met`; None when no sample's test had out-of-scope messages). `prefix` names them
    (`repeats_fine_tuned_` for the fine-tuned encoder's); the count goes by the prefix without its last `_`."""
    out: dict[str, Any] = {prefix.rstrip("_"): len(rows)}
    for key in ("in_scope_accuracy", "best", "points_below", "oos_precision", "oos_recall",
                "points_below_at_recall_goal"):  # fmt: skip
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            out |= {f"{prefix}{key}_mean": round(float(np.mean(values)), 4),
                    f"{prefix}{key}_min": min(values), f"{prefix}{key}_max": max(values)}  # fmt: skip
    met = [r["goal_met"] for r in rows if r["goal_met"] is not None]
    out[f"{prefix}goal_met"] = sum(met) if met else None
    return out


def fine_tuning_gain(frozen: list[dict[str, Any]], tuned: list[dict[str, Any]]) -> dict[str, Any]:
    """What fine-tuning the encoder changed, sample by sample (each pair drawn with one seed): points of
    in-scope accuracy with nothing set aside and as acted on (mean, least, most), and in how many samples it
    raised the first (`fine_tune_helped`). Paired, so the draw's own luck cancels out."""
    out: dict[str, Any] = {}
    for key, name in (
        ("best", "fine_tune_gain_points"),
        ("in_scope_accuracy", "fine_tune_gain_points_acted_on"),
    ):
        gains = [round(100 * (t[key] - f[key]), 2) for f, t in zip(frozen, tuned, strict=True)
                 if f[key] is not None and t[key] is not None]  # fmt: skip
        if gains:
            out |= {f"{name}_mean": round(float(np.mean(gains)), 2), f"{name}_min": min(gains),
                    f"{name}_max": max(gains)}  # fmt: skip
            if key == "best":
                out["fine_tune_helped"] = sum(g > 0 for g in gains)
    return out


def repeats_section(rows: list[dict[str, Any]], *, frozen: list[dict[str, Any]] | None = None) -> str:
    """The report's section on the samples: one row each, then the spread, read as how far one run's
    figures may be from another's on the same data. With `frozen` (the frozen head's rows of the same
    samples), `rows` are the fine-tuned encoder's and the section also says what fine-tuning changed."""

    def cell(value: Any, points: bool = False) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:.1f}" if points else f"{value:.3f}" if isinstance(value, float) else str(value)

    what = "" if frozen is None else ", fine-tuned encoder"
    lines = [f"## Over {len(rows)} samples of the data{what} (`--repeats`)", "",
             "Each sample draws the train examples (and the split, for one file) with its own seed, "
             + ("fits the head " if frozen is None else "fine-tunes the encoder on them, fits the head over it ")
             + "and its thresholds again and scores the test as above. How far the figures move from one sample to "
             f"the next is how far to trust a single run's. Goal: out-of-scope recall at least {RECALL_GOAL:.2f} with "
             f"in-scope accuracy at most {POINTS_GOAL:g} points below nothing set aside, as fitted; "
             f"\"allowed\" is the points below where this test's recall first reaches {RECALL_GOAL:.2f} (read off "
             "the test, not fitted).", "",
             "| seed | train | in-scope accuracy | nothing set aside | points below | OOS precision | OOS recall "
             "| allowed | goal met |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['seed']} | {r['train_examples']} | {cell(r['in_scope_accuracy'])} | {cell(r['best'])} | "
                     f"{cell(r['points_below'], True)} | {cell(r['oos_precision'])} | {cell(r['oos_recall'])} | "
                     f"{cell(r['points_below_at_recall_goal'], True)} | {cell(r['goal_met'])} |")  # fmt: skip
    summary = repeat_summary(rows)
    spread = [f"{name} {summary[f'repeats_{key}_mean']:.3f} ({summary[f'repeats_{key}_min']:.3f}-"
              f"{summary[f'repeats_{key}_max']:.3f})" for key, name in
              (("in_scope_accuracy", "in-scope accuracy"), ("oos_recall", "OOS recall"))
              if f"repeats_{key}_mean" in summary]  # fmt: skip
    if summary["repeats_goal_met"] is not None:
        judged = sum(r["goal_met"] is not None for r in rows)  # samples whose test had out-of-scope messages
        spread.append(f"the fitted thresholds met the goal in {summary['repeats_goal_met']} of {judged}")
    if spread:
        lines += ["", "Mean (least-most): " + "; ".join(spread) + "."]
    gain = fine_tuning_gain(frozen, rows) if frozen is not None else {}
    if "fine_tune_gain_points_mean" in gain:
        lines += ["", f"Against the frozen head on the same samples, fine-tuning changed in-scope accuracy with "
                      f"nothing set aside by {gain['fine_tune_gain_points_mean']:+.1f} points "
                      f"({gain['fine_tune_gain_points_min']:+.1f} to {gain['fine_tune_gain_points_max']:+.1f}); "
                      f"it was higher in {gain['fine_tune_helped']} of {len(rows)} samples."]  # fmt: skip
    return "\n".join(lines) + "\n"
