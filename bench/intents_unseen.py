"""Out of scope for a shop without any out-of-scope examples: a quarter of each public set's intents held
out of training, their messages the out-of-scope ones (near the shop's own topics, so harder than CLINC150's
out-of-scope set), on banking77, Bitext and CLINC150's in-scope intents.

For each set, seed and size: the intents left out are drawn (seeded), a stratified 20 % of all messages is
the test, 15 % of the rest validation; the head is fitted and its thresholds read as `eval intents` and
`train intent` do (`evaluation.intents.score_head`: temperature, probability threshold, in-scope score with
the train examples' out-of-fold answers when validation has few). Printed: the best in-scope accuracy
(nothing set aside), in-scope accuracy / OOS recall as acted on with the in-scope score check off and on, and
the trade the score allows read off the test (in-scope accuracy where OOS recall first reaches 0.80, and the
share of held-out answers that threshold sets aside: the `assistant.in_scope_score_set_aside` that would fit
it). Issue 19's goal: recall >= 0.80 within 2 points of the best. Prints figures; asserts nothing.

With `--labelled-outside 0.5`, half of the left-out intents are a shop's labelled out-of-scope turns
instead: their messages in the train part are labelled `out_of_scope` (capped per intent like the others),
so with 50 of them held out the score threshold is read from them for `assistant.out_of_scope_recall`. The
last column then splits the recall with the check on between the test messages of those intents (topics
the shop labelled as out of scope) and of the rest (topics nobody labelled).

    .venv/bin/python bench/intents_unseen.py [--sets banking77,bitext,clinc150] [--shots 5,10,0] [--seeds 0,1]
                                             [--labelled-outside 0.5] [--recall 0] [--english-features]
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import numpy as np
from intents_few_shot import SETS

from assistant.backends.embedding_cache import EmbeddingCache, cache_dir
from assistant.data.splits import stratified_split
from assistant.evaluation.intents import OOS, cap_per_label, read_labelled, score_head
from assistant.factory import build_embedder, with_english_features
from assistant.settings import load_settings
from assistant.stages.intent_head import IntentHead, fit_softmax_regression
from assistant.training.intent import OUT_OF_SCOPE_FIT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="banking77,bitext,clinc150")
    parser.add_argument("--english-features", action="store_true",
                        help="the head over the English embedder beside e5 (models.intent_english_features)")  # fmt: skip
    parser.add_argument("--shots", default="5,10,0", help="examples per seen intent; 0 = all")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--unseen-share", type=float, default=0.25, help="share of intents held out of training"
    )
    parser.add_argument("--labelled-outside", type=float, default=0.0,
                        help="share of the left-out intents whose train messages are labelled out of scope")  # fmt: skip
    parser.add_argument("--recall", type=float, default=OUT_OF_SCOPE_FIT.recall,
                        help="assistant.out_of_scope_recall for the fit (0: the share decides)")  # fmt: skip
    args = parser.parse_args()
    settings = load_settings()
    embedder = build_embedder(settings, use_fine_tuned=False)
    if args.english_features:
        embedder = with_english_features(settings, embedder)
    cache = EmbeddingCache(cache_dir(settings.paths.data_dir), embedder)
    quiet = lambda _: None  # noqa: E731
    print("| set | per intent | seed | intents seen / left out | test in scope / out | best | check off: in-scope "
          "/ recall | check on: in-scope / recall (below best) | curve at recall 0.80: in-scope (below best) "
          "/ share |" + (" labelled out-of-scope messages held out / recall on their topics, on the others |"
                         if args.labelled_outside else ""))  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if args.labelled_outside else ""))
    for name in args.sets.split(","):
        path, options = SETS[name]
        splits = read_labelled(path, **options)
        everything = [p for p in (splits.get("all") or splits["train"] + splits["test"]) if p[1] != OOS]
        labels = sorted({lab for _, lab in everything})
        for seed in [int(s) for s in args.seeds.split(",")]:
            unseen = set(random.Random(seed).sample(labels, round(args.unseen_share * len(labels))))
            pool, test = stratified_split(everything, 0.2, seed=seed)
            labelled = set(sorted(unseen)[: round(args.labelled_outside * len(unseen))])
            pool = [(t, OOS if lab in labelled else lab) for t, lab in pool if lab not in unseen - labelled]
            x_test = cache.embed([t for t, _ in test], progress=quiet, label="test")
            for shots in [int(s) for s in args.shots.split(",")]:
                chosen = cap_per_label(pool, shots or None, seed=seed)
                train, validation = stratified_split(chosen, 0.15, seed=seed + 1)
                seen = tuple(sorted({lab for _, lab in train}))  # with `out_of_scope` when some are labelled
                index = {lab: i for i, lab in enumerate(seen)}
                x_train = cache.embed([t for t, _ in train], progress=quiet, label="train")
                x_validation = cache.embed([t for t, _ in validation], progress=quiet, label="validation")
                weights, bias = fit_softmax_regression(x_train, np.array([index[lab] for _, lab in train]),
                                                       len(seen))  # fmt: skip
                row = []
                for check in (False, True):
                    scored = score_head(IntentHead(weights, bias, seen), x_validation, validation, x_test, test,
                                        x_train=x_train, train=train, similarity_check=check,
                                        fit=dataclasses.replace(OUT_OF_SCOPE_FIT, recall=args.recall))  # fmt: skip
                    figures = scored.figures()
                    best = figures["in_scope_accuracy_nothing_set_aside"] or 0.0
                    row.append(f"{figures['in_scope_accuracy']:.3f} / {figures['oos_recall']:.2f}"
                               + (f" ({100 * (best - (figures['in_scope_accuracy'] or 0)):.1f})" if check else ""))  # fmt: skip
                trade = scored.at_recall()
                curve = (f"{trade['in_scope_accuracy']:.3f} ({100 * (best - (trade['in_scope_accuracy'] or 0)):.1f}) "
                         f"/ {trade['answers_set_aside'] if trade['answers_set_aside'] is not None else '–'}")  # fmt: skip
                out = sum(scored.gold_is_oos())
                split = ""
                if labelled:
                    final = scored.final()
                    caught = [[f == OOS for f, (_, lab) in zip(final, test, strict=True) if lab in group]
                              for group in (labelled, unseen - labelled)]  # fmt: skip
                    split = (f" {scored.calibration.out_of_scope_messages} / {np.mean(caught[0]):.2f}, "
                             f"{np.mean(caught[1]):.2f} |")  # fmt: skip
                print(f"| {name} | {shots or 'all'} | {seed} | {len(seen) - bool(labelled)} / {len(unseen)} | "
                      f"{len(test) - out} / {out} | {best:.3f} | {row[0]} | {row[1]} | {curve} |{split}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
