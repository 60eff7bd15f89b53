"""Reply generation: the in-process generator against the OpenAI-compatible endpoint backend
(`transformers serve` on 127.0.0.1, started here), side by side in one run, on the same model.

Backends: `in-process`, `endpoint` (transformers serve, one request at a time) and `endpoint-cb` (with
continuous batching). For each and 1, 4 and 16 concurrent shoppers (each in their own conversation, sending the
English questions of the hand-written conversation suite through `Assistant.respond_stream`):
time to first token, decode tokens/s per draft, aggregate tokens/s, turn latency p50/p95, and the share
of drafts the groundedness check kept. Prints figures; asserts nothing.

    .venv/bin/python bench/generation.py [--turns-per-shopper 2] [--concurrency 1,4,16]

`--engine-only` skips the assistant and measures the engine alone with N concurrent streamed requests
of `--max-tokens` each (the GPU check: `--random-model qwen2-0.5b --continuous-batching --device cuda
--concurrency 1,64` serves a randomly initialised 0.5B model of that architecture).

Needs `make assistant-ready` (prepared models, index, intent model).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.evaluation.metrics import percentile
from assistant.schema import ChatMessage

ROOT = Path(__file__).resolve().parents[1]

SUITE_FILES = ("demo_policy_en.yaml", "demo_service_en.yaml", "demo_shopping_en.yaml", "demo_more.yaml")


@dataclass
class StreamRecord:
    started: float
    first: float | None = None
    ended: float = 0.0
    text: str = ""


@dataclass
class TimedGenerator:
    """Wraps a TextGenerator and records each stream's start, first piece and end."""

    inner: object
    records: list[StreamRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        getattr(self.inner, "warm_up", lambda: None)()

    def generate(self, messages, *, max_new_tokens: int, temperature: float = 0.0) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature))

    def generate_batch(self, prompts, *, max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        return self.inner.generate_batch(prompts, max_new_tokens=max_new_tokens, temperature=temperature)  # type: ignore[attr-defined]

    def stream(self, messages, *, max_new_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        record = StreamRecord(time.perf_counter())
        try:
            for piece in self.inner.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature):  # type: ignore[attr-defined]
                if record.first is None:
                    record.first = time.perf_counter()
                record.text += piece
                yield piece
        finally:
            record.ended = time.perf_counter()
            with self._lock:
                self.records.append(record)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def suite_messages() -> list[str]:
    from assistant.evaluation.conversation_suite import load_suite

    conversations = load_suite(ROOT / "evals" / "conversations", "Lumen Lane")
    return [c.turns[0].message for c in conversations if c.language == "en" and c.file in SUITE_FILES]


def model_messages(settings, messages: list[str]) -> list[str]:
    """The messages whose replies the model phrases (English answers; orders and hand-offs are templates)."""
    from assistant.factory import build_assistant
    from assistant.stages.generation import model_writes

    with tempfile.TemporaryDirectory() as tmp:
        plain = replace(settings, generation=replace(settings.generation, mode="templates"),
                        store=replace(settings.store, database_url=f"sqlite:///{tmp}/pick.db"))  # fmt: skip
        assistant = build_assistant(plain)
        replies = [assistant.respond(f"pick-{i}", m) for i, m in enumerate(messages)]
    return [m for m, r in zip(messages, replies, strict=True) if model_writes(r.trace.decision, r.language)]


def run_level(assistant, timed: TimedGenerator, messages: Sequence[str], shoppers: int, turns_each: int,
              label: str, tokenizer) -> str:  # fmt: skip
    timed.records.clear()
    latencies: list[float] = []
    kept = generated = 0
    lock = threading.Lock()

    def shopper(index: int) -> None:
        nonlocal kept, generated
        for turn in range(turns_each):
            message = messages[(index * turns_each + turn) % len(messages)]
            started = time.perf_counter()
            events = list(assistant.respond_stream(f"bench-{label}-{shoppers}-{index}-{turn}", message))
            elapsed = (time.perf_counter() - started) * 1000
            reply = events[-1].reply
            with lock:
                latencies.append(elapsed)
                if reply is not None and reply.trace.drafts and reply.trace.drafts[0].source == "generated":
                    generated += 1
                    kept += reply.trace.drafts[0].is_grounded

    started = time.perf_counter()
    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(shoppers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    records = [r for r in timed.records if r.first is not None]
    ttft = [(r.first - r.started) * 1000 for r in records]  # type: ignore[operator]
    tokens = [len(tokenizer(r.text, add_special_tokens=False)["input_ids"]) for r in records]
    rates = [
        n / (r.ended - r.first) for n, r in zip(tokens, records, strict=True) if n > 1 and r.ended > r.first
    ]  # type: ignore[operator]
    return (f"| {label} | {shoppers} | {len(latencies)} | {percentile(ttft, 50):.0f} / {percentile(ttft, 95):.0f} | "
            f"{statistics.median(rates) if rates else 0:.1f} | {sum(tokens) / wall:.1f} | "
            f"{percentile(latencies, 50):.0f} / {percentile(latencies, 95):.0f} | {kept}/{generated} |")  # fmt: skip


def bench_assistant(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    from assistant.backends.inference_server import start_transformers_serve, stop
    from assistant.factory import build_assistant, build_generator
    from assistant.model_preparation import require_model
    from assistant.schema import ModelRole
    from assistant.settings import load_settings

    os.chdir(ROOT)
    settings = load_settings(overrides=["models.device=cpu", "generation.mode=model"])
    model = require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    tokenizer = AutoTokenizer.from_pretrained(model)
    messages = model_messages(settings, suite_messages())
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"model {model}; {len(messages)} English suite questions the model phrases; max_new_tokens "
          f"{settings.generation.max_new_tokens}; {os.cpu_count()} CPU cores\n")  # fmt: skip
    print("| backend | shoppers | turns | first token p50 / p95 ms | decode tok/s per draft (median) | "
          "aggregate tok/s | turn p50 / p95 ms | drafts kept |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for label in args.backends.split(","):
        process = None
        configured = settings
        if label.startswith("endpoint"):  # "endpoint-cb": the engine with continuous batching
            port = free_port()
            log = open(Path(tempfile.gettempdir()) / "bench-serve.log", "w", encoding="utf-8")  # noqa: SIM115
            process = start_transformers_serve(model, port=port, device="cpu", log=log,
                                               continuous_batching=label == "endpoint-cb")  # fmt: skip
            configured = load_settings(overrides=["models.device=cpu", "generation.mode=model",
                                                  f"models.generator_endpoint=http://127.0.0.1:{port}/v1",
                                                  "models.generator_timeout_s=120"])  # fmt: skip
        try:
            with tempfile.TemporaryDirectory() as tmp:
                configured = replace(
                    configured, store=replace(configured.store, database_url=f"sqlite:///{tmp}/b.db")
                )
                timed = TimedGenerator(build_generator(configured))
                assistant = build_assistant(configured, generator=timed)
                assistant.warm_up()
                assistant.respond(
                    "bench-warm", messages[0]
                )  # first-call costs (graphs, caches) out of the figures
                for shoppers in levels:
                    print(run_level(assistant, timed, messages, shoppers, args.turns_per_shopper, label, tokenizer),
                          flush=True)  # fmt: skip
        finally:
            if process is not None:
                stop(process)


def bench_engine(args: argparse.Namespace) -> None:
    """The engine alone: N concurrent streamed requests, each `--max-tokens` long."""
    from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
    from assistant.backends.inference_server import start_transformers_serve, stop

    model = args.model
    if args.random_model:
        model = build_random_model(args.random_model, Path(tempfile.mkdtemp()) / args.random_model)
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / "bench-engine.log", "w", encoding="utf-8")  # noqa: SIM115
    process = start_transformers_serve(model, port=port, device=args.device, log=log,
                                       continuous_batching=args.continuous_batching)  # fmt: skip
    try:
        generator = OpenAIEndpointTextGenerator(
            f"http://127.0.0.1:{port}/v1", timeout_s=600, max_concurrency=1024
        )
        prompt = [ChatMessage("user", "Write a long story about a lighthouse keeper.")]
        list(generator.stream(prompt, max_new_tokens=8))  # warm
        print(f"engine: {model} on {args.device}, continuous batching {args.continuous_batching}, "
              f"{args.max_tokens} tokens per request")  # fmt: skip
        print("| concurrent requests | first token p50 ms | aggregate tok/s | per-request tok/s (median) |")
        print("|---|---|---|---|")
        for level in (int(c) for c in args.concurrency.split(",")):
            records: list[tuple[float, float, float, int]] = []
            lock = threading.Lock()

            def one(
                records: list[tuple[float, float, float, int]] = records, lock: threading.Lock = lock
            ) -> None:
                started, first, count = time.perf_counter(), 0.0, 0
                for _piece in generator.stream(prompt, max_new_tokens=args.max_tokens, temperature=0.0):
                    first = first or time.perf_counter()
                    count += 1  # one piece per token on transformers serve
                with lock:
                    records.append((started, first, time.perf_counter(), count))

            wall_started = time.perf_counter()
            threads = [threading.Thread(target=one) for _ in range(level)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - wall_started
            ttft = [(f - s) * 1000 for s, f, _, _ in records]
            per = [n / (e - f) for _, f, e, n in records if e > f]
            print(f"| {level} | {percentile(ttft, 50):.0f} | {sum(r[3] for r in records) / wall:.1f} | "
                  f"{statistics.median(per):.1f} |", flush=True)  # fmt: skip
    finally:
        stop(process)


def build_random_model(architecture: str, folder: Path) -> str:
    """A randomly initialised causal LM of a 0.5-1.5B architecture (config written here, no download),
    with the prepared SmolLM2 tokenizer (vocabulary size set to match)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from assistant.model_preparation import require_model
    from assistant.schema import ModelRole
    from assistant.settings import load_settings

    shapes = {  # the published configs' shapes
        "qwen2-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                           num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                           tie_word_embeddings=True),
        "qwen2-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                           num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                           tie_word_embeddings=True),
    }  # fmt: skip
    settings = load_settings()
    tokenizer = AutoTokenizer.from_pretrained(
        require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    )
    shape = dict(shapes[architecture])
    config = AutoConfig.for_model(shape.pop("model_type"), vocab_size=len(tokenizer), **shape,
                                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    import torch

    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(
        f"{architecture}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, random weights"
    )
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="in-process,endpoint,endpoint-cb")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--turns-per-shopper", type=int, default=2)
    parser.add_argument("--engine-only", action="store_true")
    parser.add_argument("--model", default="data/models/generator")
    parser.add_argument("--random-model", choices=["qwen2-0.5b", "qwen2-1.5b"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--continuous-batching", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if args.engine_only:
        bench_engine(args)
    else:
        bench_assistant(args)


if __name__ == "__main__":
    main()
