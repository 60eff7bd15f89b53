"""Eval suites: `replay` (held-out conversations of a shop folder), `intents` (text,label data) and
`retrieval` (corpus, queries, graded qrels). Each writes `evals/results/<run>/`."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from assistant.backends.embedding import first_part, with_first
from assistant.backends.embedding_cache import EmbeddingCache, cache_dir
from assistant.data.labels import read_text_file, strict_csv_rows
from assistant.data.splits import stratified_split
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
class _Sample(NamedTuple):
    """One draw of `run_intent_suite`: its train and validation parts, test labels train lacks, the label
    index, the fitted head, the test's vectors and the test scored as the assistant acts."""

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    unseen: dict[str, int]
    held_out: dict[str, int]  # intents held out of training (`hold_out_intents`) -> their test messages
    label_index: dict[str, int]
    scored: Any
    head: Any
    x_test: np.ndarray
    test: list[tuple[str, str]]  # as tested: with the held-out intents' train examples
    named: list[tuple[str, str]]  # the intents' names fitted beside the train examples (`name_examples`)


def _first_few(labels: Any, most: int = 8) -> str:
    """The first `most` of `labels` (sorted) for a progress line, '…' after them when there are more."""
    names = sorted(labels)
    return ", ".join(names[:most]) + ("…" if len(names) > most else "")


