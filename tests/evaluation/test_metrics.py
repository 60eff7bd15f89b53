"""Every metric on micro examples computed by hand."""

from __future__ import annotations

import math

import pytest

from assistant.evaluation import metrics as m


def test_accuracy_and_macro_f1() -> None:
    gold = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "c"]
    assert m.accuracy(gold, predicted) == 0.75
    # a: p=1 r=.5 f=2/3; b: p=.5 r=1 f=2/3; c: f=1 -> (2/3+2/3+1)/3
    assert m.macro_f1(gold, predicted) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m.accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        m.accuracy(["a"], [])


def test_ranking_metrics() -> None:
    ranked = ["x", "g1", "y", "g2"]
    gold = {"g1", "g2"}
    assert m.recall_at_k(gold, ranked, 2) == 0.5
    assert m.recall_at_k(gold, ranked, 4) == 1.0
    assert m.reciprocal_rank(gold, ranked) == 0.5
    assert m.hit_at_k(gold, ranked, 1) == 0.0 and m.hit_at_k(gold, ranked, 2) == 1.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert m.ndcg_at_k({"g1": 1, "g2": 1}, ranked, 10) == pytest.approx(dcg / idcg)
    graded = m.ndcg_at_k({"g1": 2, "g2": 1}, ["g2", "g1"], 10)
    assert graded == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert m.ndcg_at_k({}, ranked, 10) == 0.0


def test_precision_recall_and_slots() -> None:
    assert m.precision_recall([(True, True), (False, True), (True, False), (False, False)]) == (0.5, 0.5)
    assert m.precision_recall([]) == (0.0, 0.0)
    tp, predicted, gold = m.slot_counts({"colour": "Black", "size": "M"}, {"colour": "black", "brand": "Koa"})
    assert (tp, predicted, gold) == (1, 2, 2)
    assert m.f1_from_counts(1, 2, 2) == 0.5


def test_percentile() -> None:
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile([10], 95) == 10
    assert m.percentile([], 50) == 0.0


def test_text_overlap_scores() -> None:
    assert m.chrf("the parcel shipped today", "the parcel shipped today") == pytest.approx(100.0)
    assert m.chrf("completely different", "the parcel shipped today") < 30
    assert m.rouge_l("订单已发货", "订单已经发货了") == pytest.approx(2 * 1.0 * (5 / 7) / (1 + 5 / 7))
    assert m.rouge_l("a b c", "a b c") == 1.0
