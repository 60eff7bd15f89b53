"""`eval intents` pieces: reading files with their columns and label maps, stratified splits and caps, the
embedding cache, and scoring as the assistant acts (temperature and threshold from validation, unseen
labels counted as out of scope, the threshold curve, the files of mistakes and confusions)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from assistant.data.labels import read_label_map
from assistant.data.splits import stratified_split
from assistant.errors import DataError
from assistant.evaluation.intents import (
    OOS,
    Scored,
    cap_per_label,
    fine_tuning_gain,
    hold_out_labels,
    markdown_sections,
    read_labelled,
    repeat_summary,
    repeats_section,
    sample_row,
    score_head,
    write_details,
)
from assistant.settings import OutOfScopeFit
from assistant.stages.intent_head import IntentHead
from assistant.training.intent import SCORE_SET_ASIDE_SHARE, Calibration


def test_reading_columns_label_maps_and_bad_files(tmp_path: Path) -> None:
    tsv = tmp_path / "data.tsv"
    tsv.write_text(
        "utterance\tgold\tnote\nwhere is it\ttrack\tx\nhello\tgreet\ty\nblah\tnoise\tz\n\tgreet\tw\n"
    )
    with pytest.raises(DataError, match="--text-column"):
        read_labelled(tsv)
    skipped: Counter[str] = Counter()
    pairs = read_labelled(tsv, label_column="gold", label_map={"noise": ""}, skipped=skipped)["all"]
    assert pairs == [("where is it", "track"), ("hello", "greet")]  # mapped to "" and empty text dropped
    assert skipped == {"label mapped to nothing": 1, "no text": 1}  # counted, for the report
    (tmp_path / "nulls.jsonl").write_text('{"text": null, "label": "a"}\n{"text": "b", "label": null}\n'
                                          '{"text": "c", "label": " x "}\n')  # fmt: skip
    skipped.clear()
    assert read_labelled(tmp_path / "nulls.jsonl", skipped=skipped) == {"all": [("c", "x")]}
    assert skipped == {"no text": 1, "no label": 1}  # JSON nulls are missing, not the text "None"
    clinc = tmp_path / "clinc.json"
    clinc.write_text(json.dumps({"train": [["hi", "greet"]], "oos_train": [["weather?", "oos"]],
                                 "val": [["hey", "greet"]], "oos_val": [["mars?", "oos"]]}))  # fmt: skip
    splits = read_labelled(clinc)
    assert splits["train"] == [("hi", "greet"), ("weather?", OOS)] and splits["test"][-1] == ("mars?", OOS)
    (tmp_path / "map.csv").write_text("raw,label\nnoise,other\n")
    assert read_label_map(tmp_path / "map.csv") == {"noise": "other"}
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": "b"}\nnot json\n')
    with pytest.raises(DataError, match="line 2"):
        read_labelled(tmp_path / "bad.jsonl")
    (tmp_path / "list.jsonl").write_text('{"text": "a", "label": "b"}\n["c", "d"]\n')
    with pytest.raises(DataError, match="line 2: not a JSON object"):
        read_labelled(tmp_path / "list.jsonl")
    # CLINC150-style JSON a person reshaped: a message without its label, a split that is not a list
    for bad, said in (({"train": [["hi", "greet"], ["bye"]], "val": []}, "'train' item 1 is \\[\"bye\"\\]"),
                      ({"train": [], "val": "mars?"}, "'val' should be a list")):  # fmt: skip
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(DataError, match=said):
            read_labelled(tmp_path / "bad.json")
    # an unclosed quote would otherwise read the rest of the file as one text with no label, dropped unseen
    (tmp_path / "quote.csv").write_text('text,label\nwhere is it,track\n"hello,greet\nbye,greet\n')
    with pytest.raises(DataError, match=r"line 3: not valid CSV .*quote left open"):
        read_labelled(tmp_path / "quote.csv")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled(tmp_path / "latin1.csv")


def test_splits_are_stratified_and_caps_spread_over_labels() -> None:
    pairs = (
        [(f"a{i}", "a") for i in range(40)] + [(f"b{i}", "b") for i in range(10)] + [("c0", "c"), ("c1", "c")]
    )
    rest, held = stratified_split(pairs, 0.2, seed=3)
    held_labels = [lab for _, lab in held]
    assert (
        held_labels.count("a") == 8 and held_labels.count("b") == 2 and "c" not in held_labels
    )  # too few to hold
    assert sorted(rest + held) == sorted(pairs) and stratified_split(pairs, 0.2, seed=3) == (rest, held)
    capped = cap_per_label(pairs, per_label=5, seed=0)
    assert [lab for _, lab in capped].count("a") == 5 and [lab for _, lab in capped].count("c") == 2
    few = cap_per_label(pairs, total=6, seed=0)
    assert sorted(lab for _, lab in few) == ["a", "a", "b", "b", "c", "c"]


def _head() -> IntentHead:
    # two clear directions for "track" and "refund", and an explicit out_of_scope class
    weights = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]], dtype=np.float32)
    return IntentHead(weights, np.zeros(3, dtype=np.float32), ("out_of_scope", "refund", "track"))


def test_scoring_acts_as_the_assistant_with_validation_fitted_threshold(tmp_path: Path) -> None:
    head = _head()
    track, refund, oos, vague = [0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0], [0.3, 0.35, 0.35]
    validation = [("v1", "track"), ("v2", "refund"), ("v3", "track"), ("v4", "refund")] * 5
    x_validation = np.array([track, refund, track, refund] * 5, dtype=np.float32)
    test = [("t1", "track"), ("t2", "refund"), ("t3", OOS), ("t4", "track"), ("t5", "greet")]
    x_test = np.array([track, refund, oos, vague, vague], dtype=np.float32)
    scored = score_head(head, x_validation, validation, x_test, test)
    assert (
        scored.threshold == 0.5
    )  # fitted on validation (confident there), capped at 0.5 as in `train intent`
    final = scored.final()
    assert final[:3] == ["track", "refund", OOS] and final[3] == OOS  # too unsure: acted on as out of scope
    assert scored.gold_is_oos() == [False, False, True, False, True]  # "greet" was never taught
    figures = scored.figures()
    assert figures["in_scope_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["in_scope_rejected"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["oos_recall"] == 1.0 and figures["oos_precision"] == pytest.approx(2 / 3, abs=1e-4)
    curve = scored.curve()
    assert (
        curve[0]["threshold"] == 0 and curve[0]["in_scope_rejected"] == 0.0
    )  # no threshold: nothing rejected
    assert curve[-1]["in_scope_rejected"] >= curve[0]["in_scope_rejected"]

    write_details(tmp_path, scored, test)
    mistakes = list(csv.DictReader((tmp_path / "mistakes.csv").open(encoding="utf-8")))
    assert [r["text"] for r in mistakes] == ["t4", "t5"] and mistakes[1]["gold_known_to_model"] == "False"
    assert (tmp_path / "confusion.csv").read_text().startswith("gold \\ acted on,")
    assert "greet" in (tmp_path / "per_label.csv").read_text()


def test_without_out_of_scope_examples_the_figures_still_come_from_the_threshold() -> None:
    scored = Scored(["track", "refund"], ["track", "refund"], [0.9, 0.4], ("refund", "track"), 0.5, 1.0)
    figures = scored.figures()
    assert figures["oos_recall"] is None and figures["in_scope_rejected"] == 0.5
    assert scored.figures(0.3)["in_scope_accuracy"] == 1.0


def test_the_trade_read_off_the_test_is_the_loosest_threshold_reaching_the_recall() -> None:
    gold = ["a", "a", "a", "b", OOS, OOS, OOS, OOS, OOS]
    predicted = ["a", "a", "b", "b", "a", "a", "b", OOS, "a"]
    confidence = [0.9, 0.8, 0.7, 0.95, 0.6, 0.4, 0.85, 0.9, 0.3]
    scored = Scored(gold, predicted, confidence, ("a", "b"), 0.5, 1.0)
    # one out-of-scope message is predicted so; three more must fall under the threshold: 0.3, 0.4 and 0.6
    trade = scored.at_recall(0.8)
    assert trade["threshold"] == pytest.approx(0.6) and trade["oos_recall"] == 0.8
    assert trade["in_scope_accuracy"] == 0.75  # nothing in scope is under 0.6; the 0.7 one was wrong anyway
    assert scored.at_recall(0.2)["threshold"] is None  # the predicted one alone reaches 0.2
    # the held-out answers known: the share under 0.6 is the setting that would fit it, but above the 0.5 cap on
    # the probability threshold no share does, and the report says so instead of naming one
    known = dataclasses.replace(scored, calibration=Calibration(5, confidences=(0.55, 0.7, 0.8, 0.9, 0.95)))
    assert known.at_recall(0.8)["answers_set_aside"] == 0.2
    assert "capped at 0.5" in markdown_sections(known, {}) and "would fit it" not in markdown_sections(
        known, {}
    )
    lower = dataclasses.replace(known, confidence=[0.9, 0.8, 0.7, 0.95, 0.45, 0.4, 0.85, 0.9, 0.3])
    assert (
        lower.at_recall(0.8)["threshold"] == pytest.approx(0.45)
        and lower.at_recall(0.8)["answers_set_aside"] == 0
    )
    assert "`assistant.out_of_scope_set_aside = 0.000` would fit it" in markdown_sections(lower, {})
    assert Scored(["a"], ["a"], [0.9], ("a",), 0.5, 1.0).at_recall()["in_scope_accuracy"] is None
    assert "Read off this test" in markdown_sections(scored, {})


def test_the_in_scope_score_check_is_fitted_on_validation_and_applied_to_test(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    head = _head()
    track, refund = np.array([0, 0, 1.0]), np.array([0, 1.0, 0])
    train = [("a", "track"), ("b", "refund")] * 10
    x_train = np.array([track, refund] * 10, dtype=np.float32) + rng.normal(0, 0.05, (20, 3)).astype(
        np.float32
    )
    validation = [("v", "track"), ("w", "refund")] * 100
    x_validation = np.array([track, refund] * 100, dtype=np.float32) + rng.normal(0, 0.1, (200, 3)).astype(
        np.float32
    )
    # t3 lies between the two intents, far from both centroids; the head still leans to "track", and its
    # calibrated probability clears the threshold
    test = [("t1", "track"), ("t2", "refund"), ("t3", OOS)]
    x_test = np.array([track, refund, [0.0, 0.62, 0.78]], dtype=np.float32)
    off = score_head(head, x_validation, validation, x_test, test, x_train=x_train, train=train,
                     similarity_check=False)  # fmt: skip
    assert off.final() == ["track", "refund", "track"] and not off.checked()
    # with the check off the curve moves the probability threshold; the share is of the answers' probabilities
    assert off.answers_set_aside(0.0) == 0.0 and off.answers_set_aside(1.01) == 1.0
    assert all(row["answers_set_aside"] is not None for row in off.curve())
    scored = score_head(head, x_validation, validation, x_test, test, x_train=x_train, train=train)
    assert scored.score_threshold is not None and scored.threshold == 0.0  # the score decides alone
    assert scored.scores[2] < scored.score_threshold < min(scored.scores[:2])
    assert scored.final() == ["track", "refund", OOS] and scored.figures()["oos_recall"] == 1.0
    assert scored.final(score_threshold=-np.inf)[2] != OOS  # without the score it would not be set aside
    trade = scored.at_recall()
    assert trade == {"threshold": pytest.approx(scored.scores[2], abs=1e-3), "in_scope_accuracy": 1.0,
                     "oos_recall": 1.0, "answers_set_aside": trade["answers_set_aside"]}  # fmt: skip
    # a looser threshold than the fitted one: it sets aside fewer of the held-out answers than the fitted share
    assert 0 <= trade["answers_set_aside"] < SCORE_SET_ASIDE_SHARE
    curve = scored.curve()
    assert "score_threshold" in curve[0] and curve[-1]["in_scope_rejected"] >= curve[0]["in_scope_rejected"]
    shares = [row["answers_set_aside"] for row in curve]  # the setting's value for each row, rising with it
    assert shares == sorted(shares) and all(0 <= v <= 1 for v in shares)
    assert scored.answers_set_aside(scored.score_threshold) == pytest.approx(SCORE_SET_ASIDE_SHARE, abs=0.005)
    report = markdown_sections(scored, {}, off)
    assert "in-scope score" in report and "held-out answers set aside" in report
    assert f"`assistant.in_scope_score_set_aside = {trade['answers_set_aside']:.3f}` would fit it" in report
    # 200 validation answers are few, so the 20 train examples' out-of-fold answers join them; the report
    # says what the thresholds rest on, and that it is still few
    assert scored.calibration.answers == 220 and scored.calibration.cross_fitted == 20
    assert "read from 220 correct answers: 20 of them train examples" in report and "Fewer than 300" in report
    alone = score_head(
        head, x_validation, validation, x_test, test, x_train=x_train, train=train, cross_fit=False
    )
    assert alone.calibration.answers == 200 and alone.calibration.cross_fitted == 0
    assert "read from 200 correct validation answers" in markdown_sections(alone, {})
    many = dataclasses.replace(
        scored, calibration=dataclasses.replace(scored.calibration, answers=5000, cross_fitted=0)
    )
    assert "Fewer than" not in markdown_sections(many, {}, off)
    write_details(tmp_path, scored, [("t1", "track"), ("t2", "refund"), ("t3", "track")])
    mistakes = list(csv.DictReader((tmp_path / "mistakes.csv").open(encoding="utf-8")))
    assert mistakes[0]["text"] == "t3" and float(mistakes[0]["in_scope_score"]) < scored.score_threshold


def test_the_report_says_when_labelled_out_of_scope_messages_set_the_score_threshold() -> None:
    """Train and validation parts with out-of-scope examples (60 + 5, the 60 scored out of fold): the score
    threshold is read from them for the recall goal, and the report says so and what it catches; with no goal
    the share decides, and the report says what would read it from them instead."""
    from assistant.stages.intent_head import fit_softmax_regression

    rng = np.random.default_rng(3)
    names = ("out_of_scope", "refund", "track")
    centres = np.array([[0, 0.6, 0.6], [0, 1.0, 0], [0, 0, 1.0]], dtype=np.float32)

    def part(counts: tuple[int, int, int]) -> tuple[list[tuple[str, str]], np.ndarray]:
        y = np.repeat(np.arange(3), counts)
        x = centres[y] + rng.normal(0, 0.15, (len(y), 3)).astype(np.float32)
        return [(f"m{i}", names[k]) for i, k in enumerate(y)], x

    train, x_train = part((60, 80, 80))
    validation, x_validation = part((5, 100, 100))
    test, x_test = part((40, 40, 40))
    x_test[:40] += np.array([0.9, 0.3, 0.3], dtype=np.float32) - centres[0]  # unlike the labelled ones
    weights, bias = fit_softmax_regression(x_train, np.repeat(np.arange(3), (60, 80, 80)), 3, epochs=200)
    scored = score_head(IntentHead(weights, bias, names), x_validation, validation, x_test, test,
                        x_train=x_train, train=train, fit=OutOfScopeFit(0.02, 0.015, 0.9, 0.0, 0.5))  # fmt: skip
    cal = scored.calibration
    assert (
        cal.out_of_scope_messages == 65
        and cal.out_of_scope_cross_fitted == 60
        and cal.out_of_scope_caught >= 0.9
    )
    report = markdown_sections(scored, {})
    assert "read from 65 labelled out-of-scope messages held out, 60 of them train examples" in report
    assert f"it catches {cal.out_of_scope_caught:.3f} of them" in report
    # the share that would fit the test's trade is named with the recall goal turned off, which it needs
    assert "with `assistant.out_of_scope_recall = 0` `assistant.in_scope_score_set_aside = " in report
    share = score_head(IntentHead(weights, bias, names), x_validation, validation, x_test, test,
                       x_train=x_train, train=train, fit=OutOfScopeFit(0.02, 0.015, 0.0, 0.0, 0.5))  # fmt: skip
    assert share.calibration.out_of_scope_messages == 0
    assert "with 50 labelled out-of-scope messages held out" in markdown_sections(share, {})


def test_repeats_give_each_samples_figures_the_spread_and_how_often_the_goal_was_met() -> None:
    gold = ["a", "a", "a", "b", OOS, OOS, OOS, OOS, OOS]
    predicted = ["a", "a", "b", "b", "a", "a", "b", OOS, "a"]
    confidence = [0.9, 0.8, 0.7, 0.95, 0.6, 0.4, 0.85, 0.9, 0.3]
    loose = Scored(gold, predicted, confidence, ("a", "b"), 0.5, 1.0)  # 0.6 passes: recall 3 of 5
    tight = dataclasses.replace(loose, threshold=0.65)  # 0.6 is set aside too, nothing in scope is
    no_oos = Scored(["a", "b"], ["a", "b"], [0.9, 0.4], ("a", "b"), 0.5, 1.0)
    rows = [sample_row(0, 9, loose), sample_row(1, 9, tight), sample_row(2, 2, no_oos)]
    assert rows[0]["oos_recall"] == 0.6 and rows[0]["points_below"] == 0 and rows[0]["goal_met"] is False
    assert rows[0]["points_below_at_recall_goal"] == 0  # the test allows recall 0.8 at no cost in scope
    assert (
        rows[1]["oos_recall"] == 0.8 and rows[1]["in_scope_accuracy"] == 0.75 and rows[1]["goal_met"] is True
    )
    assert rows[2]["goal_met"] is None and rows[2]["points_below"] == 50.0  # "b" set aside, "a" right
    summary = repeat_summary(rows)
    assert summary["repeats"] == 3 and summary["repeats_goal_met"] == 1
    assert (
        summary["repeats_oos_recall_mean"] == pytest.approx(0.7) and summary["repeats_oos_recall_min"] == 0.6
    )
    assert summary["repeats_points_below_max"] == 50.0
    assert repeat_summary([rows[2]])["repeats_goal_met"] is None
    section = repeats_section(rows)
    assert section.startswith("## Over 3 samples of the data (`--repeats`)")
    assert "| 1 | 9 | 0.750 | 0.750 | 0.0 | 1.000 | 0.800 | 0.0 | yes |" in section
    assert "| 2 | 2 | 0.500 | 1.000 | 50.0 | – | – | – | – |" in section
    assert "OOS recall 0.700 (0.600-0.800)" in section and "met the goal in 1 of 2." in section


def test_fine_tuned_samples_are_summed_apart_and_compared_with_the_frozen_head_sample_by_sample() -> None:
    frozen = [{"best": 0.80, "in_scope_accuracy": 0.78}, {"best": 0.70, "in_scope_accuracy": 0.70},
              {"best": 0.90, "in_scope_accuracy": None}]  # fmt: skip
    tuned = [{"best": 0.85, "in_scope_accuracy": 0.80}, {"best": 0.69, "in_scope_accuracy": 0.66},
             {"best": 0.90, "in_scope_accuracy": 0.88}]  # fmt: skip
    gain = fine_tuning_gain(frozen, tuned)
    assert gain["fine_tune_gain_points_min"] == -1.0 and gain["fine_tune_gain_points_max"] == 5.0
    assert gain["fine_tune_gain_points_mean"] == pytest.approx(4 / 3, abs=0.01)
    assert gain["fine_tune_helped"] == 1  # higher in one sample, lower in one, level in one
    assert gain["fine_tune_gain_points_acted_on_mean"] == -1.0  # the sample without a figure is left out
    assert fine_tuning_gain([], []) == {}
    gold, predicted = ["a", "b", OOS], ["a", "b", "a"]
    rows = [sample_row(seed, 3, Scored(gold, predicted, [0.9, 0.8, c], ("a", "b"), 0.5, 1.0))
            for seed, c in ((4, 0.3), (5, 0.7))]  # fmt: skip
    summary = repeat_summary(rows, "repeats_fine_tuned_")
    assert summary["repeats_fine_tuned"] == 2 and summary["repeats_fine_tuned_goal_met"] == 1
    assert "repeats" not in summary and summary["repeats_fine_tuned_oos_recall_mean"] == 0.5
    frozen_rows = [dict(r, best=r["best"] - 0.1) for r in rows]
    section = repeats_section(rows, frozen=frozen_rows)
    assert section.startswith("## Over 2 samples of the data, fine-tuned encoder (`--repeats`)")
    assert "fine-tunes the encoder on them" in section
    assert "by +10.0 points (+10.0 to +10.0); it was higher in 2 of 2 samples." in section
    assert "fine-tuned" not in repeats_section(rows) and "Against the frozen head" not in repeats_section(
        rows
    )


def test_eval_intents_refuses_repeats_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.__main__ import main

    (tmp_path / "intents.csv").write_text("text,label\nwhere is it,track\nmoney back,refund\n")
    for repeats in ("0", "21"):
        code = main(["--set", f"paths.data_dir={tmp_path}", "eval", "intents", "--data", str(tmp_path / "intents.csv"),
                     "--repeats", repeats])  # fmt: skip
        captured = capsys.readouterr()
        assert code != 0 and "--repeats must be between 1 and 20" in captured.out + captured.err


def test_held_out_intents_are_a_seeded_share_never_out_of_scope_and_leave_two() -> None:
    pairs = [(f"m{i}-{k}", f"intent{k}") for k in range(10) for i in range(3)] + [("weather?", OOS)]
    held = hold_out_labels(pairs, 0.2, seed=4)
    assert len(held) == 2 and OOS not in held and set(held) <= {f"intent{k}" for k in range(10)}
    assert hold_out_labels(pairs, 0.2, seed=4) == held  # the seed decides
    assert {hold_out_labels(pairs, 0.2, seed=s) for s in range(6)} != {held}  # another seed, other intents
    assert len(hold_out_labels(pairs, 0.01, seed=0)) == 1  # at least one
    with pytest.raises(DataError, match="leave 1 of the 10 intents"):
        hold_out_labels(pairs, 0.9, seed=0)


def test_the_report_names_the_intents_held_out_of_training() -> None:
    scored = Scored(["track", "gift", "gift"], ["track", "track", OOS], [0.9, 0.6, 0.5], ("track", "refund"),
                    0.3, 1.0)  # fmt: skip
    text = markdown_sections(scored, {}, held_out={"gift": 2})
    assert "## Intents held out of training (`--hold-out-intents`" in text
    assert "1 intent, 2 test messages" in text and "- gift: 2" in text
    assert "Intents held out" not in markdown_sections(scored, {})


def test_eval_intents_refuses_a_hold_out_share_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.__main__ import main

    (tmp_path / "intents.csv").write_text("text,label\nwhere is it,track\nmoney back,refund\n")
    for share in ("-0.1", "1", "1.5"):
        code = main(["--set", f"paths.data_dir={tmp_path}", "eval", "intents", "--data", str(tmp_path / "intents.csv"),
                     "--hold-out-intents", share])  # fmt: skip
        captured = capsys.readouterr()
        assert (
            code != 0 and "--hold-out-intents must be a share of the intents" in captured.out + captured.err
        )