def run_intent_suite(settings: Settings, *, data: Path | None = None, test_share: float = 0.1, seed: int = 0,
                     out_root: Path, progress: Callable[[str], None], fine_tune_encoder: bool = False,
                     epochs: float = 1.0, device: str | None = None, run_id: str | None = None,
                     train_file: Path | None = None, test_file: Path | None = None, text_column: str | None = None,
                     label_column: str | None = None, label_map: dict[str, str] | None = None,
                     validation_share: float = 0.15, max_examples: int | None = None,
                     per_label: int | None = None, repeats: int = 1,
                     hold_out_intents: float = 0.0) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Train the intent head on the train part (on the prepared embedder, as `train intent` does), fit its
    temperature and out-of-scope threshold on a validation part of train, and score the test part as the
    assistant acts on it (`assistant.evaluation.intents`). With `fine_tune_encoder` the encoder is then
    fine-tuned with the head and both are reported (`frozen_*` is the head alone). With `repeats` above one,
    the frozen head is fitted and scored again on samples drawn with seeds `seed + 1`, ... and the report gives
    each sample's figures and their spread (`repeats_*`); the rest of the report is the first sample's. With
    both, the encoder is fine-tuned on each sample too (`repeats_fine_tuned_*`, and what it changed against
    the frozen head sample by sample, `fine_tune_gain_*`). With
    `hold_out_intents` (a share, 0 < share < 1), each sample leaves that share of the intents out of training
    (`hold_out_labels`, drawn with its seed) and tests on their messages too (their train examples join the test)
    as out of scope: out-of-scope figures from the shop's own labels, where it has no out-of-scope examples."""
    from assistant.evaluation import intents as ev
    from assistant.factory import build_intent_training_embedder
    from assistant.training.intent import embed_names, fit_intent_head, head_features, name_examples

    started = time.perf_counter()
    skipped: Counter[str] = Counter()  # rows the data files had that the eval leaves out, by reason
    one_file: list[tuple[str, str]] | None = None  # one file's rows, split into train and test by the seed

    def read(path: Path) -> dict[str, list[tuple[str, str]]]:
        return ev.read_labelled(path, text_column=text_column, label_column=label_column, label_map=label_map,
                                skipped=skipped)  # fmt: skip

    if train_file is not None or test_file is not None:
        if train_file is None or test_file is None:
            raise DataError("give both --train and --test (or --data to split one file)")
        train_splits, test_splits = read(train_file), read(test_file)
        train = train_splits.get("train", train_splits.get("all", []))
        test = test_splits.get("test", test_splits.get("all", []))
        sources = [train_file, test_file]
    elif data is not None:
        splits = read(data)
        one_file = splits.get("all")
        train, test = stratified_split(one_file, test_share, seed=seed) if one_file else (
            splits["train"], splits["test"])  # fmt: skip
        sources = [data]
    else:  # the shop's own labelled turns: its train split, tested on its test split
        from assistant.training.intent import intent_examples

        shop_dir = settings.paths.shop_dir
        if not (shop_dir / "logs" / "conversations.jsonl").is_file():
            raise DataError(f"eval intents needs --data FILE, or --train FILE and --test FILE, or a shop with "
                            f"labelled logs ({shop_dir} has none)")  # fmt: skip
        renamed = label_map or {}
        train, test = ([(e.text, renamed.get(e.intent, e.intent)) for e in intent_examples(shop_dir, split)]
                       for split in ("train", "test"))  # fmt: skip
        skipped[ev.SKIP_REASONS[2]] = sum(not label for _, label in train + test)
        train, test = [p for p in train if p[1]], [p for p in test if p[1]]
        sources = [shop_dir / "logs" / "conversations.jsonl", shop_dir / "splits" / "train.txt",
                   shop_dir / "splits" / "test.txt"]  # fmt: skip
    skipped = +skipped  # reasons that left nothing out are not reported
    left_out = (f" ({sum(skipped.values())} rows left out: "
                f"{', '.join(f'{n} {reason}' for reason, n in skipped.most_common())})" if skipped else "")  # fmt: skip
    if not train or not test:
        raise DataError(
            f"eval intents needs examples in both parts; train has {len(train)}, test {len(test)}{left_out}"
        )
    if skipped:
        progress(f"train has {len(train)} examples, test {len(test)}{left_out}")
    available = len(train)
    embedder = build_intent_training_embedder(settings)  # as `train intent` fits it
    features = head_features(embedder)
    if len(features) > 1:
        progress("the head reads each message with the English embedder beside the multilingual one "
                 "(models.intent_english_features)")  # fmt: skip
    cache = EmbeddingCache(cache_dir(settings.paths.data_dir), embedder)
    check = settings.assistant.out_of_scope_by_similarity  # as the assistant acts live
    fit = settings.assistant.out_of_scope_fit

    def sample(seed: int, train: list[tuple[str, str]], test: list[tuple[str, str]], *, say: bool) -> _Sample:
        """The train examples drawn with `seed` (the held-out intents' moved to the test, the rest capped, a
        validation part carved off), the head fitted on them and its thresholds on the validation part, and the
        test scored as the assistant acts."""
        held_out: dict[str, int] = {}
        if hold_out_intents:
            held = set(ev.hold_out_labels(train, hold_out_intents, seed=seed))
            test = test + [p for p in train if p[1] in held]
            train = [p for p in train if p[1] not in held]
            held_out = dict(Counter(label for _, label in test if label in held))
            if say:
                progress(f"holding {len(held)} intents out of training ({_first_few(held)}): their "
                         f"{sum(held_out.values())} test messages count as out of scope")  # fmt: skip
        train = ev.cap_per_label(train, per_label, max_examples, seed=seed)
        train, validation = stratified_split(train, validation_share, seed=seed + 1)
        labels = tuple(sorted({label for _, label in train}))
        if len(labels) < 2:
            raise DataError(f"the train part has {len(labels)} label(s); an intent model needs at least two")
        unseen = dict(
            Counter(lab for _, lab in test if lab not in labels and lab != ev.OOS and lab not in held_out)
        )
        if unseen and say:
            progress(f"{sum(unseen.values())} test examples have labels the train part lacks "
                     f"({_first_few(unseen)}): counted as out of scope")  # fmt: skip
        index = {label: i for i, label in enumerate(labels)}
        x_train = cache.embed([t for t, _ in train], progress=progress, label="train")
        x_validation = cache.embed([t for t, _ in validation], progress=progress, label="validation")
        x_test = cache.embed([t for t, _ in test], progress=progress, label="test")
        named = name_examples(labels) if settings.models.intent_names_as_examples else []
        x_named = embed_names(named, lambda texts: cache.embed(texts, progress=progress, label="intent names"),
                              x_train.shape[1])  # fmt: skip
        progress(f"fitting the head{'' if say else f' (seed {seed})'}: {len(train)} examples"
                 f"{f' and {len(named)} intent names' if named else ''}, {len(labels)} labels; {len(validation)} "
                 "for temperature and threshold")  # fmt: skip
        head = fit_intent_head(x_train, np.array([index[lab] for _, lab in train]), labels, x_named=x_named,
                               named=named, features=features)  # fmt: skip
        scored = ev.score_head(head, x_validation, validation, x_test, test, x_train=x_train, train=train,
                               similarity_check=check, fit=fit, x_named=x_named, named=named)  # fmt: skip
        return _Sample(train, validation, unseen, held_out, index, scored, head, x_test, test, named)

    train_all, test_given = train, test  # as read: each sample moves its own held-out intents into the test
    first = sample(seed, train_all, test_given, say=True)
    train, validation, unseen, held_out, scored, head, test = (first.train, first.validation, first.unseen,
                                                               first.held_out, first.scored, first.head, first.test)  # fmt: skip
    x_test = first.x_test
    other = ev.acted_on(head, x_test, test, similarity_check=not check,  # the same fit, acted on the other way
                        calibration=scored.calibration)  # fmt: skip
    # each sample with its seed (the fine-tuned encoder's turn reads them too)
    drawn_samples = [(seed, first)]
    for again in range(seed + 1, seed + max(repeats, 1)):
        drawn_train, drawn_test = stratified_split(one_file, test_share, seed=again) if one_file else (
            train_all, test_given)  # fmt: skip
        drawn_samples.append((again, sample(again, drawn_train, drawn_test, say=False)))
    rows = [ev.sample_row(drawn_seed, len(drawn.train), drawn.scored) for drawn_seed, drawn in drawn_samples]
    aggregate_metrics: dict[str, Any] = {
        "train_examples": len(train), "validation_examples": len(validation), "test_examples": len(test),
        "train_available": available, "labels": len(head.labels), "unseen_test_examples": sum(unseen.values()),
        "intent_name_examples": len(first.named),
        "held_out_intents": len(held_out), "held_out_test_examples": sum(held_out.values()),
        "rows_left_out": sum(skipped.values()), "features": " + ".join(head.features),
        **fit.figures(),  # the shares, recall goal and range the thresholds were fitted with
        **_intent_figures(scored), "similarity_check": check,
        **{f"{'without' if check else 'with'}_similarity_check_{k}": v for k, v in other.figures().items()},
        **(ev.repeat_summary(rows) if len(rows) > 1 else {}),
        "embeddings_from_cache": cache.hits, "embeddings_computed": cache.misses,
    }  # fmt: skip
    tuned_rows: list[dict[str, Any]] = []
    if fine_tune_encoder:  # each sample's encoder fine-tuned on its train examples; the first is the report's
        aggregate_metrics.update({f"frozen_{k}": v for k, v in _intent_figures(scored).items()})
        took = 0.0  # the first sample's fine-tune, measured: a better guess for the rest than the estimate
        for number, (drawn_seed, drawn) in enumerate(drawn_samples):
            if number:
                left = len(drawn_samples) - number
                progress(f"sample {number + 1} of {len(drawn_samples)} (seed {drawn_seed}): fine-tuning again; "
                         f"the first took {took:.0f} s, so about {left * took:.0f} s for the {left} left")  # fmt: skip
            tuned, tuning = _fine_tuned_scores(settings, embedder, drawn.train, drawn.validation, drawn.test,
                                               drawn.label_index, drawn.named, epochs=epochs, device=device,
                                               progress=progress, runs=len(drawn_samples) - number)  # fmt: skip
            tuned_rows.append(ev.sample_row(drawn_seed, len(drawn.train), tuned))
            if not number:
                scored, took = tuned, float(tuning["fine_tune_total_seconds"])
                aggregate_metrics.update(**_intent_figures(scored), **tuning)
        if len(tuned_rows) > 1:
            aggregate_metrics.update(**ev.repeat_summary(tuned_rows, "repeats_fine_tuned_"),
                                     **ev.fine_tuning_gain(rows, tuned_rows))  # fmt: skip
    seconds = time.perf_counter() - started
    run_id = run_id or _run_id("intents")
    folder = out_root / run_id
    payload = {
        "run": {
            "run_id": run_id,
            "suite": "intents",
            "split": f"{len(train)} train / {len(validation)} validation / {len(test)} test (seed {seed})",
            "conversations": "-",
            "seconds": round(seconds, 1),
            "data": ", ".join(str(p) for p in sources),
        },
        "aggregate": aggregate_metrics,
        "per_label": ev.per_label(scored),
        "per_label_f1": {k: v["f1"] for k, v in ev.per_label(scored).items()},
        "threshold_curve": scored.curve(),
        "confusions": ev.confusions(scored),
        "unseen_test_labels": unseen,
        "held_out_intents": held_out,
        "rows_left_out": dict(skipped),
        "repeats": rows if len(rows) > 1 else [],
        "repeats_fine_tuned": tuned_rows if len(tuned_rows) > 1 else [],
        "sections_md": ev.markdown_sections(scored, unseen, other, dict(skipped), held_out)
        + (f"\n{ev.repeats_section(rows)}" if len(rows) > 1 else "")
        + (f"\n{ev.repeats_section(tuned_rows, frozen=rows)}" if len(tuned_rows) > 1 else ""),
        "settings": settings_to_dict(settings),
        "data": _hashes(sources),
    }
    write_run(folder, payload)
    ev.write_details(folder, scored, test)
    return folder, payload


