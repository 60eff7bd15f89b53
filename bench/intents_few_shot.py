"""Intent accuracy with few examples per intent, on the public sets in ../shared/data, against a TF-IDF +
logistic-regression baseline in the same run.

For each set, a stratified 20 % of its train part is held out as this script's own test; from the rest,
5, 10 and 25 examples per intent (and all) train each method:

- `tfidf+lr`: scikit-learn's TfidfVectorizer (word 1-2-grams and character 2-4-grams) and
  LogisticRegression; argmax only (it has no calibrated out-of-scope rule);
- `e5 head`: the assistant's own model, the prepared multilingual-e5-small frozen with the softmax head,
  scored as `eval intents` scores it (temperature, probability threshold and the in-scope score check
  fitted on a validation part of the train examples): accuracy by argmax, in-scope accuracy as the
  assistant acts (a message set aside as out of scope counts as wrong), and out-of-scope recall where
  the set has out-of-scope examples (CLINC150);
- `e5 + MiniLM head`: the same head over the prepared English embedder (all-MiniLM-L6-v2) beside e5
  (`JoinedEmbedder`: what `train intent` fits for a shop that speaks English only,
  `models.intent_english_features`), scored the same way;
- `+ names`: each of those two heads fitted with every intent's name in words beside its examples
  (`training.intent.name_examples`, "card_arrival" -> "card arrival"; what `train intent` does with
  `models.intent_names_as_examples`, the default), scored the same way;
- `contrastive`: `train intent --fine-tune-encoder`'s few-shot method: the encoder fine-tuned with
  sentence-transformers' trainer and `BatchAllTripletLoss` over label-grouped batches (4 epochs; the
  validation part picks the checkpoint), then the same head fitted on its embeddings (with the
  intents' names beside the examples, as `train intent` fits it) and scored the same way; alone and
  `+ MiniLM`, beside the English embedder (what a shop that speaks English only gets). Only at the
  `--fine-tune` sizes (a CPU takes minutes per run; "all" much longer). `--contrastive-names` picks
  where the names go: `head` (the default, as `train intent` does), `none`, or `pairs` (also among the
  fine-tuning's examples; at 5 per intent 0.923 / 0.879 / 0.743 on Bitext / CLINC150 / banking77
  against `head`'s 0.935 / 0.877 / 0.748, so `train intent` keeps them out).

Embeddings of the frozen models come from `eval intents`' cache. Prints a table; asserts nothing.

    .venv/bin/python bench/intents_few_shot.py [--sets banking77,clinc150,bitext] [--shots 5,10,25,0]
                                               [--fine-tune 5,10,25] [--contrastive-names head,none,pairs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from assistant.backends.embedding_cache import EmbeddingCache, cache_dir
from assistant.data.splits import stratified_split
from assistant.evaluation.intents import (
    cap_per_label,
    read_labelled,
    score_head,
)
from assistant.factory import build_embedder, with_english_features
from assistant.settings import load_settings
from assistant.training.intent import embed_names, fit_intent_head, name_examples

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
    parser.add_argument(
        "--fine-tune", default="5,10,25", help="sizes at which the contrastive method runs too"
    )
    parser.add_argument(
        "--contrastive-names",
        default="head",
        help="comma list of the contrastive runs: none (no names), head (the intents' names fitted beside the "
        "examples by the head only: what train intent does), pairs (also among the fine-tuning's examples: "
        "measured no better at 5 per intent)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = load_settings()
    embedder = build_embedder(settings, use_fine_tuned=False)
    cache = EmbeddingCache(cache_dir(settings.paths.data_dir), embedder)
    joined = EmbeddingCache(cache_dir(settings.paths.data_dir), with_english_features(settings, embedder))
    tuned_sizes = {int(s) for s in args.fine_tune.split(",") if s}
    variants = [{"none": ""}.get(v, v) for v in args.contrastive_names.split(",") if v]
    print("| set | per intent | train examples | tfidf+lr accuracy | e5 head accuracy | in-scope accuracy as acted "
          "on | OOS recall | e5 + names | as acted on | OOS recall | e5 + MiniLM head accuracy | as acted on | OOS "
          "recall | e5 + MiniLM + names | as acted on | OOS recall | "
          + "".join(f"contrastive{m} ({v or 'none'}) accuracy | as acted on | OOS recall | "
                    for v in variants for m in ("", " + MiniLM"))
          + "seconds (heads / contrastive) |")  # fmt: skip
    print("|---" * (17 + 6 * len(variants)) + "|")
    for name in args.sets.split(","):
        path, options = SETS[name]
        if not path.is_file():
            print(f"| {name} | (missing: {path}) |")
            continue
        splits = read_labelled(path, **options)
        pool = splits.get("all") or splits["train"]
        pool, test = stratified_split(pool, 0.2, seed=args.seed)  # our own test: never trained on
        for shots in [int(s) for s in args.shots.split(",")]:
            started = time.perf_counter()
            chosen = cap_per_label(pool, shots or None, seed=args.seed)
            train, validation = stratified_split(
                chosen, 0.15 if shots == 0 or shots >= 10 else 0.2, seed=args.seed + 1
            )
            labels = tuple(sorted({lab for _, lab in train}))
            index = {lab: i for i, lab in enumerate(labels)}
            y_train = np.array([index[lab] for _, lab in train])
            heads = [frozen_head(part, train, validation, test, y_train, labels, names=names)
                     for part in (cache, joined) for names in (False, True)]  # fmt: skip
            baseline = tfidf_accuracy(train + validation, test)  # the baseline sees the same examples
            seconds = time.perf_counter() - started
            tuned = ["– | – | –"] * 2 * len(variants)
            tuned_seconds = ""
            if shots in tuned_sizes:
                tuned = []
                for variant in variants:
                    started = time.perf_counter()
                    tuned += [cells(argmax, figures) for argmax, figures in contrastive(
                        embedder.model_reference, train, validation, test, y_train, labels, args.device, args.seed,
                        names=variant, english=joined)]  # fmt: skip
                    tuned_seconds += f" / {time.perf_counter() - started:.0f}"
            columns = " | ".join(cells(argmax, figures) for argmax, figures in heads)
            print(f"| {name} | {shots or 'all'} | {len(train) + len(validation)} | {baseline:.3f} | {columns} | "
                  f"{' | '.join(tuned)} | {seconds:.0f}{tuned_seconds} |", flush=True)  # fmt: skip


def cells(argmax: float, figures: dict) -> str:
    """Accuracy by argmax, in-scope accuracy as acted on, and OOS recall ("–" where the set has none)."""
    recall = figures["oos_recall"]
    return f"{argmax:.3f} | {figures['in_scope_accuracy']:.3f} | {'–' if recall is None else f'{recall:.2f}'}"


def frozen_head(cache: EmbeddingCache, train: list, validation: list, test: list, y_train: np.ndarray,
                labels: tuple[str, ...], *, names: bool = False) -> tuple[float, dict]:  # fmt: skip
    """The softmax head on a frozen model's embeddings (from `cache`; with `names`, the intents' names beside
    the examples), scored as `eval intents` scores it: (argmax accuracy, figures)."""
    quiet = lambda _: None  # noqa: E731
    x_train, x_validation, x_test = (cache.embed([t for t, _ in part], progress=quiet, label=name)
                                     for part, name in ((train, "train"), (validation, "validation"), (test, "test")))  # fmt: skip
    named = name_examples(labels) if names else []
    x_named = embed_names(
        named, lambda texts: cache.embed(texts, progress=quiet, label="names"), x_train.shape[1]
    )
    return judged(x_train, x_validation, x_named, x_test, train, validation, test, y_train, labels, named)


def judged(x_train: np.ndarray, x_validation: np.ndarray, x_named: np.ndarray, x_test: np.ndarray, train: list,
           validation: list, test: list, y_train: np.ndarray, labels: tuple[str, ...],
           named: list) -> tuple[float, dict]:  # fmt: skip
    """The head fitted on these vectors (the names' beside the examples') as `train intent` fits it, scored as
    `eval intents` scores it: (argmax accuracy, figures)."""
    head = fit_intent_head(x_train, y_train, labels, x_named=x_named, named=named)
    scored = score_head(head, x_validation, validation, x_test, test, x_train=x_train, train=train,
                        x_named=x_named, named=named)  # fmt: skip
    argmax = float(np.mean([p == g for p, g in zip(scored.predicted, scored.gold, strict=True)]))
    return argmax, scored.figures()


def contrastive(reference: str, train: list, validation: list, test: list, y_train: np.ndarray,
                labels: tuple[str, ...], device: str, seed: int, *, names: str = "",
                english: EmbeddingCache) -> list[tuple[float, dict]]:  # fmt: skip
    """The encoder fine-tuned few-shot, the head fitted on it, scored as the frozen one: (argmax accuracy,
    figures) of the tuned encoder alone and beside the English embedder (its part of `english`, the joined
    cache: what `train intent --fine-tune-encoder` fits for a shop that speaks English only). `names`: ""
    none; "head": the intents' names fitted beside the examples by the head only; "pairs": also among the
    fine-tuning's examples."""
    import tempfile

    from assistant.backends.embedding import SentenceTransformerEmbedder, join_vectors
    from assistant.backends.encoder_training import fine_tune_encoder_few_shot

    index = {lab: i for i, lab in enumerate(labels)}
    named = name_examples(labels) if names else []
    paired = named if names == "pairs" else []
    with tempfile.TemporaryDirectory() as work:
        result = fine_tune_encoder_few_shot(reference, [t for t, _ in [*train, *paired]],
                                            [*y_train, *(index[lab] for _, lab in paired)], work_dir=Path(work),
                                            dev_texts=[t for t, _ in validation],
                                            dev_labels=[index[lab] for _, lab in validation], device=device, seed=seed)  # fmt: skip
        tuned = SentenceTransformerEmbedder(str(result.model_dir), device=device)
        parts = [tuned.embed_queries([t for t, _ in part]) for part in (train, validation, test)]
        dim = parts[0].shape[1]
        parts.insert(2, embed_names(named, tuned.embed_queries, dim))
    quiet = lambda _: None  # noqa: E731
    other = lambda texts: english.embed(texts, progress=quiet, label="joined")[:, dim:]  # noqa: E731
    beside = [other([t for t, _ in part]) for part in (train, validation, test)]
    beside.insert(2, embed_names(named, other, beside[0].shape[1]))
    joined = [join_vectors(pair) for pair in zip(parts, beside, strict=True)]
    return [judged(x_train, x_validation, x_named, x_test, train, validation, test, y_train, labels, named)
            for x_train, x_validation, x_named, x_test in (parts, joined)]  # fmt: skip


if __name__ == "__main__":
    main()
