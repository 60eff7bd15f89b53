"""Does another head or score separate out-of-scope messages better than the assistant's at few examples per
intent? Tries kept here so their figures can be rerun; none of them is what `train intent` does.

Variants (comma-separated, each against the first, normally `plain`):
- `plain`: the head and in-scope score `train intent` fits (softmax regression, L2 1e-5; z(top logit) +
  z(similarity to the best intent's centroid)) without the intents' names (`models.intent_names_as_examples`
  off); every other variant is this one changed;
- `l2=X`: the same head fitted with L2 strength X;
- `mixup=K`: K virtual out-of-scope examples per in-scope training example, each a unit mix (weight 0.2-0.8)
  of two training examples of different intents, trained as `out_of_scope` ("between two intents is
  neither"); the labelled-recall fit is off for all variants so these never set the threshold;
- `centre`: every vector moved by minus the training examples' mean before the head, centroids and
  similarities (the embedders' spaces are anisotropic: any two messages have a high cosine);
- `names=K`: each intent's name in words (`training.intent.name_examples`, "card_arrival" -> "card arrival")
  fitted K times beside its training examples, in the centroids and every fold head and never scored as an
  answer: with K = 1 what `train intent` does by default;
- `top-weight=W`: the current head, scored W·z(top logit) + z(centroid similarity) (read off the test only:
  no threshold is fitted for it).

Two kinds of out-of-scope message: `--outside far` tests on CLINC150's validation file (3,000 in scope, 100
off-topic questions), trained on its train file; `--outside near` holds a fifth of a set's intents out of
training (`evaluation.intents.hold_out_labels`, drawn per sample) and tests on a stratified 20 % of the rest
plus every message of those intents (a shop's unlabelled requests). Per variant, the mean over the samples:
the best in-scope accuracy (nothing set aside), the in-scope accuracy where OOS recall first reaches 0.80
(read off the test) and its points below the variant's own best, the fitted threshold's points below and
recall (issue 19's goal: recall >= 0.80 within 2 points), and the OOS recall reachable while in-scope accuracy
stays within 2 and 3 points of the *first* variant's best (so a variant that lowers its own best gains
nothing by it). Prints figures; asserts nothing.

    .venv/bin/python bench/intents_head_variants.py [--outside far|near] [--set banking77] [--per-label 5]
                                                    [--samples 4] [--variants plain,names=1,l2=1e-4,mixup=2,top-weight=0.25,centre]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from intents_few_shot import SETS

from assistant.backends.embedding_cache import EmbeddingCache, cache_dir
from assistant.data.splits import stratified_split
from assistant.evaluation.intents import (
    OOS,
    Scored,
    cap_per_label,
    hold_out_labels,
    read_labelled,
    score_head,
)
from assistant.factory import build_embedder, with_english_features
from assistant.settings import load_settings
from assistant.stages.intent_head import unit_rows
from assistant.training.intent import OUT_OF_SCOPE_FIT, embed_names, fit_intent_head, name_examples

Pairs = list[tuple[str, str]]


def mixed(x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` (fewer where a draw paired one intent with itself) unit mixes of two examples of different
    intents, scaled to the first one's norm."""
    first, second = rng.integers(0, len(x), count), rng.integers(0, len(x), count)
    keep = y[first] != y[second]
    first, second = first[keep], second[keep]
    weight = rng.uniform(0.2, 0.8, len(first))[:, None]
    return unit_rows(weight * x[first] + (1 - weight) * x[second]) * np.linalg.norm(x[first], axis=1)[:, None]


def recall_within(scored: Scored, signal: np.ndarray, floor: float) -> float:
    """The highest OOS recall any threshold on `signal` reaches while in-scope accuracy stays >= `floor`."""
    oos = np.array(scored.gold_is_oos())
    said_oos = np.array([p == OOS for p in scored.predicted])
    right = np.array([p == g for p, g in zip(scored.predicted, scored.gold, strict=True)])
    best = 0.0
    for threshold in np.unique(np.quantile(signal, np.linspace(0, 0.6, 600))):
        rejected = said_oos | (signal < threshold)
        if (right & ~rejected)[~oos].mean() >= floor - 1e-9:
            best = max(best, float(rejected[oos].mean()))
    return best


