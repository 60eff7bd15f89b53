"""Eval suites: `replay` (held-out conversations of a shop folder), `intents` (text,label data) and
`retrieval` (corpus, queries, graded qrels). Each writes `evals/results/<run>/`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import DataError
from assistant.evaluation import metrics as m
from assistant.evaluation.replay import (
    aggregate,
    breakdown,
    confusion,
    load_conversations,
    replay,
    worst_turns,
)
from assistant.evaluation.report import write_run
from assistant.settings import Settings, load_settings, settings_to_dict

Progress = Callable[[int, int], None]


def _run_id(suite: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{suite}"


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def trained_models(artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    """Each component's active training run and the figures its trainer measured (starting point vs run)."""
    from assistant.training.registry import HEADLINE_METRICS, active_run

    out: dict[str, dict[str, Any]] = {}
    for component in HEADLINE_METRICS:
        run_id = active_run(artifacts_dir, component)
        metrics: dict[str, Any] = {}
        if run_id:
            try:
                metrics = json.loads(
                    (artifacts_dir / component / run_id / "metrics.json").read_text(encoding="utf-8")
                )
            except (OSError, ValueError):
                metrics = {}
        out[component] = {
            "run": run_id,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float)},
        }
    return out


def run_replay_suite(settings: Settings, *, split: str, limit: int | None, out_root: Path, progress: Progress,
                     run_id: str | None = None) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Replay `split` through the assistant built from `settings` (its own temporary database)."""
    from assistant.factory import build_assistant, generation_mode
    from assistant.stages.slots import SlotExtractor, Vocabulary

    run_id = run_id or _run_id("replay")
    folder = out_root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    settings = replace(
        settings, store=replace(settings.store, database_url=f"sqlite:///{(folder / 'replay.db').resolve()}")
    )
    assistant = build_assistant(settings)
    assistant.warm_up()
    conversations = load_conversations(settings.paths.shop_dir, split, limit=limit)
    vocabulary = Vocabulary.of_shop(assistant.shop)

    def semantic(replies: list[str], golds: list[str]) -> list[float]:
        a, b = assistant.embedder.embed_passages(replies), assistant.embedder.embed_passages(golds)
        return list(np.sum(a * b, axis=1))

    result = replay(assistant, conversations, SlotExtractor(vocabulary), semantic=semantic, progress=progress,
                    run_tag=run_id)  # fmt: skip
    (folder / "replay.db").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (folder / f"replay.db{suffix}").unlink(missing_ok=True)
    shop = settings.paths.shop_dir
    payload = {
        "run": {
            "run_id": run_id,
            "suite": "replay",
            "split": split,
            "conversations": len(conversations),
            "seconds": round(result.seconds, 1),
            "generation": generation_mode(settings),
            "seconds_per_turn": round(result.seconds / max(len(result.turns), 1), 3),
        },
        "aggregate": aggregate(result.turns),
        "by_language": breakdown(result.turns, "language"),
        "by_intent": breakdown(result.turns, "intent"),
        "confusion": confusion(result.turns),
        "worst": worst_turns(result.turns),
        "examples": result.turns,
        "trained_models": trained_models(settings.paths.artifacts_dir),
        "settings": settings_to_dict(settings),
        "data": _hashes(
            [
                shop / "logs" / "conversations.jsonl",
                *sorted((shop / "splits").glob("*.txt")),
                shop / "catalog" / "products.jsonl",
                shop / "knowledge" / "passages.jsonl",
            ]
        ),
    }
    write_run(folder, payload)
    return folder, payload


# ------------------------------------------------------------------------------------------- intents
def read_labelled(path: Path) -> dict[str, list[tuple[str, str]]]:
    """(text, label) pairs: CSV with text and label (or category) columns, JSONL, or CLINC150's JSON
    ({"train": [[text, intent]], "val": ..., "oos_train": ..., "oos_val": ...}). Returns split -> pairs;
    "all" when the file has no split of its own."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text") from exc
    if path.suffix == ".json":
        data = json.loads(raw)
        if not isinstance(data, dict) or "train" not in data:
            raise DataError(f"{path}: expected CLINC150-style JSON with a 'train' list")
        test_key = "test" if "test" in data else "val"
        pairs = lambda key: [(t, "out_of_scope" if lab == "oos" else lab) for t, lab in data.get(key, [])]  # noqa: E731
        return {
            "train": pairs("train") + pairs("oos_train"),
            "test": pairs(test_key) + pairs(f"oos_{test_key}"),
        }
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
        return {"all": [(r["text"], str(r.get("label", r.get("intent")))) for r in rows]}
    reader = csv.DictReader(io.StringIO(raw))
    label_column = next((c for c in ("label", "intent", "category") if c in (reader.fieldnames or [])), None)
    text_column = next(
        (c for c in ("text", "instruction", "utterance") if c in (reader.fieldnames or [])), None
    )
    if label_column is None or text_column is None:
        raise DataError(
            f"{path}: needs a text column and a label/intent/category column, has {reader.fieldnames}"
        )
    return {"all": [(r[text_column], r[label_column]) for r in reader if r[text_column] and r[label_column]]}


