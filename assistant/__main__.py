"""Command line: `python -m assistant --help` lists the commands that exist today."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.errors import AssistantError, ConfigError, DataError
from assistant.schema import ChatMessage, ModelRole
from assistant.settings import Settings, load_settings, settings_to_toml
from assistant.training.cli import add_train_parser

logger = logging.getLogger("assistant")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command (importing it loads no ML library)."""
    parser = argparse.ArgumentParser(
        prog="python -m assistant",
        description="Shop assistant: prepare models and run the assistant's commands.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: ./assistant.toml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one setting (repeatable), e.g. --set models.device=cpu",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="prepare, inspect and check the model folders")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    prepare = models_commands.add_parser(
        "prepare", help="convert the packaged weights into model folders (idempotent)"
    )
    prepare.add_argument(
        "--role",
        action="append",
        choices=[r.value for r in ModelRole],
        help="prepare only this role (repeatable; default: all)",
    )
    prepare.add_argument("--force", action="store_true", help="rebuild even if up to date")
    models_commands.add_parser("status", help="where each model role loads from, and if it is ready")
    models_commands.add_parser("verify", help="re-check every prepared file against its checksum")
    check = models_commands.add_parser(
        "check", help="load each model and run it once, printing load time and speed"
    )
    check.add_argument("--json", action="store_true", help="print the figures as JSON")
    served = models_commands.add_parser(
        "serve-generator",
        help="serve the generator (the promoted run's, else the prepared model) with `transformers serve`, "
        "an OpenAI-compatible endpoint for models.generator_endpoint",
    )
    served.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    served.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    served.add_argument("--continuous-batching", action=argparse.BooleanOptionalAction, default=True,
                        help="batch concurrent shoppers' drafts together (paged attention); on by default: "
                        "with 16 shoppers it serves ~6x the tokens/s of one request at a time even on a CPU")  # fmt: skip
    served.add_argument("--kv-cache-tokens", type=int, default=None,
                        help="tokens the batched KV cache holds (default: 32768 on a CPU, the engine's own sizing "
                        "from free memory on a GPU)")  # fmt: skip

    generate = commands.add_parser(
        "generate", help="stream the generator's reply to one message (a model smoke test)"
    )
    generate.add_argument("message", help="the user message")
    generate.add_argument("--max-new-tokens", type=int, default=None)

    data = commands.add_parser("data", help="validate shop data, import a shop's exports, show figures")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    validate = data_commands.add_parser(
        "validate", help="check schemas and cross references of a shop folder"
    )
    validate.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )
    figures = data_commands.add_parser("figures", help="counts per file, language and intent")
    figures.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )
    figures.add_argument("--markdown", action="store_true", help="print Markdown tables")
    importer = data_commands.add_parser(
        "import", help="convert a shop export into the conversation log format"
    )
    importer.add_argument(
        "--format", required=True, choices=["messages-jsonl", "ticket-csv", "bitext", "abcd"], dest="fmt"
    )
    importer.add_argument("source", type=Path, help="the export file")
    importer.add_argument("destination", type=Path, help="conversations JSONL to write")
    importer.add_argument(
        "--on-error",
        choices=["skip", "reject"],
        default="skip",
        help="skip malformed rows (reported) or reject the whole import (default: skip)",
    )
    importer.add_argument("--redact", action="store_true", help="replace e-mails, phones, cards and names")
    importer.add_argument("--label-map", type=Path, default=None,
                          help="JSON {raw: intent} or CSV raw,intent renaming the export's intent labels onto the "
                               "engine's (a label mapped to \"\" is dropped; the turn stays). Default: the engine's "
                               "map for the format, where it has one (bitext)")  # fmt: skip

    split = data_commands.add_parser(
        "split", help="assign the shop's logged conversations to train, dev and test (splits/)"
    )
    for sharing in (importer, split):  # import into a shop's logs/ writes its splits too
        sharing.add_argument(
            "--dev-share", type=float, default=0.1, help="share of conversations for dev (0.1)"
        )
        sharing.add_argument(
            "--test-share", type=float, default=0.1, help="share of conversations for test (0.1)"
        )
        sharing.add_argument(
            "--seed", type=int, default=0, help="the same logs and seed give the same splits"
        )
        sharing.add_argument("--reassign", action="store_true",
                             help="assign every conversation again (default: one already in a split stays there)")  # fmt: skip
    importer.add_argument("--append", action="store_true",
                          help="add to DEST's conversations (a conversation with an id DEST has replaces it) "
                               "instead of replacing the file")  # fmt: skip
    split.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )

    sheet = data_commands.add_parser(
        "label-sheet", help="a CSV of unlabelled customer turns with the intent model's suggestions, to label"
    )
    sheet.add_argument("--out", type=Path, required=True, help="the CSV to write")
    sheet.add_argument("--per-intent", type=int, default=10, help="turns per suggested intent (default 10)")
    sheet.add_argument("--max-rows", type=int, default=500, help="rows in all (default 500)")
    sheet.add_argument(
        "--relabel", action="store_true", help="include turns that have a label (to review them)"
    )
    sheet.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )
    apply_labels = data_commands.add_parser(
        "apply-labels", help="write a filled-in label sheet's intent column into the shop's logs"
    )
    apply_labels.add_argument(
        "sheet", type=Path, help="the CSV from label-sheet, its intent column filled in"
    )
    apply_labels.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )
    apply_labels.add_argument("--label-map", type=Path, default=None,
                              help="JSON or CSV renaming the sheet's labels onto the engine's intents")  # fmt: skip

    attribute = data_commands.add_parser(
        "attribute",
        help="give agent replies that name no documents the one they clearly drew on (by similarity)",
    )
    attribute.add_argument("--margin", type=float, default=None,
                           help="the cosine lead the best document needs over the next (default 0.03; higher: "
                                "fewer, surer)")  # fmt: skip
    attribute.add_argument("--dry-run", action="store_true", help="report what it would give; write nothing")
    attribute.add_argument(
        "path", nargs="?", type=Path, default=None, help="shop folder (default: paths.shop_dir)"
    )

    catalog = data_commands.add_parser(
        "import-catalog", help="convert a product export into the shop's catalog/products.jsonl"
    )
    catalog.add_argument("fmt", choices=["shopify", "woocommerce", "google-merchant", "csv", "jsonl"],
                         metavar="FORMAT", help="shopify | woocommerce | google-merchant | csv | jsonl")  # fmt: skip
    catalog.add_argument("source", type=Path, help="the export file (CSV, TSV, XML or JSONL)")
    catalog.add_argument("--shop", type=Path, help="shop folder to write into (default: paths.shop_dir)")
    catalog.add_argument("--mapping", type=Path, help="csv/jsonl: JSON of our field -> your column")
    catalog.add_argument("--language", default=None, help="language of the texts (default: the shop's first)")
    catalog.add_argument("--currency", help="currency when the export has none (default: shop.json)")
    knowledge = data_commands.add_parser(
        "import-knowledge", help="convert FAQ/policy pages or an FAQ CSV into knowledge/passages.jsonl"
    )
    knowledge.add_argument(
        "source", type=Path, help="a folder of .md/.html/.txt pages, or a question,answer CSV"
    )
    knowledge.add_argument("--shop", type=Path, help="shop folder to write into (default: paths.shop_dir)")
    for sub in (catalog, knowledge):
        sub.add_argument("--on-error", choices=["skip", "reject"], default="skip",
                         help="skip malformed rows (reported) or reject the whole import (default: skip)")  # fmt: skip

    shop = commands.add_parser("shop", help="create a shop folder")
    shop_commands = shop.add_subparsers(dest="shop_command", metavar="ACTION", required=True)
    init = shop_commands.add_parser(
        "init", help="write a valid empty shop folder and point the settings at it"
    )
    init.add_argument("folder", type=Path)
    init.add_argument("--name", default=None, help="the shop's name (default: the folder's name)")
    init.add_argument("--languages", default="en", help="comma-separated, first = default (default: en)")
    init.add_argument("--currency", default="USD", help="ISO 4217 code (default: USD)")
    init.add_argument(
        "--order-example", default="#1001", help="what an order number looks like (default: #1001)"
    )
    init.add_argument(
        "--no-settings", action="store_true", help="do not point the settings file at the folder"
    )

    commands.add_parser("index", help="build or update the search index of the shop (incremental)")
    add_train_parser(commands)
    commands.add_parser("chat", help="talk to the assistant in the terminal")
    ask = commands.add_parser("ask", help="one turn: print the reply (and with --json, the whole trace)")
    ask.add_argument("message")
    ask.add_argument("--conversation", default=None, help="conversation id (default: a new one)")
    ask.add_argument("--json", action="store_true", help="print the reply and its trace as JSON")

    evaluate = commands.add_parser(
        "eval", help="offline evaluation: replay held-out conversations, or a suite"
    )
    evaluate.add_argument(
        "suite",
        nargs="?",
        default="replay",
        choices=["replay", "intents", "retrieval", "cold-start", "conversations"],
    )
    evaluate.add_argument("--shared-data", type=Path, default=Path("../shared/data"),
                          help="cold-start: folder of the public data sets (bitext, clinc150)")  # fmt: skip
    evaluate.add_argument(
        "--split", default="test", choices=["train", "dev", "test"], help="replay: which split"
    )
    evaluate.add_argument("--limit", type=int, default=None, help="replay: only the first N conversations")
    evaluate.add_argument(
        "--generation", choices=["model", "templates"], help="replay: override generation.mode"
    )
    evaluate.add_argument("--suite-dir", type=Path, default=Path("evals/conversations"),
                          help="conversations: folder of the YAML conversations")  # fmt: skip
    evaluate.add_argument("--floor", type=Path, help="conversations: fail below the pass rate in this JSON")
    evaluate.add_argument(
        "--baseline", type=Path, help="fail (exit 1) if a headline metric drops below this baseline"
    )
    evaluate.add_argument("--run-id", help="name of the results folder (default: time and suite)")
    evaluate.add_argument("--out", type=Path, default=Path("evals/results"), help="where run folders go")
    evaluate.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two run folders")
    evaluate.add_argument(
        "--data",
        type=Path,
        help="intents: text,label CSV/JSONL or CLINC150 JSON (none given: "
        "the shop's labelled logs, train split against test split)",
    )
    evaluate.add_argument(
        "--test-share", type=float, default=0.1, help="intents: held-out share when the data has no split"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="intents: split seed")
    evaluate.add_argument("--train", type=Path, dest="train_file", help="intents: a train file (with --test)")
    evaluate.add_argument("--test", type=Path, dest="test_file", help="intents: a test file (with --train)")
    evaluate.add_argument(
        "--text-column", help="intents: the text column of a CSV (default: text/instruction/utterance)"
    )
    evaluate.add_argument(
        "--label-column", help="intents: the label column of a CSV (default: label/intent/category)"
    )
    evaluate.add_argument("--label-map", type=Path,
                          help="intents: JSON {raw: label} or CSV raw,label; map a label to \"\" to drop it "
                               "(\"oos\" is read as out_of_scope)")  # fmt: skip
    evaluate.add_argument("--validation-share", type=float, default=0.15,
                          help="intents: share of train (per label) that fits the temperature and threshold")  # fmt: skip
    evaluate.add_argument(
        "--max-examples", type=int, help="intents: at most this many train examples (stratified)"
    )
    evaluate.add_argument("--per-label", type=int, help="intents: at most this many train examples per label")
    evaluate.add_argument("--repeats", type=int, default=1,
                          help="intents: fit and score on this many samples (seeds --seed, --seed + 1, ...) and "
                               "report the spread (with --fine-tune-encoder, fine-tuning on each)")  # fmt: skip
    evaluate.add_argument("--hold-out-intents", type=float, default=0.0, metavar="SHARE",
                          help="intents: leave this share of the intents out of training (drawn with the seed) and "
                               "test on their messages as out of scope")  # fmt: skip
    evaluate.add_argument("--fine-tune-encoder", action="store_true",
                          help="intents: also fine-tune the encoder with the head and report both")  # fmt: skip
    evaluate.add_argument("--epochs", type=float, default=1.0, help="intents: fine-tuning epochs")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], help="intents: fine-tuning device")
    evaluate.add_argument("--corpus", type=Path, help="retrieval: documents (id,text) CSV/TSV/JSONL")
    evaluate.add_argument("--queries", type=Path, help="retrieval: queries (id,text)")
    evaluate.add_argument("--qrels", type=Path, help="retrieval: query_id,doc_id,relevance")

    promote = commands.add_parser(
        "promote", help="make a training run active if it beats the active one on the dev split"
    )
    promote.add_argument("component", choices=["intent", "retriever", "reranker", "generator"])
    promote.add_argument("run_id")
    promote.add_argument("--force", action="store_true", help="activate even if it is not better")
    promote.add_argument("--ab", action="store_true",
                         help="also cite the A/B test of this run (`[experiment]`): refuse when the live traffic "
                              "shows it worse on containment, hand-offs or satisfaction, or has too few "
                              "conversations to tell")  # fmt: skip
    promote.add_argument("--ab-days", type=int, default=90, help="days of traffic the A/B comparison reads")
    runs_list = commands.add_parser(
        "list", help="a component's training runs, their dev metrics, the active one"
    )
    runs_list.add_argument("component", choices=["intent", "retriever", "reranker", "generator"])
    back = commands.add_parser("rollback", help="re-activate the run that was active before the current one")
    back.add_argument("component", choices=["intent", "retriever", "reranker", "generator"])

    serve = commands.add_parser(
        "serve", help="run the web server: shopper chat, agent console, JSON API and widget"
    )
    serve.add_argument("--host", help="interface to listen on (default: web.host)")
    serve.add_argument("--port", type=int, help="port (default: web.port)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the database and the vector store "
                       "(default: web.workers); each loads the models")  # fmt: skip
    database = commands.add_parser("db", help="the database schema (alembic migrations)")
    database_commands = database.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    database_commands.add_parser(
        "upgrade", help="apply pending migrations (the server also does at start-up)"
    )
    database_commands.add_parser("current", help="print the schema's revision and the newest one")
    revision = database_commands.add_parser(
        "revision", help="write a new migration from the difference between the models and the database"
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration changes")
    agents = commands.add_parser("agents", help="support agents' accounts for the console and the API")
    agents_commands = agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    add = agents_commands.add_parser("add", help="create an account (password from stdin or a prompt)")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--generate-password",
        type=Path,
        metavar="FILE",
        help="make a random password and write it to FILE (mode 600) instead of asking",
    )
    add.add_argument("--if-missing", action="store_true", help="do nothing when the account exists")
    add.add_argument("--replace", action="store_true", help="set a new password on an existing account")
    agents_commands.add_parser("list", help="list the accounts")
    remove = agents_commands.add_parser("remove", help="delete an account and end its sessions")
    remove.add_argument("username")
    agents_commands.add_parser(
        "hash-password", help="print a password hash for web.agent_accounts (password from stdin or a prompt)"
    )

    settings_cmd = commands.add_parser("settings", help="show the resolved settings")
    settings_cmd.add_argument("action", choices=["show"], help="show: print them as TOML")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status (errors print a message, not a trace)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = args.config
        if args.command == "shop" and config is not None and not config.exists():
            config = None  # `shop init` writes the settings file it is given
        settings = load_settings(config_file=config, overrides=args.overrides)
        logging.basicConfig(
            level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return _dispatch(args, settings)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "settings":
        print(settings_to_toml(settings), end="")
        return 0
    if args.command == "data":
        return _data(args, settings)
    if args.command == "shop":
        return _shop(args)
    if args.command == "index":
        from assistant.indexing.cli import run_index

        return run_index(settings)
    if args.command == "eval":
        from assistant.evaluation.cli import run_eval

        return run_eval(settings, args)
    if args.command == "train":
        from assistant.training.cli import run_train

        return run_train(settings, args)
    if args.command == "serve":
        from ui.app import serve

        if args.workers is not None and not 1 <= args.workers <= 64:
            raise ConfigError(f"--workers must be between 1 and 64, not {args.workers}")
        return serve(settings, host=args.host, port=args.port, workers=args.workers)
    if args.command == "db":
        return _database(settings, args)
    if args.command == "agents":
        return _agents(settings, args)
    if args.command in ("promote", "list", "rollback"):
        return _runs(settings, args)
    if args.command == "chat":
        from assistant.cli_chat import run_chat

        return run_chat(settings)
    if args.command == "ask":
        from assistant.cli_chat import ask_once

        return ask_once(settings, args.message, conversation_id=args.conversation, as_json=args.json)
    if args.command == "generate":
        return _generate(settings, args.message, args.max_new_tokens)
    action = args.models_command
    if action == "prepare":
        return _prepare(settings, args.role, args.force)
    if action == "status":
        return _status(settings)
    if action == "verify":
        return _verify(settings)
    if action == "serve-generator":
        return _serve_generator(settings, args)
    return _check(settings, as_json=args.json)


def _shop(args: argparse.Namespace) -> int:
    from assistant.data.scaffold import init_shop, point_settings_at

    folder = args.folder
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    written = init_shop(folder, name=args.name or folder.resolve().name.replace("-", " ").replace("_", " ").title(),
                        languages=languages, currency=args.currency.upper(), order_example=args.order_example)  # fmt: skip
    for path in written:
        print(f"wrote {path}")
    if not args.no_settings:
        config = args.config or Path("assistant.toml")
        point_settings_at(folder, config)
        print(f"{config}: paths.shop_dir = {folder}")
    print(f"next: edit {folder / 'shop.json'}, import your exports (`python -m assistant data import-catalog ...`, "
          f"`data import-knowledge ...`), then `python -m assistant data validate {folder}`")  # fmt: skip
    return 0


def _data(args: argparse.Namespace, settings: Settings) -> int:
    if args.data_command == "import-catalog":
        from assistant.data.catalog_import import import_catalog
        from assistant.shop import load_profile

        shop_dir = args.shop or settings.paths.shop_dir
        language = args.language or load_profile(shop_dir).default_language
        imported_catalog = import_catalog(args.fmt, args.source, shop_dir, mapping=args.mapping, on_error=args.on_error,
                                language=language, currency=args.currency)  # fmt: skip
        done = imported_catalog
        print(f"{args.source} ({done.format}): {done.rows_in} rows in, {done.products_out} products written to "
              f"{shop_dir / 'catalog' / 'products.jsonl'}, {len(done.rejected)} rows rejected")  # fmt: skip
        if done.missing:
            print("  not in the export (shown as unknown, never invented): "
                  + ", ".join(f"{k} for {v} products" for k, v in sorted(done.missing.items())))  # fmt: skip
        _print_rejections(done.rejected)
        return 0
    if args.data_command == "import-knowledge":
        from assistant.data.knowledge_import import import_knowledge
        from assistant.shop import load_profile

        shop_dir = args.shop or settings.paths.shop_dir
        knowledge = import_knowledge(args.source, shop_dir, languages=load_profile(shop_dir).languages,
                                     on_error=args.on_error)  # fmt: skip
        topics = ", ".join(f"{k} {v}" for k, v in sorted(knowledge.topics.items()))
        print(f"{args.source}: {knowledge.files_in} files, {knowledge.passages_out} passages ({topics}) with "
              f"{knowledge.facts_out} facts written to {shop_dir / 'knowledge' / 'passages.jsonl'}, "
              f"{len(knowledge.rejected)} skipped")  # fmt: skip
        _print_rejections(knowledge.rejected)
        return 0
    if args.data_command == "validate":
        from assistant.data.validation import validate_shop

        args.path = args.path or settings.paths.shop_dir
        report = validate_shop(args.path)
        for issue in report.issues:
            print(issue)
        for note in report.notes:
            print(f"note: {note}")
        summary = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        verdict = "valid" if report.is_valid else f"{len(report.issues)} problems"
        print(f"{args.path}: {verdict} ({summary})")
        return 0 if report.is_valid else 1
    if args.data_command == "figures":
        from assistant.data.figures import figures_markdown, shop_figures

        figures = shop_figures(args.path or settings.paths.shop_dir)
        print(
            figures_markdown(figures) if args.markdown else json.dumps(figures, indent=2, ensure_ascii=False)
        )
        return 0
    if args.data_command == "label-sheet":
        from assistant.backends.embedding_cache import cache_dir
        from assistant.factory import build_intent_model
        from assistant.training.labelling import labelling_sheet, write_sheet

        if args.per_intent < 1 or args.max_rows < 1:
            raise DataError("--per-intent and --max-rows must be at least 1")
        shop_dir = args.path or settings.paths.shop_dir
        embedder, head = build_intent_model(settings)
        rows = labelling_sheet(shop_dir, embedder, head, per_intent=args.per_intent, max_rows=args.max_rows,
                               relabel=args.relabel, cache_dir=cache_dir(settings.paths.data_dir), progress=print)  # fmt: skip
        if not rows:
            print(f"{shop_dir}: no customer turns without a label" + ("" if args.relabel else " (--relabel to review "
                                                                        "the labelled ones)"))  # fmt: skip
            return 0
        write_sheet(rows, args.out)
        intents = len({row["suggested"] for row in rows})
        print(f"{len(rows)} turns over {intents} suggested intents written to {args.out}: fill in the intent column "
              f"(the suggestion, another engine intent, or blank to skip), then `python -m assistant data "
              f"apply-labels {args.out}`")  # fmt: skip
        return 0
    if args.data_command == "apply-labels":
        from assistant.data.labels import read_label_map
        from assistant.training.labelling import apply_labels, describe

        shop_dir = args.path or settings.paths.shop_dir
        applied = apply_labels(shop_dir, args.sheet, label_map=read_label_map(args.label_map))
        print(describe(applied))
        if applied.applied:
            print("next: `python -m assistant train intent` learns from them")
        return 0
    if args.data_command == "attribute":
        from assistant.backends.embedding_cache import cache_dir
        from assistant.catalog import load_shop_knowledge
        from assistant.factory import build_embedder
        from assistant.training.attribution import DEFAULT_MARGIN, attribute_replies

        shop_dir = args.path or settings.paths.shop_dir
        margin = DEFAULT_MARGIN if args.margin is None else args.margin
        found = attribute_replies(shop_dir, load_shop_knowledge(shop_dir), build_embedder(settings, use_fine_tuned=False),
                                  margin=margin, write=not args.dry_run, cache_dir=cache_dir(settings.paths.data_dir),
                                  progress=print)  # fmt: skip
        print(found.describe(margin, written=not args.dry_run))
        if found.attributed and not args.dry_run:
            print("next: `python -m assistant train retriever` and `train reranker` learn from them")
        return 0
    if args.data_command == "split":
        shop_dir = args.path or settings.paths.shop_dir
        _print_splits(shop_dir, args)
        return 0
    from assistant.data.importers import import_logs
    from assistant.data.labels import describe_outside, outside_engine, packaged_label_map, read_label_map
    from assistant.data.splits import check_shares

    check_shares(args.dev_share, args.test_share)  # before anything is written
    label_map = read_label_map(args.label_map) if args.label_map else packaged_label_map(args.fmt)
    imported = import_logs(args.fmt, args.source, args.destination, on_error=args.on_error, redact=args.redact,
                           label_map=label_map, append=args.append)  # fmt: skip
    print(
        f"{args.source} ({imported.format}): {imported.rows_in} rows in, {imported.conversations_out} "
        f"conversations ({imported.turns_out} turns) written to {args.destination}, "
        f"{len(imported.rejected)} rows rejected"
    )
    if args.append:
        print(f"appended: {imported.conversations_out - imported.replaced} new conversations, {imported.replaced} "
              f"replacing ones with the same id; {imported.conversations_total} in {args.destination}")  # fmt: skip
    labelled = sum(imported.intents.values())
    if labelled:
        given = "the label map" if args.label_map else f"the engine's {args.fmt} label map"
        renamed = f", {imported.relabelled} renamed by {given}" if label_map else ""
        print(f"{labelled} customer turns labelled with {len(imported.intents)} intents{renamed}")
    outside = outside_engine(imported.intents)
    if outside:
        print(f"note: {describe_outside(outside)}")
    _print_rejections(imported.rejected)
    destination = args.destination.resolve()
    if (
        imported.conversations_out
        and destination.parent.name == "logs"
        and destination.name == "conversations.jsonl"
    ):
        _print_splits(destination.parent.parent, args)  # into a shop's logs: the trainers need its splits
    else:
        print("to train on them, put them in a shop's logs/conversations.jsonl and run `python -m assistant data "
              "split SHOP` (import straight there and the splits are written for you)")  # fmt: skip
    return 0


def _print_splits(shop_dir: Path, args: argparse.Namespace) -> None:
    from assistant.data.splits import split_shop_logs

    splits, assigned = split_shop_logs(shop_dir, dev_share=args.dev_share, test_share=args.test_share,
                                       seed=args.seed, reassign=args.reassign)  # fmt: skip
    counts = ", ".join(f"{name} {len(ids)}" for name, ids in splits.items())
    total = sum(len(ids) for ids in splits.values())
    how = ("all assigned now, stratified by intent" if assigned == total else
           f"{assigned} assigned now; the others kept their split (--reassign redoes all)")  # fmt: skip
    print(f"splits written to {shop_dir / 'splits'}: {counts} conversations ({how}; seed {args.seed})")


def _print_rejections(rejected: list) -> None:
    for rejection in rejected[:50]:
        print(f"  rejected {rejection.where}: {rejection.reason}")
    if len(rejected) > 50:
        print(f"  ... and {len(rejected) - 50} more")


def _ab_allows(settings: Settings, args: argparse.Namespace) -> bool:
    """Print the A/B comparison of the run being promoted and keep it in the run's folder (`ab.json`); False
    when it argues against promotion (and --force was not given)."""
    import json

    from assistant.analytics import Analytics
    from assistant.experiments import compare_arms
    from assistant.factory import database_url
    from assistant.store.database import Database

    e = settings.experiment
    name = (
        e.name if e.name != "auto" and e.candidate_run == args.run_id else f"{args.component}:{args.run_id}"
    )
    report = Analytics(Database(database_url(settings))).report(days=args.ab_days)
    comparison = compare_arms(report.arms, experiment=name)
    if comparison is None:
        print(f"not promoted: no A/B traffic for {name} in the last {args.ab_days} days; run the test with "
              f"experiment.component={args.component} and experiment.candidate_run={args.run_id}, or leave out --ab")  # fmt: skip
        return bool(args.force)
    print(comparison.summary())
    folder = settings.paths.artifacts_dir / args.component / args.run_id
    if folder.is_dir():
        record = {"experiment": name, "days": args.ab_days, "conversations": list(comparison.conversations),
                  "rates": {r.name: {"control": list(r.control), "candidate": list(r.candidate),
                                     "difference": r.difference, "verdict": r.verdict} for r in comparison.rates},
                  "reply_ms_median_difference": comparison.reply_ms, "too_early": comparison.is_too_early}  # fmt: skip
        (folder / "ab.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.force:
        return True
    if comparison.is_worse:
        print("not promoted: the A/B test shows the candidate worse on live traffic (above)")
        return False
    if comparison.is_too_early:
        print("not promoted: too few conversations in an arm to tell (above); let the test run longer")
        return False
    return True


def _runs(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.training.registry import HEADLINE_METRICS, list_runs, promote, rollback

    artifacts = settings.paths.artifacts_dir
    if args.command == "promote":
        if args.ab and not _ab_allows(settings, args):
            return 1
        result = promote(artifacts, args.component, args.run_id, force=args.force)
        print(("promoted: " if result.is_promoted else "not promoted: ") + result.reason)
        if result.is_promoted and args.component == "retriever":
            print("now run `python -m assistant index`: the shop is re-embedded with the new retriever")
        return 0 if result.is_promoted or result.previous == args.run_id else 1
    if args.command == "rollback":
        print(f"{args.component}: {rollback(artifacts, args.component)} is active again")
        return 0
    metric = HEADLINE_METRICS[args.component]
    runs = list_runs(artifacts, args.component)
    if not runs:
        print(f"no {args.component} runs under {artifacts / args.component}")
    for run in runs:
        value = "-" if run.headline is None else f"{run.headline:.4f}"
        print(f"{'*' if run.is_active else ' '} {run.run_id:24s} {metric} {value}")
    return 0


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AssistantError("the passwords differ; nothing was changed")
    return first


def _agents(settings: Settings, args: argparse.Namespace) -> int:
    import os
    import secrets

    from assistant.accounts import AgentAccounts, hash_password
    from assistant.factory import database_url
    from assistant.store.database import Database

    if args.agents_command == "hash-password":
        print(hash_password(_read_password(not sys.stdin.isatty())))
        return 0
    accounts = AgentAccounts(Database(database_url(settings)), configured=settings.web.agent_accounts)
    if args.agents_command == "list":
        for name in accounts.usernames():
            print(name)
        return 0
    if args.agents_command == "remove":
        if not accounts.remove(args.username):
            print(f"no account {args.username!r}", file=sys.stderr)
            return 1
        print(f"removed {args.username}")
        return 0
    if args.if_missing and args.username in accounts.usernames():
        print(f"agent {args.username} exists")
        return 0
    if args.generate_password:
        password = secrets.token_urlsafe(12)
        args.generate_password.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(args.generate_password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    else:
        password = _read_password(args.password_stdin)
    accounts.add(args.username, password, replace=args.replace)
    where = f" (password in {args.generate_password})" if args.generate_password else ""
    print(f"agent {args.username} can sign in at /agent/login{where}")
    return 0


def _prepare(settings: Settings, roles: list[str] | None, force: bool) -> int:
    from assistant.model_preparation import prepare_models

    chosen = [ModelRole(r) for r in roles] if roles else list(ModelRole)
    prepare_models(
        settings.paths,
        settings.models,
        roles=chosen,
        force=force,
        progress=lambda line: print(line, flush=True),
    )
    return 0


def _status(settings: Settings) -> int:
    from assistant.model_preparation import resolve_model

    all_ready = True
    for role in ModelRole:
        location = resolve_model(role, settings.paths, settings.models)
        all_ready &= location.is_ready
        state = "ready" if location.is_ready else "NOT READY (run: python -m assistant models prepare)"
        kind = "folder" if location.is_local else "hub id"
        print(f"{role.value:<17} {state:<10} {kind}: {location.reference}")
    from assistant.factory import generation_mode

    mode = generation_mode(settings)
    if settings.models.generator_endpoint != "none":
        from assistant.factory import build_generator

        health = build_generator(settings).health()
        detail = health.get("model") or health.get("detail", "")
        print(
            f"{'replies':<17} {mode}: endpoint {settings.models.generator_endpoint} is {health['state']} ({detail})"
        )
    else:
        where = "the in-process generator" if mode == "model" else "grounded templates (no language model)"
        print(f"{'replies':<17} {mode}: {where}")
    return 0 if all_ready else 1


def _verify(settings: Settings) -> int:
    from assistant.model_preparation import PACKAGED_WEIGHTS, is_prepared, verify_prepared

    failed = False
    for role, weights in PACKAGED_WEIGHTS.items():
        if weights.mode == "locate":
            continue
        folder = settings.paths.models_dir / role.value
        if not is_prepared(folder):
            print(f"{role.value}: not prepared at {folder}")
            failed = True
            continue
        bad = verify_prepared(folder)
        print(f"{role.value}: {'OK' if not bad else 'CHANGED: ' + ', '.join(bad)}")
        failed |= bool(bad)
    return 1 if failed else 0


def _check(settings: Settings, *, as_json: bool) -> int:
    from assistant.factory import build_embedder, build_generator

    figures: dict[str, dict[str, float]] = {}
    for role in (ModelRole.EMBEDDER, ModelRole.ENGLISH_EMBEDDER):
        embedder = build_embedder(settings, role)
        started = time.perf_counter()
        embedder.warm_up()
        loaded = time.perf_counter() - started
        vectors = embedder.embed_passages(["Free returns within 30 days.", "30天内免费退货。"])
        similarity = float(vectors[0] @ vectors[1])
        figures[role.value] = {"load_s": round(loaded, 2), "en_zh_similarity": round(similarity, 3)}
    generator = build_generator(settings)
    started = time.perf_counter()
    generator.warm_up()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    text = generator.generate(
        [ChatMessage("user", "Say hello to a shopper in one short sentence.")], max_new_tokens=24
    )
    figures["generator"] = {
        "load_s": round(loaded, 2),
        "reply_s": round(time.perf_counter() - started, 2),
    }
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        for role_name, values in figures.items():
            print(f"{role_name:<17} " + "  ".join(f"{k}={v}" for k, v in values.items()))
        print(f"generator says: {text}")
    return 0


def _database(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.factory import database_url
    from assistant.store.database import Database, alembic_config, current_revision, head_revision, migrations

    url = database_url(settings)
    shown = url.split("@", 1)[-1] if "@" in url else url  # no password on the screen
    if args.db_command == "revision":
        db = Database(url)  # the database at head: the new revision is what the models add to it
        with db.engine.begin() as connection:
            script = migrations.revision(alembic_config(connection), message=args.message, autogenerate=True)
        paths = [s.path for s in (script if isinstance(script, list) else [script]) if s is not None]
        print(f"wrote {', '.join(paths)}: read it, edit what autogenerate cannot know, then `db upgrade`")
        return 0
    db = Database(url, migrate_schema=args.db_command == "upgrade")
    print(f"{shown}: revision {current_revision(db.engine) or 'none'} (newest: {head_revision()})")
    return 0


def _serve_generator(settings: Settings, args: argparse.Namespace) -> int:
    import signal

    from assistant.backends.device import resolve_device
    from assistant.backends.inference_server import start_transformers_serve, stop
    from assistant.model_preparation import require_model
    from assistant.schema import ModelRole
    from assistant.training.generator import active_generator

    tuned = active_generator(settings.paths.artifacts_dir)
    model = str(tuned) if tuned else require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    print(f"serving {model} with transformers serve on {args.host}:{args.port} ...", flush=True)
    process = start_transformers_serve(model, host=args.host, port=args.port, device=resolve_device(settings.models.device),
                                       continuous_batching=args.continuous_batching, kv_cache_tokens=args.kv_cache_tokens,
                                       log=sys.stderr)  # fmt: skip
    print(f"ready: set models.generator_endpoint = \"http://{args.host}:{args.port}/v1\" "
          f"(e.g. ASSISTANT_MODELS__GENERATOR_ENDPOINT=http://{args.host}:{args.port}/v1); Ctrl+C stops it",
          flush=True)  # fmt: skip
    # A service manager stops this with SIGTERM: exit through `finally`, so the engine goes down with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return process.wait()
    finally:
        stop(process)


def _generate(settings: Settings, message: str, max_new_tokens: int | None) -> int:
    from assistant.factory import build_generator

    if not message.strip():
        print("error: the message is empty", file=sys.stderr)
        return 2
    generator = build_generator(settings)
    limit = max_new_tokens or settings.generation.max_new_tokens
    for piece in generator.stream(
        [ChatMessage("user", message)],
        max_new_tokens=limit,
        temperature=settings.generation.temperature,
    ):
        print(piece, end="", flush=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
