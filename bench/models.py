"""Model figures on this machine: disk, load time, embedder throughput, generator tokens/s.

Prints figures; asserts nothing. Run after `python -m assistant models prepare`:
    .venv/bin/python bench/models.py [--tokens 64] [--passages 256]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant.factory import build_embedder, build_generator
from assistant.model_preparation import resolve_model
from assistant.schema import ChatMessage, ModelRole
from assistant.settings import load_settings

PASSAGE = (
    "Returns are free within 30 days of delivery for unworn items with their tags. Refunds reach "
    "the original payment method within 5 to 7 business days after the parcel arrives at our warehouse."
)
PASSAGE_ZH = "商品签收后30天内可免费退货，商品需吊牌完好。" + "退款在仓库收货后5至7个工作日内原路退回。"


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument("--passages", type=int, default=256, help="passages per embedding run")
    parser.add_argument("--device", default=None, help="auto|cpu|cuda (default: settings)")
    args = parser.parse_args()
    overrides = [f"models.device={args.device}"] if args.device else []
    settings = load_settings(overrides=overrides)

    started = time.perf_counter()
    import torch  # noqa: F401  # timed apart, so model load times below exclude it

    print(f"== import torch + transformers stack: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    import sentence_transformers  # noqa: F401

    print(f"   import sentence-transformers: {time.perf_counter() - started:.1f} s")
    print("== disk")
    for role in ModelRole:
        location = resolve_model(role, settings.paths, settings.models)
        if location.is_local and location.is_ready:
            print(f"{role.value:<17} {folder_mb(Path(location.reference)):8.0f} MB  {location.reference}")

    print("== embedders")
    for role in (ModelRole.EMBEDDER, ModelRole.ENGLISH_EMBEDDER):
        embedder = build_embedder(settings, role)
        started = time.perf_counter()
        embedder.warm_up()
        load_s = time.perf_counter() - started
        texts = [PASSAGE if i % 2 else PASSAGE_ZH for i in range(args.passages)]
        embedder.embed_passages(texts[:8])  # first call pays one-off setup
        started = time.perf_counter()
        embedder.embed_passages(texts)
        rate = args.passages / (time.perf_counter() - started)
        latencies = []
        for i in range(20):
            started = time.perf_counter()
            embedder.embed_queries([f"how long do refunds take? #{i}"])
            latencies.append((time.perf_counter() - started) * 1000)
        print(
            f"{role.value:<17} load {load_s:5.2f} s   {rate:6.1f} passages/s (en+zh, ~45 tokens)   "
            f"one query p50 {statistics.median(latencies):.0f} ms"
        )

    print("== generator")
    generator = build_generator(settings)
    started = time.perf_counter()
    generator.warm_up()
    print(f"load {time.perf_counter() - started:.2f} s on {generator.device}")
    messages = [ChatMessage("user", "Write a friendly, detailed paragraph about caring for leather boots.")]
    generator.generate(messages, max_new_tokens=4)  # warm-up
    tokenizer = generator.tokenizer
    for batch in (1, 4):
        started = time.perf_counter()
        texts = generator.generate_batch([messages] * batch, max_new_tokens=args.tokens)
        elapsed = time.perf_counter() - started
        produced = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        print(
            f"batch {batch}: {produced} new tokens in {elapsed:.1f} s = {produced / elapsed:.1f} tokens/s "
            f"({produced / elapsed / batch:.1f} per stream)"
        )
    pieces, started, first = 0, time.perf_counter(), None
    for _ in generator.stream(messages, max_new_tokens=args.tokens):
        pieces += 1
        first = first or time.perf_counter() - started
    print(f"stream: first piece after {first or 0:.2f} s, {pieces} pieces")


if __name__ == "__main__":
    main()
