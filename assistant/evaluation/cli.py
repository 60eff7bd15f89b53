"""`python -m assistant eval`: run a suite, print the headline table, check a baseline, compare runs."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from assistant.errors import DataError
from assistant.evaluation.report import HEADLINE, check_baseline, compare
from assistant.settings import Settings

MAX_REPEATS = 20  # `eval intents --repeats`: each sample fits the head and its thresholds again


def _load(folder: Path) -> dict:
    path = folder / "metrics.json" if folder.is_dir() else folder
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no eval run at {folder} (expected a folder with metrics.json)") from None


def run_eval(settings: Settings, args: argparse.Namespace) -> int:
    if args.compare:
        a, b = (_load(p) for p in args.compare)
        print(f"{'metric':<26} {'A':>10} {'B':>10}  change")
        for name, va, vb, verdict in compare(a, b):
            marker = {"better": "↑ better", "worse": "↓ worse", "same": "="}[verdict]
            print(f"{name:<26} {va:>10.4f} {vb:>10.4f}  {vb - va:+.4f} {marker}")
        return 0
    from tqdm import tqdm

    from assistant.evaluation import suites

    if args.suite == "cold-start":
        return _cold_start(settings, args)
    if args.suite == "conversations":
        return _conversations(settings, args)

    if args.suite == "replay":
        if args.generation:
            settings = replace(settings, generation=replace(settings.generation, mode=args.generation))
        bar = tqdm(total=None, unit="conv", desc=f"replay {args.split}")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        folder, payload = suites.run_replay_suite(settings, split=args.split, limit=args.limit, out_root=args.out,
                                                  progress=progress, run_id=args.run_id)  # fmt: skip
        bar.close()
    elif args.suite == "intents":
        from assistant.data.labels import read_label_map

        for name in ("test_share", "validation_share"):
            if not 0 < getattr(args, name) < 1:
                raise DataError(f"--{name.replace('_', '-')} must be between 0 and 1")
        for name in ("max_examples", "per_label"):
            if getattr(args, name) is not None and getattr(args, name) < 2:
                raise DataError(f"--{name.replace('_', '-')} must be at least 2")
        if not 0 <= args.hold_out_intents < 1:
            raise DataError(
                "--hold-out-intents must be a share of the intents, at least 0 and under 1 (e.g. 0.2)"
            )
        if not 1 <= args.repeats <= MAX_REPEATS:
            raise DataError(f"--repeats must be between 1 and {MAX_REPEATS}")
        folder, payload = suites.run_intent_suite(
            settings, data=args.data, test_share=args.test_share, seed=args.seed, out_root=args.out,
            progress=lambda line: print(line, flush=True), fine_tune_encoder=args.fine_tune_encoder,
            epochs=args.epochs, device=args.device, run_id=args.run_id, train_file=args.train_file,
            test_file=args.test_file, text_column=args.text_column, label_column=args.label_column,
            label_map=read_label_map(args.label_map), validation_share=args.validation_share,
            max_examples=args.max_examples, per_label=args.per_label, repeats=args.repeats,
            hold_out_intents=args.hold_out_intents,
        )  # fmt: skip
    else:
        if not (args.corpus and args.queries and args.qrels):
            raise DataError("eval retrieval needs --corpus, --queries and --qrels")
        folder, payload = suites.run_retrieval_suite(settings, corpus=args.corpus, queries=args.queries, qrels=args.qrels,
                                                     out_root=args.out, progress=lambda line: print(line, flush=True))  # fmt: skip
    aggregate = payload["aggregate"]
    print(f"\nrun {payload['run']['run_id']} ({payload['run']['seconds']} s) -> {folder}")
    names = [k for k in HEADLINE if k in aggregate] or [
        k for k, v in aggregate.items() if isinstance(v, int | float)
    ]
    for name in names:
        print(f"  {name:<24} {aggregate[name]}")
    if args.baseline:
        failures = check_baseline(aggregate, _load(args.baseline))
        for failure in failures:
            print(f"  BELOW BASELINE: {failure}")
        if failures:
            return 1
        print(f"  all headline metrics within tolerance of {args.baseline}")
    return 0


def _cold_start(settings: Settings, args: argparse.Namespace) -> int:
    """Score the engine's default intent model (fit once for this embedder) on data nobody here wrote."""
    import time

    from assistant.evaluation.cold_start import cold_start_figures
    from assistant.factory import build_embedder
    from assistant.shop import load_profile
    from assistant.stages.intent_head import IntentHead
    from assistant.training.default_intent import embedder_reference, ensure_default_intent_model

    embedder = build_embedder(settings, use_fine_tuned=False)
    languages = load_profile(settings.paths.shop_dir).languages
    folder = ensure_default_intent_model(embedder, settings.paths.artifacts_dir, languages=languages,
                                         embedder_reference=embedder_reference(embedder))  # fmt: skip
    figures = cold_start_figures(IntentHead.load(folder), embedder, shop_dir=settings.paths.shop_dir,
                                 shared_data=args.shared_data)  # fmt: skip
    figures["model"] = {
        "run": folder.name,
        **json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
    }
    out = args.out / (args.run_id or time.strftime("%Y%m%d-%H%M%S-cold-start"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "cold_start.json").write_text(
        json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"-> {out / 'cold_start.json'}")
    return 0


def _conversations(settings: Settings, args: argparse.Namespace) -> int:
    """Play the hand-written conversations of the configured shop and report pass rates per category."""
    import time

    from assistant.evaluation.conversation_suite import check_floor, run_conversation_suite

    if args.generation:
        settings = replace(settings, generation=replace(settings.generation, mode=args.generation))
    out = args.out / (args.run_id or time.strftime("%Y%m%d-%H%M%S-conversations"))
    summary, _ = run_conversation_suite(settings, suite=args.suite_dir, out=out)
    print(f"{summary['passed']} of {summary['conversations']} conversations pass ({summary['pass_rate']:.1%}), "
          f"{summary['turns']} turns -> {out / 'report.html'}")  # fmt: skip
    for category, figures in summary["by_category"].items():
        print(
            f"  {category:<24} {figures['passed']:>3}/{figures['conversations']:<3} {figures['pass_rate']:.1%}"
        )
    if args.floor:
        from assistant.shop import load_profile

        failures = check_floor(summary, args.floor, load_profile(settings.paths.shop_dir).name)
        for failure in failures:
            print(f"  BELOW FLOOR: {failure}")
        if failures:
            return 1
        print(f"  at or above the floor in {args.floor}")
    return 0