def run_intent_suite(settings: Settings, *, data: Path, test_share: float, seed: int, out_root: Path,
                     progress: Callable[[str], None], fine_tune_encoder: bool = False, epochs: float = 1.0,
                     device: str | None = None, run_id: str | None = None) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Train the intent head on the train part of `data` (on the prepared embedder, as `train intent` does)
    and score the test part; with `fine_tune_encoder` the encoder is then fine-tuned with the head (the
    intent trainer's method) and both are reported (`frozen_*` is the head alone)."""
    from assistant.factory import build_embedder
    from assistant.stages.intent_head import IntentHead, fit_softmax_regression, fit_temperature
    from assistant.training.intent import embed_texts

    started = time.perf_counter()
    splits = read_labelled(data)
    if "all" in splits:
        pairs = list(splits["all"])
        random.Random(seed).shuffle(pairs)
        cut = int(len(pairs) * (1 - test_share))
        train, test = pairs[:cut], pairs[cut:]
    else:
        train, test = splits["train"], splits["test"]
    labels = tuple(sorted({label for _, label in train}))
    index = {label: i for i, label in enumerate(labels)}
    test = [(t, lab) for t, lab in test if lab in index]
    embedder = build_embedder(settings, use_fine_tuned=False)
    x_train = embed_texts(embedder, [t for t, _ in train], progress=progress, label="train")
    x_test = embed_texts(embedder, [t for t, _ in test], progress=progress, label="test")
    progress(f"fitting the head: {len(train)} examples, {len(labels)} labels")
    weights, bias = fit_softmax_regression(x_train, np.array([index[lab] for _, lab in train]), len(labels))
    head = IntentHead(weights, bias, labels)
    y_test = np.array([index[lab] for _, lab in test])
    head.temperature = fit_temperature(head.logits(x_test), y_test)  # reported only; does not change argmax
    predicted = [labels[i] for i in head.probabilities(x_test).argmax(axis=1)]
    gold = [lab for _, lab in test]
    aggregate_metrics: dict[str, Any] = {"train_examples": len(train), "test_examples": len(test), "labels": len(labels),
                                         "accuracy": round(m.accuracy(gold, predicted), 4),
                                         "macro_f1": round(m.macro_f1(gold, predicted), 4)}  # fmt: skip
    if fine_tune_encoder:
        aggregate_metrics = {**aggregate_metrics, "frozen_accuracy": aggregate_metrics["accuracy"],
                             "frozen_macro_f1": aggregate_metrics["macro_f1"]}  # fmt: skip
        predicted, tuning = _fine_tuned_predictions(settings, embedder, train, test, index, weights, bias,
                                                    epochs=epochs, device=device, progress=progress)  # fmt: skip
        aggregate_metrics.update(accuracy=round(m.accuracy(gold, predicted), 4),
                                 macro_f1=round(m.macro_f1(gold, predicted), 4), **tuning)  # fmt: skip
    if "out_of_scope" in index:
        p, r = m.precision_recall(
            [(g == "out_of_scope", q == "out_of_scope") for g, q in zip(gold, predicted, strict=True)]
        )
        aggregate_metrics["oos_precision"], aggregate_metrics["oos_recall"] = round(p, 4), round(r, 4)
    seconds = time.perf_counter() - started
    run_id = run_id or _run_id("intents")
    folder = out_root / run_id
    payload = {
        "run": {
            "run_id": run_id,
            "suite": "intents",
            "split": f"{len(train)}/{len(test)} (seed {seed})",
            "conversations": "-",
            "seconds": round(seconds, 1),
            "data": str(data),
        },
        "aggregate": aggregate_metrics,
        "per_label_f1": {k: round(v, 4) for k, v in m.per_label_f1(gold, predicted).items()},
        "settings": settings_to_dict(settings),
        "data": _hashes([data]),
    }
    write_run(folder, payload)
    return folder, payload


def _fine_tuned_predictions(settings: Settings, embedder: Any, train: list[tuple[str, str]], test: list[tuple[str, str]],
                            index: dict[str, int], weights: np.ndarray, bias: np.ndarray, *, epochs: float,
                            device: str | None, progress: Callable[[str], None]) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """Fine-tune the embedder with the head (started from the frozen fit) and predict the test part."""
    import tempfile

    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.encoder_training import fine_tune_encoder_classifier
    from assistant.training.intent import embed_texts
    from assistant.training.registry import step_reporter

    device = device or settings.models.device
    labels = sorted(index, key=index.__getitem__)
    with tempfile.TemporaryDirectory(prefix="intent-suite-") as work:
        started = time.perf_counter()
        result = fine_tune_encoder_classifier(embedder.model_reference, [t for t, _ in train],
                                              [index[lab] for _, lab in train], init_weights=weights, init_bias=bias,
                                              work_dir=Path(work), epochs=epochs, device=device,
                                              progress=step_reporter(progress, "fine-tuning the encoder"))  # fmt: skip
        seconds = time.perf_counter() - started
        tuned = SentenceTransformerEmbedder(str(result.model_dir), device=device)
        x_test = embed_texts(tuned, [t for t, _ in test], progress=progress, label="test (fine-tuned)")
    logits = x_test @ result.weights + result.bias
    predicted = [labels[i] for i in logits.argmax(axis=1)]
    return predicted, {"fine_tune_epochs": epochs, "fine_tune_steps": result.steps,
                       "fine_tune_seconds": round(seconds, 1), "fine_tune_samples_per_s": round(result.samples_per_s, 2),
                       "fine_tune_device": result.device}  # fmt: skip


# ----------------------------------------------------------------------------------------- retrieval
def _read_table(path: Path) -> list[dict[str, str]]:
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        return [{k: str(v) for k, v in json.loads(line).items()} for line in raw.splitlines() if line.strip()]
    dialect = "excel-tab" if path.suffix in (".tsv", ".qrels") or "\t" in raw.splitlines()[0] else "excel"
    return list(csv.DictReader(io.StringIO(raw), dialect=dialect))


def run_retrieval_suite(settings: Settings, *, corpus: Path, queries: Path, qrels: Path, out_root: Path,
                        progress: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Index `corpus` (id, text) in a temporary chroma collection, search every query, score nDCG@10,
    recall@k and MRR against graded `qrels` (query_id, doc_id, relevance)."""
    import tempfile

    from assistant.factory import build_embedder
    from assistant.indexing.builder import Document, sync_collection
    from assistant.stages.retrieval import Retriever

    started = time.perf_counter()
    docs = [
        Document(r.get("id") or r["doc_id"], r.get("text") or r.get("title", ""), {"language": "any"})
        for r in _read_table(corpus)
    ]
    asked = [(r.get("id") or r["query_id"], r["text"]) for r in _read_table(queries)]
    relevance: dict[str, dict[str, float]] = {}
    for r in _read_table(qrels):
        relevance.setdefault(r.get("query_id") or r["qid"], {})[r.get("doc_id") or r["docid"]] = float(
            r.get("relevance", 1)
        )
    embedder = build_embedder(settings)
    from assistant.backends.vector_store import ChromaVectorStore

    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaVectorStore(Path(tmp))
        sync_collection(store, embedder, "knowledge", docs, progress=progress)
        retriever = Retriever(store)
        vectors = embedder.embed_queries([text for _, text in asked])
        rows = []
        for (qid, text), vector in zip(asked, vectors, strict=True):
            if qid not in relevance:
                continue
            ranked = [h.id for h in retriever.search("knowledge", text, vector, top_k=10)]
            gold = {d for d, rel in relevance[qid].items() if rel > 0}
            rows.append({"query_id": qid, "ndcg@10": m.ndcg_at_k(relevance[qid], ranked, 10),
                         "recall@5": m.recall_at_k(gold, ranked, 5), "recall@10": m.recall_at_k(gold, ranked, 10),
                         "mrr": m.reciprocal_rank(gold, ranked), "ranked": ranked})  # fmt: skip
    aggregate_metrics = {k: round(float(np.mean([r[k] for r in rows])), 4) if rows else 0.0
                         for k in ("ndcg@10", "recall@5", "recall@10", "mrr")}  # fmt: skip
    aggregate_metrics["queries"] = len(rows)
    run_id = _run_id("retrieval")
    folder = out_root / run_id
    payload = {"run": {"run_id": run_id, "suite": "retrieval", "seconds": round(time.perf_counter() - started, 1),
                       "corpus": str(corpus), "documents": len(docs)},
               "aggregate": aggregate_metrics, "examples": rows, "settings": settings_to_dict(settings),
               "data": _hashes([corpus, queries, qrels])}  # fmt: skip
    write_run(folder, payload)
    return folder, payload


__all__ = ["load_settings", "run_intent_suite", "run_replay_suite", "run_retrieval_suite"]
