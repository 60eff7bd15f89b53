"""Intent accuracy with few examples per intent, on the public sets in ../shared/data, against a TF-IDF +
logistic-regression baseline in the same run.

For each set, a stratified 20 % of its train part is held out as this script's own test; from the rest,
5, 10 and 25 examples per intent (and all) train each method:

- `tfidf+lr`: scikit-learn's TfidfVectorizer (word 1-2-grams and character 2-4-grams) and
  LogisticRegression; argmax only (it has no calibrated out-of-scope rule);
- `e5 head`: the assistant's own model, the prepared multilingual-e5-small frozen with the softmax head,
  scored as `eval intents` scores it (temperature and threshold from a validation part of the train
  examples): accuracy by argmax, in-scope accuracy with the threshold, and out-of-scope recall where
  the set has out-of-scope examples (CLINC150).

Embeddings come from `eval intents`' cache. Prints a table; asserts nothing.

    .venv/bin/python bench/intents_few_shot.py [--sets banking77,clinc150,bitext] [--shots 5,10,25,0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from assistant.evaluation.intents import (
    EmbeddingCache,
    cap_per_label,
    read_labelled,
    score_head,
    stratified_split,
)
from assistant.factory import build_embedder
from assistant.settings import load_settings
from assistant.stages.intent_head import IntentHead, fit_softmax_regression

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = {
    "banking77": (DATA / "banking77" / "train.csv", {}),
    "clinc150": (DATA / "clinc150" / "data_trainval.json", {}),
    "bitext": (
        DATA / "bitext" / "bitext_train.csv",
        {"text_column": "instruction", "label_column": "intent"},
    ),
}


def tfidf_accuracy(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> float:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1)
    x_train = hstack([words.fit_transform([t for t, _ in train]), chars.fit_transform([t for t, _ in train])])
    x_test = hstack([words.transform([t for t, _ in test]), chars.transform([t for t, _ in test])])
    model = LogisticRegression(max_iter=2000, C=10.0)
    model.fit(x_train, [lab for _, lab in train])
    predicted = model.predict(x_test)
    return float(np.mean([p == g for p, (_, g) in zip(predicted, test, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="banking77,clinc150,bitext")
    parser.add_argument("--shots", default="5,10,25,0", help="examples per intent; 0 = all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = load_settings()
    embedder = build_embedder(settings, use_fine_tuned=False)
    cache = EmbeddingCache(settings.paths.data_dir / "cache" / "embeddings", embedder)
    quiet = lambda _: None  # noqa: E731
    print("| set | per intent | train examples | tfidf+lr accuracy | e5 head accuracy | e5 head in-scope accuracy "
          "(with threshold) | OOS recall | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        path, options = SETS[name]
        if not path.is_file():
            print(f"| {name} | (missing: {path}) |")
            continue
        splits = read_labelled(path, **options)
        pool = splits.get("all") or splits["train"]
        pool, test = stratified_split(pool, 0.2, seed=args.seed)  # our own test: never trained on
        x_all_test = cache.embed([t for t, _ in test], progress=quiet, label="test")
        for shots in [int(s) for s in args.shots.split(",")]:
            started = time.perf_counter()
            chosen = cap_per_label(pool, shots or None, seed=args.seed)
            train, validation = stratified_split(
                chosen, 0.15 if shots == 0 or shots >= 10 else 0.2, seed=args.seed + 1
            )
            labels = tuple(sorted({lab for _, lab in train}))
            index = {lab: i for i, lab in enumerate(labels)}
            x_train = cache.embed([t for t, _ in train], progress=quiet, label="train")
            x_validation = cache.embed([t for t, _ in validation], progress=quiet, label="validation")
            weights, bias = fit_softmax_regression(
                x_train, np.array([index[lab] for _, lab in train]), len(labels)
            )
            scored = score_head(IntentHead(weights, bias, labels), x_validation, validation, x_all_test, test)
            argmax = float(np.mean([p == g for p, g in zip(scored.predicted, scored.gold, strict=True)]))
            figures = scored.figures()
            baseline = tfidf_accuracy(train + validation, test)  # the baseline sees the same examples
            recall = figures["oos_recall"]
            print(f"| {name} | {shots or 'all'} | {len(train) + len(validation)} | {baseline:.3f} | {argmax:.3f} | "
                  f"{figures['in_scope_accuracy']:.3f} | {'–' if recall is None else f'{recall:.2f}'} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
