"""`python -m assistant train {intent,retriever,reranker,generator,all}`: one run per component,
with agent feedback from the store added to the training data, and with `--promote` each run made
active when it beats the active one (the retriever's promotion re-embeds the index before the
components that depend on retrieval train). A component that fails leaves its active model as it
was; `all` goes on with the others and exits non-zero at the end."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError
from assistant.schema import ModelRole
from assistant.settings import Settings, settings_to_toml

logger = logging.getLogger(__name__)
ORDER = ("intent", "retriever", "reranker", "generator")


def add_train_parser(commands: Any) -> None:
    train = commands.add_parser("train", help="learn from the shop's support logs and agent feedback")
    train.add_argument("component", choices=[*ORDER, "all"], help="what to train (all: the four in order)")
    train.add_argument("--run-id", help="name of the run folder (default: a timestamp)")
    train.add_argument(
        "--if-missing", action="store_true", help="intent: do nothing when an active model exists"
    )
    train.add_argument("--fine-tune-encoder", action="store_true",
                       help="intent: fine-tune the encoder with the head, not only the head (always on with all)")  # fmt: skip
    train.add_argument(
        "--quick", action="store_true", help="a small preset that finishes in minutes on a CPU"
    )
    train.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="training device (default: models.device)"
    )
    train.add_argument("--max-examples", type=int, metavar="N",
                       help="cap training and evaluation examples per component (smoke runs, CI)")  # fmt: skip
    train.add_argument(
        "--promote", action="store_true", help="make each run active if it beats the active one"
    )
    train.add_argument("--without-feedback", action="store_true",
                       help="learn from the logs only, not from agents' replies stored in the database")  # fmt: skip


def run_train(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.training.registry import active_run

    components = ORDER if args.component == "all" else (args.component,)
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S")
    if args.component == "intent" and args.if_missing:
        from assistant.training.intent import DEFAULT_PREFIX

        active = active_run(settings.paths.artifacts_dir, "intent")
        has_logs = (settings.paths.shop_dir / "logs" / "conversations.jsonl").is_file()
        if active and not active.startswith(DEFAULT_PREFIX):
            print(f"intent model {active} is active; nothing to do")
            return 0
        if not has_logs:  # the engine's default model serves until the shop has logs of its own
            print(
                "no support logs in the shop folder: the engine's default intent model is used (cold start)"
            )
            return 0
    feedback = [] if args.without_feedback else _feedback(settings)
    failed = []
    for component in components:
        started = time.perf_counter()
        print(f"== training {component} ({'quick' if args.quick else 'full'} preset)", flush=True)
        try:
            folder = TRAINERS[component](settings, args, run_id, feedback)
        except (AssistantError, OSError, RuntimeError) as exc:  # the active model stays as it was
            logger.debug("training %s failed", component, exc_info=True)
            print(
                f"training {component} failed: {exc}; the active {component} model is unchanged", flush=True
            )
            failed.append(component)
            continue
        _report_run(settings, folder, started, component, promote=args.promote)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def _feedback(settings: Settings) -> list[dict[str, Any]]:
    from assistant.factory import database_url
    from assistant.store.database import Database
    from assistant.training.feedback import feedback_conversations

    try:
        conversations = feedback_conversations(Database(database_url(settings)))
    except Exception as exc:  # no store yet, or an older one: the logs are still there to learn from
        logger.debug("no agent feedback read", exc_info=True)
        print(f"agent feedback not read ({type(exc).__name__}); training on the logs only")
        return []
    print(f"agent feedback: {len(conversations)} conversations with replies by agents", flush=True)
    return conversations


def _report_run(settings: Settings, folder: Path, started: float, component: str, *, promote: bool) -> None:
    """After a training run: where it is, its metrics, and whether (or how) it becomes active."""
    from assistant.training.registry import active_run
    from assistant.training.registry import promote as promote_run

    print(f"wrote {folder} in {time.perf_counter() - started:.0f} s")
    print((folder / "report.md").read_text(encoding="utf-8"))
    if active_run(settings.paths.artifacts_dir, component) == folder.name:
        print(
            f"{folder.name} is the active {component} model (the first one trained on this shop's data; an "
            "engine default it replaces stays listed for `rollback`)"
        )
        return
    if promote:
        result = promote_run(settings.paths.artifacts_dir, component, folder.name)
        print(("promoted: " if result.is_promoted else "not promoted: ") + result.reason, flush=True)
        if result.is_promoted and component == "retriever":
            from assistant.indexing.cli import run_index

            run_index(settings)  # later components retrieve with the new retriever
        return
    then = ", then `python -m assistant index` re-embeds the shop with it" if component == "retriever" else ""
    print(
        f"not active yet: `python -m assistant promote {component} {folder.name}` activates it if it is better{then}"
    )


def _run_options(settings: Settings, args: argparse.Namespace, run_id: str, feedback: list) -> dict[str, Any]:
    """The keyword arguments every trainer of retrieval and generation takes from the command line."""
    return {"feedback": feedback, "settings_toml": settings_to_toml(settings), "run_id": run_id,
            "quick": args.quick, "device": args.device or settings.models.device,
            "progress": lambda line: print(line, flush=True)}  # fmt: skip


def _train_intent(settings: Settings, args: argparse.Namespace, run_id: str, feedback: list) -> Path:
    from assistant.backends.embedding_cache import cache_dir
    from assistant.factory import build_intent_training_embedder
    from assistant.model_preparation import resolve_model
    from assistant.training.intent import train_intent_model

    return train_intent_model(
        settings.paths.shop_dir,
        build_intent_training_embedder(settings),  # the prepared embedder (+ the English one, by the setting)
        settings.paths.artifacts_dir,
        embedder_reference=resolve_model(ModelRole.EMBEDDER, settings.paths, settings.models).reference,
        settings_toml=settings_to_toml(settings),
        run_id=run_id,
        progress=lambda line: print(line, flush=True),
        fine_tune_encoder=args.fine_tune_encoder or args.component == "all",
        quick=args.quick,
        device=args.device or settings.models.device,
        max_examples=args.max_examples,
        cache_dir=cache_dir(settings.paths.data_dir),
        out_of_scope_fit=settings.assistant.out_of_scope_fit,
        names_as_examples=settings.models.intent_names_as_examples,
    )


def _train_retriever(settings: Settings, args: argparse.Namespace, run_id: str, feedback: list) -> Path:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.embedding_cache import cache_dir
    from assistant.catalog import load_shop_knowledge
    from assistant.model_preparation import require_model
    from assistant.training.retriever import train_retriever

    device = args.device or settings.models.device
    return train_retriever(
        settings.paths.shop_dir,
        load_shop_knowledge(settings.paths.shop_dir),
        settings.paths.artifacts_dir,
        embedder_reference=require_model(ModelRole.EMBEDDER, settings.paths, settings.models),
        make_embedder=lambda ref: SentenceTransformerEmbedder(ref, device=device),
        max_pairs=args.max_examples,
        max_eval=args.max_examples,
        cache_dir=cache_dir(settings.paths.data_dir),
        **_run_options(settings, args, run_id, feedback),
    )


def _train_reranker(settings: Settings, args: argparse.Namespace, run_id: str, feedback: list) -> Path:
    from assistant.backends.embedding_cache import cache_dir
    from assistant.backends.reranking import TransformersCrossEncoder
    from assistant.catalog import load_shop_knowledge
    from assistant.factory import build_embedder
    from assistant.model_preparation import require_model
    from assistant.training.reranker import train_reranker

    device = args.device or settings.models.device
    return train_reranker(
        settings.paths.shop_dir,
        load_shop_knowledge(settings.paths.shop_dir),
        settings.paths.artifacts_dir,
        base_reference=require_model(ModelRole.EMBEDDER, settings.paths, settings.models),
        retriever=build_embedder(settings),  # the candidates come from the retriever in use
        make_reranker=lambda ref: TransformersCrossEncoder(ref, device=device),
        max_pairs=args.max_examples,
        max_eval=args.max_examples,
        cache_dir=cache_dir(settings.paths.data_dir),
        **_run_options(settings, args, run_id, feedback),
    )


def _train_generator(settings: Settings, args: argparse.Namespace, run_id: str, feedback: list) -> Path:
    from assistant.backends.text_generation import TransformersTextGenerator
    from assistant.factory import build_assistant
    from assistant.model_preparation import require_model
    from assistant.training.generator import train_generator

    device = args.device or settings.models.device
    with tempfile.TemporaryDirectory(prefix="generator-replay-") as scratch:
        # The replay that records prompts writes conversations to a throwaway database, never the shop's.
        replay_settings = replace(
            settings,
            store=replace(settings.store, database_url=f"sqlite:///{Path(scratch) / 'replay.db'}"),
            generation=replace(settings.generation, mode="templates"),
        )
        assistant = build_assistant(replay_settings)
        assistant.warm_up()
        return train_generator(
            settings.paths.shop_dir,
            assistant,
            settings.paths.artifacts_dir,
            base_reference=require_model(ModelRole.GENERATOR, settings.paths, settings.models),
            make_generator=lambda ref: TransformersTextGenerator(ref, device=device),
            max_train=args.max_examples,
            max_eval=args.max_examples,
            max_new_tokens=settings.generation.max_new_tokens,
            **_run_options(settings, args, run_id, feedback),
        )


TRAINERS = {
    "intent": _train_intent,
    "retriever": _train_retriever,
    "reranker": _train_reranker,
    "generator": _train_generator,
}