def _intent_figures(scored: Any) -> dict[str, Any]:
    from assistant.evaluation.intents import OOS

    figures = scored.figures()
    final = scored.final()
    in_scope = [i for i, o in enumerate(scored.gold_is_oos()) if not o]
    return {
        "accuracy": figures["in_scope_accuracy"],  # in-scope messages that got their own intent
        **figures,
        "macro_f1": round(m.macro_f1([scored.gold[i] for i in in_scope], [final[i] for i in in_scope]), 4)
        if in_scope else None,
        "threshold": round(scored.threshold, 4), "temperature": round(scored.temperature, 4),
        "score_threshold": None if scored.score_threshold is None else round(scored.score_threshold, 4),
        **scored.calibration.figures(),  # what the thresholds were read from
        "oos_test_examples": sum(scored.gold_is_oos()), "acted_on_as_oos": sum(f == OOS for f in final),
        **{f"at_oos_recall_80_{k}": v for k, v in scored.at_recall().items()},  # read off the test
    }  # fmt: skip


def _fine_tuned_scores(settings: Settings, embedder: Any, train: list[tuple[str, str]],
                       validation: list[tuple[str, str]], test: list[tuple[str, str]], index: dict[str, int],
                       named: list[tuple[str, str]], *, epochs: float, device: str | None, progress: Callable[[str], None],
                       runs: int = 1) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Fine-tune the embedder contrastively on the train examples (few-shot, the validation part picks the
    checkpoint), fit the head on its embeddings (and `named`'s, the intents' names, beside them), then score
    as the frozen head was. Says how long it should take before it starts (from the encoder's measured
    speed), and for all `runs` left (`--repeats`)."""
    import tempfile

    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.embedding_cache import embed_texts
    from assistant.backends.encoder_training import fine_tune_encoder_few_shot
    from assistant.evaluation.intents import score_head
    from assistant.training.intent import (
        PROBE_TEXTS,
        distinct,
        embed_names,
        fit_intent_head,
        foresee_fine_tune,
        spoken_seconds,
    )
    from assistant.training.registry import step_reporter

    device = device or settings.models.device
    labels = tuple(sorted(index, key=index.__getitem__))
    encoder = first_part(embedder)  # the one fine-tuned (beside the English embedder, where it sits)
    estimate, per_second = foresee_fine_tune(
        embedder, [t for t, _ in train[:PROBE_TEXTS]], examples=len(train), epochs=epochs, watched=len(validation),
        embedded=sum(distinct([t for t, _ in part]) for part in (train, validation, test)) + len(named),
    )  # fmt: skip
    total = f", about {spoken_seconds(runs * estimate)} for the {runs} samples left" if runs > 1 else ""
    progress(f"fine-tuning the encoder on {len(train)} examples for {epochs:g} epoch(s), then embedding the "
             f"validation and test parts with it: about {spoken_seconds(estimate)} here{total} (forward "
             f"{per_second:.0f} examples/s; training ~3x that per example). --max-examples or --per-label makes "
             "it shorter")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="intent-suite-") as work:
        started = time.perf_counter()
        result = fine_tune_encoder_few_shot(encoder.model_reference, [t for t, _ in train],
                                            [index[lab] for _, lab in train], dev_texts=[t for t, _ in validation],
                                            dev_labels=[index.get(lab, -1) for _, lab in validation],
                                            work_dir=Path(work), epochs=epochs, device=device,
                                            progress=step_reporter(progress, "fine-tuning the encoder"))  # fmt: skip
        seconds = time.perf_counter() - started
        tuned = with_first(embedder, SentenceTransformerEmbedder(str(result.model_dir), device=device))
        x_train = embed_texts(tuned, [t for t, _ in train], progress=progress, label="train (fine-tuned)")
        x_named = embed_names(named, lambda texts: embed_texts(tuned, texts, progress=progress,
                                                               label="intent names (fine-tuned)"), x_train.shape[1])  # fmt: skip
        head = fit_intent_head(x_train, np.array([index[lab] for _, lab in train]), labels, x_named=x_named,
                               named=named)  # fmt: skip
        x_validation = embed_texts(tuned, [t for t, _ in validation], progress=progress,
                                   label="validation (fine-tuned)")  # fmt: skip
        x_test = embed_texts(tuned, [t for t, _ in test], progress=progress, label="test (fine-tuned)")
        # what the estimate foresaw: the fine-tune and the embedding after it
        total_seconds = time.perf_counter() - started
    scored = score_head(head, x_validation, validation, x_test, test, x_train=x_train,
                        train=train, similarity_check=settings.assistant.out_of_scope_by_similarity,
                        fit=settings.assistant.out_of_scope_fit, x_named=x_named, named=named,
                        cross_fit=False)  # the encoder was tuned on the train examples: out of fold, too sure  # fmt: skip
    return scored, {"fine_tune_epochs": epochs, "fine_tune_steps": result.steps,
                    "fine_tune_seconds": round(seconds, 1), "fine_tune_total_seconds": round(total_seconds, 1),
                    "fine_tune_estimate_seconds": round(estimate, 1),
                    "fine_tune_samples_per_s": round(result.samples_per_s, 2), "fine_tune_device": result.device}  # fmt: skip


# ----------------------------------------------------------------------------------------- retrieval
# Each table's columns, by the names they go by: ours first, then BEIR's (corpus.jsonl `_id`/`title`/`text`,
# queries.jsonl `_id`/`text`, qrels TSV `query-id`/`corpus-id`/`score`) and TREC-style short names.
TABLE_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "corpus": {"id": ("id", "doc_id", "_id", "docid"), "text": ("text", "title")},
    "queries": {"id": ("id", "query_id", "_id", "qid"), "text": ("text", "query")},
    "qrels": {"query_id": ("query_id", "query-id", "qid"), "doc_id": ("doc_id", "corpus-id", "docid"),
              "relevance": ("relevance", "score", "label")},
}  # fmt: skip


def _read_table(path: Path, kind: str) -> list[dict[str, str]]:
    """The rows of a JSONL, CSV or TSV retrieval table (`kind`: corpus, queries or qrels), each with its
    `TABLE_COLUMNS` found under any of their names. A row without one (a qrels row's relevance defaults to
    1), a line that is not a JSON object or a relevance that is not a number stops the read with its line."""
    raw = read_text_file(path, what=f"the {kind} file")
    if path.suffix == ".jsonl":
        rows: list[tuple[int, Any]] = []
        for number, text in enumerate(raw.splitlines(), 1):
            if text.strip():
                try:
                    rows.append((number, json.loads(text)))
                except json.JSONDecodeError:
                    raise DataError(f"{path}, line {number}: not JSON") from None
    else:
        first = raw.splitlines()[0] if raw.strip() else ""
        dialect = "excel-tab" if path.suffix in (".tsv", ".qrels") or "\t" in first else "excel"
        rows = list(strict_csv_rows(raw, str(path), dialect=dialect)[1])
    if not rows:
        raise DataError(f"the {kind} file {path} has no rows")
    out = []
    for line, row in rows:
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {line}: not a JSON object")
        picked = {}
        for column, names in TABLE_COLUMNS[kind].items():
            picked[column] = next((str(row[n]).strip() for n in names if str(row.get(n) or "").strip()), "")
            if not picked[column] and column != "relevance":
                raise DataError(f"{path}, line {line}: no {column} (a column named {' or '.join(names)})")
        if kind == "qrels":
            try:
                picked["relevance"] = str(float(picked["relevance"] or 1))
            except ValueError:
                raise DataError(
                    f"{path}, line {line}: relevance {picked['relevance']!r} is not a number"
                ) from None
        out.append(picked)
    return out


def run_retrieval_suite(settings: Settings, *, corpus: Path, queries: Path, qrels: Path, out_root: Path,
                        progress: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Index `corpus` (id, text) in a temporary chroma collection, search every query, score nDCG@10,
    recall@k and MRR against graded `qrels` (query_id, doc_id, relevance)."""
    import tempfile

    from assistant.factory import build_embedder
    from assistant.indexing.builder import Document, sync_collection
    from assistant.stages.retrieval import Retriever

    started = time.perf_counter()
    docs = list({r["id"]: Document(r["id"], r["text"], {"language": "any"}) for r in _read_table(corpus, "corpus")}
                .values())  # fmt: skip
    asked = [(r["id"], r["text"]) for r in _read_table(queries, "queries")]
    relevance: dict[str, dict[str, float]] = {}
    for r in _read_table(qrels, "qrels"):
        relevance.setdefault(r["query_id"], {})[r["doc_id"]] = float(r["relevance"])
    if not any(qid in relevance for qid, _ in asked):
        raise DataError(f"no query of {queries} has a judgement in {qrels}: do their query ids match?")
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
