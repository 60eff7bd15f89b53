"""The OpenAI-compatible generation backend against a real engine: `transformers serve` (from
`transformers[serving]`) on 127.0.0.1, serving the prepared SmolLM2 folder. Started by the project's
own launcher (`assistant.backends.inference_server`, the same one `models serve-generator` uses).

Covers a streamed turn, agent-assist candidates, the server going down mid-stream, a timeout, and the
equivalence of the endpoint's greedy draft with the in-process generator's.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.schema import ChatMessage

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
POLICY_QUESTION = "What is the return policy for shoes?"
LONG_PROMPT = [ChatMessage("user", "Count from 1 to 300, separated by commas.")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_engine(log_path: Path):
    from assistant.backends.inference_server import start_transformers_serve
    from assistant.model_preparation import require_model
    from assistant.schema import ModelRole
    from assistant.settings import load_settings

    os.chdir(ROOT)
    settings = load_settings()
    model = require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    port = free_port()
    log = log_path.open("w", encoding="utf-8")
    process = start_transformers_serve(model, port=port, device="cpu", log=log, continuous_batching=True)
    return process, f"http://127.0.0.1:{port}/v1", model


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One server for the module: (base URL, served model name)."""
    from assistant.backends.inference_server import stop

    process, url, model = start_engine(tmp_path_factory.mktemp("engine") / "serve.log")
    yield url, model
    stop(process)


def build(url: str, tmp_path: Path, *extra: str):
    from assistant.factory import build_assistant
    from assistant.settings import load_settings

    os.chdir(ROOT)
    settings = load_settings(overrides=[f"models.generator_endpoint={url}", "models.device=cpu",
                                        f"store.database_url=sqlite:///{tmp_path / 'a.db'}", *extra])  # fmt: skip
    return build_assistant(settings)


def test_endpoint_draft_equals_the_in_process_greedy_draft(engine: tuple[str, str]) -> None:
    from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
    from assistant.backends.text_generation import TransformersTextGenerator

    url, model = engine
    prompt = [ChatMessage("system", "You help shoppers. Answer: Shoes can be returned within 30 days."),
              ChatMessage("user", POLICY_QUESTION)]  # fmt: skip
    served = OpenAIEndpointTextGenerator(url).generate(prompt, max_new_tokens=40)
    local = TransformersTextGenerator(model, device="cpu").generate(prompt, max_new_tokens=40)
    assert served and served == local


def test_a_streamed_turn_through_the_server(engine: tuple[str, str], tmp_path: Path) -> None:
    url, model = engine
    assistant = build(url, tmp_path)  # generation.mode "auto" + an endpoint: the model phrases replies
    assert assistant.health() == {"backend": "endpoint", "endpoint": url, "state": "ok", "model": model}
    events = list(assistant.respond_stream("e-stream", POLICY_QUESTION))
    reply = events[-1].reply
    assert reply is not None and events[-1].kind == "reply"
    generated = reply.trace.drafts[0]
    assert generated.source == "generated" and generated.text  # the server wrote a draft
    assert "generation" not in reply.trace.degraded
    shown = "".join(e.text for e in events if e.kind == "delta")
    if generated.is_grounded:  # every sentence passed its check as it arrived
        assert shown.strip() == reply.text.strip()
    else:  # a sentence failed: the grounded answer replaced what was shown
        assert any(e.kind == "replace" for e in events) and reply.trace.fallback_reason
    assert "30 days" in reply.text


def test_agent_candidates_from_the_server(engine: tuple[str, str], tmp_path: Path) -> None:
    url, _ = engine
    assistant = build(url, tmp_path, "generation.agent_candidates=3")
    assert assistant.agent_candidates == 3
    generator = assistant.writer.generator
    prompt = [ChatMessage("user", "Suggest a short friendly greeting for a shop customer.")]
    drafts = generator.generate_batch([prompt] * 3, max_new_tokens=16, temperature=0.9)
    assert len(drafts) == 3 and all(drafts)
    assert generator._supports_n is False  # transformers serve returns one choice: topped up in parallel
    assistant.respond("e-agent", POLICY_QUESTION)
    suggestions = assistant.suggest_replies("e-agent", k=3)
    assert suggestions and all(s.text and 0 <= s.confidence <= 1 for s in suggestions)
    assert any("30 days" in s.text for s in suggestions)


def test_server_down_mid_stream_then_down(tmp_path: Path) -> None:
    from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
    from assistant.backends.inference_server import stop
    from assistant.errors import BackendError

    process, url, _ = start_engine(tmp_path / "serve.log")
    try:
        generator = OpenAIEndpointTextGenerator(url, timeout_s=60.0)
        received: list[str] = []
        started = time.monotonic()
        with pytest.raises(BackendError, match="mid-stream"):
            for piece in generator.stream(LONG_PROMPT, max_new_tokens=400):
                received.append(piece)
                if len(received) == 3:
                    os.kill(process.pid, signal.SIGKILL)  # the engine dies while the shopper reads
        assert len(received) >= 3 and time.monotonic() - started < 30
        process.wait()
        # The next turn does not wait on a dead engine: the floor answers, the trace and health say why.
        assistant = build(url, tmp_path)
        events = list(assistant.respond_stream("e-down", POLICY_QUESTION))
        reply = events[-1].reply
        assert reply is not None and "30 days" in reply.text
        assert "generation" in reply.trace.degraded
        assert reply.trace.fallback_reason.startswith("generation failed: generation endpoint")
        assert assistant.health()["state"] == "down"
    finally:
        stop(process)


def test_a_slow_engine_times_out_to_the_floor(engine: tuple[str, str], tmp_path: Path) -> None:
    url, _ = engine
    assistant = build(url, tmp_path, "models.generator_timeout_s=0.3", "generation.max_new_tokens=400")
    started = time.monotonic()
    reply = assistant.respond("e-slow", POLICY_QUESTION)
    assert time.monotonic() - started < 20  # bounded: the deadline, not the 400 tokens
    assert "30 days" in reply.text and "generation" in reply.trace.degraded
    assert "timed out" in reply.trace.fallback_reason
    events = list(assistant.respond_stream("e-slow-2", POLICY_QUESTION))
    assert events[-1].reply is not None and "timed out" in events[-1].reply.trace.fallback_reason
    # A slow engine is not a dead one: the next turn asks it again (and the health check still says ok).
    assert assistant.health()["state"] == "ok"


def test_models_serve_generator_serves_the_prepared_model() -> None:
    import subprocess
    import sys

    from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
    from assistant.backends.inference_server import stop

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "assistant", "--set", "models.device=cpu", "models",
                                "serve-generator", "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        ready = process.stdout.readline()
        assert first.startswith("serving ") and "models/generator" in first
        assert f'models.generator_endpoint = "http://127.0.0.1:{port}/v1"' in ready
        generator = OpenAIEndpointTextGenerator(f"http://127.0.0.1:{port}/v1")
        assert generator.generate([ChatMessage("user", "Say hi.")], max_new_tokens=8)
    finally:
        stop(process)
    time.sleep(1.0)
    with socket.socket() as probe:  # the engine went down with the command (no orphan left serving)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
