"""Scale: synthetic catalogs of 10k and 50k products in the shop schema (the demo shop's products, varied),
on the embedded back ends (chromadb in the data folder, SQLite) and on servers (a chroma server started
with `chroma run` and a PostgreSQL server, both private and on 127.0.0.1, started by `tests/servers.py`;
PostgreSQL needs `make services`). Prints, per size and back end: index build from scratch, an unchanged re-index, an
incremental re-index (1 % of products changed), start-up to ready (a fresh process: build + warm_up),
retrieval p50/p95 per turn (the retrieval stage of the trace: every search of the turn, the query
embedding excluded), turn p50/p95, and the serving process's RSS after the turns (with the servers, the
chroma server's RSS too).

The embedder is the hashing fake by default (the figures are about the index and the engines, not the
model; the real e5 embeds ~110 passages/s here, so 50k products x 2 languages take ~15 min): pass
`--embedder real` for the prepared model. Prints figures; asserts nothing.

    .venv/bin/python bench/scale.py [--sizes 10000,50000] [--turns 60] [--embedder hashing|real]
                                    [--backends embedded,server]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/servers.py starts the private servers
CHANGED_SHARE = 0.01


def synthetic_shop(size: int, folder: Path, *, seed: int = 7) -> Path:
    """The demo shop folder with its catalog replaced by `size` products varied from the demo's own."""
    shop = folder / f"shop-{size}"
    if shop.exists():
        shutil.rmtree(shop)
    shutil.copytree(ROOT / "dialogue_data", shop, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    base = [json.loads(line) for line in (ROOT / "dialogue_data" / "catalog" / "products.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip
    rng = random.Random(seed)
    styles = [
        "Classic",
        "Studio",
        "Field",
        "Metro",
        "Coast",
        "Alpine",
        "Urban",
        "Harbor",
        "Prairie",
        "Nordic",
    ]
    with (shop / "catalog" / "products.jsonl").open("w", encoding="utf-8") as out:
        for index in range(size):
            product = dict(base[index % len(base)])
            style = f"{rng.choice(styles)} {index // len(base) + 1}"
            product["id"] = f"S{index:06d}"
            product["title"] = {k: f"{v} ({style})" for k, v in product["title"].items()}
            product["price"] = round(max(1.0, float(product["price"]) * rng.uniform(0.7, 1.4)), 2)
            product["stock"] = rng.choice([0, 3, 12, 40, 200])
            product["rating"] = round(rng.uniform(3.0, 5.0), 1)
            product["review_count"] = rng.randint(0, 400)
            product["bought_together"] = []
            out.write(json.dumps(product, ensure_ascii=False) + "\n")
    return shop


def change_some(shop: Path, share: float, *, seed: int = 11) -> int:
    """Change the price of `share` of the products (an incremental re-index re-embeds only those)."""
    path = shop / "catalog" / "products.jsonl"
    rng = random.Random(seed)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = rng.sample(range(len(rows)), max(1, int(len(rows) * share)))
    for index in chosen:
        rows[index]["price"] = round(rows[index]["price"] + 1.0, 2)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(chosen)


def settings_for(shop: Path, data: Path, embedder: str, extra: list[str] | tuple[str, ...] = ()):
    from assistant.settings import load_settings

    return load_settings(overrides=[f"paths.shop_dir={shop}", f"paths.data_dir={data}",
                                    f"paths.artifacts_dir={data / 'artifacts'}", "generation.mode=templates",
                                    "models.device=cpu", *extra])  # fmt: skip


def make_embedder(kind: str, settings):
    if kind == "real":
        from assistant.factory import build_embedder

        return build_embedder(settings)
    from assistant.backends.embedding import HashingEmbedder

    return HashingEmbedder(dimension=384)


def index_once(settings, embedder) -> float:
    from assistant.catalog import load_shop_knowledge
    from assistant.factory import build_vector_store
    from assistant.indexing.builder import build_index

    started = time.perf_counter()
    shop = load_shop_knowledge(settings.paths.shop_dir)
    build_index(shop, settings.paths.shop_dir, build_vector_store(settings), embedder,
                max_replies=settings.retrieval.max_reply_memory, lexical_dir=settings.paths.lexical_dir)  # fmt: skip
    return time.perf_counter() - started


def child(args: argparse.Namespace) -> None:
    """In a fresh process: start-up to ready, the turns, RSS. Prints one JSON line."""
    from assistant.evaluation.conversation_suite import load_suite
    from assistant.evaluation.metrics import percentile
    from assistant.factory import build_assistant

    started = time.perf_counter()
    settings = settings_for(Path(args.shop), Path(args.data), args.embedder, json.loads(args.overrides))
    assistant = build_assistant(settings, embedder=make_embedder(args.embedder, settings))
    assistant.warm_up()
    ready = time.perf_counter() - started
    # Every hand-written demo conversation's opening message (English and Chinese; products, policy, orders).
    messages = [c.turns[0].message for c in load_suite(ROOT / "evals" / "conversations", "Lumen Lane")]
    messages = (messages or ["show me blue shirts under $30"]) * (args.turns // max(len(messages), 1) + 1)
    retrieval, turns = [], []
    for index, message in enumerate(messages[: args.turns]):
        began = time.perf_counter()
        reply = assistant.respond(f"scale-{index}", message)
        turns.append((time.perf_counter() - began) * 1000)
        retrieval.append(reply.trace.timings_ms.get("retrieval", 0.0))
    rss_mb = _rss_mb()
    print(json.dumps({"ready_s": ready, "retrieval_p50": percentile(retrieval, 50), "retrieval_p95": percentile(retrieval, 95),
                      "turn_p50": percentile(turns, 50), "turn_p95": percentile(turns, 95), "rss_mb": rss_mb,
                      "turns": len(turns)}))  # fmt: skip


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _chroma_server_rss_mb(port: int) -> float:
    """The RSS of the `chroma run` process listening on `port` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                if b"run" in command and str(port).encode() in command:
                    return _rss_mb(entry.name)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--embedder", choices=["hashing", "real"], default="hashing")
    parser.add_argument("--backends", default="embedded,server", help="embedded, server or both")
    parser.add_argument("--overrides", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shop", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.child:
        child(args)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"embedder: {args.embedder}; {args.turns} turns per size; {os.cpu_count()} CPU cores\n")
    print("| products | documents | back end | build from scratch s | unchanged re-index s | 1 % changed re-index s | "
          "start-up to ready s | retrieval p50 / p95 ms | turn p50 / p95 ms | RSS MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as servers:
        if "server" in backends:
            from servers import chroma_server, create_database, postgres_server

            postgres = servers.enter_context(postgres_server())
            chroma_host, chroma_port = servers.enter_context(chroma_server(Path(tmp) / "chroma-server"))
        for size in (int(s) for s in args.sizes.split(",")):
            shop = synthetic_shop(size, Path(tmp))
            original = (shop / "catalog" / "products.jsonl").read_text(encoding="utf-8")
            for backend in backends:
                (shop / "catalog" / "products.jsonl").write_text(original, encoding="utf-8")
                extra: list[str] = []
                if backend == "server":
                    url = create_database(postgres, f"scale_{size}")
                    extra = [f"retrieval.chroma_host={chroma_host}", f"retrieval.chroma_port={chroma_port}",
                             f"store.database_url={url}"]  # fmt: skip
                data = Path(tmp) / f"data-{size}-{backend}"
                settings = settings_for(shop, data, args.embedder, extra)
                embedder = make_embedder(args.embedder, settings)
                scratch = index_once(settings, embedder)
                unchanged = index_once(settings, embedder)
                change_some(shop, CHANGED_SHARE)
                incremental = index_once(settings, embedder)
                result = subprocess.run([sys.executable, __file__, "--child", "--shop", str(shop), "--data", str(data),
                                         "--embedder", args.embedder, "--turns", str(args.turns),
                                         "--overrides", json.dumps(extra)],
                                        capture_output=True, text=True, check=True)  # fmt: skip
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                rss = f"{figures['rss_mb']:.0f}"
                if backend == "server":
                    rss += f" + chroma server {_chroma_server_rss_mb(chroma_port):.0f}"
                    from assistant.factory import build_vector_store

                    store = build_vector_store(settings)
                    store.warm_up()
                    for collection in ("products", "knowledge", "replies"):  # the next size starts empty
                        store._client.delete_collection(collection)
                documents = size * 2
                print(f"| {size:,} | {documents:,} | {backend} | {scratch:.1f} | {unchanged:.1f} | {incremental:.1f} | "
                      f"{figures['ready_s']:.1f} | {figures['retrieval_p50']:.0f} / {figures['retrieval_p95']:.0f} | "
                      f"{figures['turn_p50']:.0f} / {figures['turn_p95']:.0f} | {rss} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