def samples(args: argparse.Namespace) -> list[tuple[Pairs, Pairs, Pairs]]:
    """(train, validation, test) per sample, as the bench's docstring says."""
    out = []
    for seed in range(args.seed, args.seed + args.samples):
        if args.outside == "far":
            parts = read_labelled(SETS["clinc150"][0])
            pool, test = parts["train"], parts["test"]
        else:
            path, options = SETS[args.set]
            splits = read_labelled(path, **options)
            everything = [p for p in (splits.get("all") or splits["train"] + splits["test"]) if p[1] != OOS]
            held = set(hold_out_labels(everything, 0.2, seed=seed))
            pool, test = stratified_split(everything, 0.2, seed=seed)
            test = [(t, OOS if lab in held else lab) for t, lab in test] + [
                (t, OOS) for t, lab in pool if lab in held
            ]
            pool = [p for p in pool if p[1] not in held]
        train, validation = stratified_split(cap_per_label(pool, args.per_label or None, seed=seed), 0.15,
                                             seed=seed + 1)  # fmt: skip
        out.append((train, validation, test))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outside", choices=("far", "near"), default="far")
    parser.add_argument("--set", default="banking77", choices=sorted(SETS), help="with --outside near")
    parser.add_argument("--per-label", type=int, default=5, help="train examples per intent (0 = all)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="plain,names=1,l2=1e-4,mixup=2,top-weight=0.25,centre")
    parser.add_argument("--e5-only", action="store_true", help="without the English embedder beside e5")
    args = parser.parse_args()
    settings = load_settings()
    embedder = build_embedder(settings, use_fine_tuned=False)
    if not args.e5_only:
        embedder = with_english_features(settings, embedder)
    cache = EmbeddingCache(cache_dir(settings.paths.data_dir), embedder)
    quiet = lambda _: None  # noqa: E731
    fit = dataclasses.replace(OUT_OF_SCOPE_FIT, recall=0.0)  # the share decides, for every variant alike
    variants = args.variants.split(",")
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for number, (train, validation, test) in enumerate(samples(args)):
        x_train, x_validation, x_test = (cache.embed([t for t, _ in part], progress=quiet, label=name)
                                         for part, name in ((train, "train"), (validation, "validation"),
                                                            (test, "test")))  # fmt: skip
        reference = 0.0
        for variant in variants:
            kind, _, value = variant.partition("=")
            examples, vectors, l2 = list(train), x_train, float(value) if kind == "l2" else 1e-5
            seen_validation, seen_test = x_validation, x_test
            if kind == "centre":  # the embedder's space is anisotropic: every pair of messages is alike
                mean = x_train.mean(axis=0)
                vectors, seen_validation, seen_test = x_train - mean, x_validation - mean, x_test - mean
            named: list[tuple[str, str]] = []
            if kind == "names":
                named = name_examples(sorted({lab for _, lab in train})) * int(value)
            if kind == "mixup":
                seen = sorted({lab for _, lab in train})
                inside = np.array([lab != OOS for _, lab in train])
                y = np.array([seen.index(lab) for _, lab in train])
                virtual = mixed(x_train[inside], y[inside], round(float(value) * inside.sum()),
                                np.random.default_rng(args.seed + number))  # fmt: skip
                vectors = np.concatenate([x_train, virtual])
                examples += [("", OOS)] * len(virtual)
            x_named = embed_names(named, lambda texts: cache.embed(texts, progress=quiet, label="names"),
                                  vectors.shape[1])  # fmt: skip
            labels = tuple(sorted({lab for _, lab in examples}))
            targets = np.array([labels.index(lab) for _, lab in examples])
            head = fit_intent_head(vectors, targets, labels, x_named=x_named, named=named, l2=l2)
            scored = score_head(head, seen_validation, validation, seen_test, test, x_train=vectors,
                                train=examples, fit=fit, x_named=x_named, named=named)  # fmt: skip
            signal = np.array(scored.scores)
            if kind == "top-weight" and head.score_scale is not None and head.centroids is not None:
                logits = head.logits(x_test)
                near = np.sum(unit_rows(x_test) * head.centroids[logits.argmax(axis=1)], axis=1)
                top_mean, top_spread, near_mean, near_spread = head.score_scale
                signal = (
                    float(value) * (logits.max(axis=1) - top_mean) / top_spread
                    + (near - near_mean) / near_spread
                )
            figures = scored.figures()
            best = figures["in_scope_accuracy_nothing_set_aside"] or 0.0
            reference = reference or best
            fitted = kind != "top-weight"
            # the trade read off the test (`Scored.at_recall`) on this variant's signal
            read_off = dataclasses.replace(scored, scores=[float(v) for v in signal]).at_recall()
            row = {"best": best, "at_recall": read_off["in_scope_accuracy"] or 0.0,
                   "fitted_below": 100 * (best - (figures["in_scope_accuracy"] or 0.0)) if fitted else np.nan,
                   "fitted_recall": (figures["oos_recall"] or 0.0) if fitted else np.nan,
                   "within_2": recall_within(scored, signal, reference - 0.02),
                   "within_3": recall_within(scored, signal, reference - 0.03)}  # fmt: skip
            row["met"] = (
                float(row["fitted_recall"] >= 0.8 and row["fitted_below"] <= 2.0) if fitted else np.nan
            )
            rows[variant].append(row)
            print(
                f"sample {number}: {variant}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()),
                flush=True,
            )
    where = (
        "CLINC150's off-topic questions"
        if args.outside == "far"
        else f"{args.set}, a fifth of the intents held out"
    )
    print(f"\n{where}, {args.per_label or 'all'} per intent, {args.samples} samples (means)")
    print(
        "| variant | best in-scope | in-scope at recall 0.80 (below own best) | fitted: below best / recall "
        "/ goal met | recall within 2 / 3 points of the first's best |"
    )
    print("|---|---|---|---|---|")
    for variant, found in rows.items():
        mean = {k: float(np.mean([r[k] for r in found])) for k in found[0]}
        met = "–" if np.isnan(mean["met"]) else f"{round(mean['met'] * len(found))} of {len(found)}"
        fitted = ("–" if np.isnan(mean["fitted_below"])
                  else f"{mean['fitted_below']:.1f} / {mean['fitted_recall']:.2f} / {met}")  # fmt: skip
        print(f"| {variant} | {mean['best']:.3f} | {mean['at_recall']:.3f} ({100 * (mean['best'] - mean['at_recall']):.1f}) "
              f"| {fitted} | {mean['within_2']:.2f} / {mean['within_3']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
