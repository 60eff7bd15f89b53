"""The OpenAI-compatible endpoint backend against a scripted server: what it sends, retries, deadlines,
the circuit breaker, `n`, the concurrency cap and health. (tests/slow/test_endpoint_real.py runs it
against a real engine, `transformers serve`.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from scripted_openai_server import ScriptedOpenAIServer, Step

from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
from assistant.backends.text_generation import TextGenerator
from assistant.errors import BackendError
from assistant.schema import ChatMessage

PROMPT = [
    ChatMessage("system", "Answer: Returns are free within 30 days."),
    ChatMessage("user", "can I return it?"),
]


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    fake = ScriptedOpenAIServer()
    yield fake
    fake.close()


def generator_for(server: ScriptedOpenAIServer, **options: object) -> OpenAIEndpointTextGenerator:
    # A generous deadline where a test is not about time: CI shares two cores with browsers and servers.
    options = {"timeout_s": 10.0, "retries": 2, **options}
    return OpenAIEndpointTextGenerator(server.base_url, **options)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_generate_sends_the_prompt_and_settings(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="  Yes, within 30 days. ")]
    generator = generator_for(server)
    assert isinstance(generator, TextGenerator)
    assert generator.generate(PROMPT, max_new_tokens=40) == "Yes, within 30 days."
    body = server.requests[0]
    assert body["model"] == "tiny-chat"  # "auto": the one model the server lists
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in PROMPT]
    assert body["max_tokens"] == 40 and body["temperature"] == 0.0 and "n" not in body
    assert not body.get("stream")
    generator.generate(PROMPT, max_new_tokens=5, temperature=0.7)
    assert (
        server.requests[1]["temperature"] == 0.7 and server.model_listings == 1
    )  # the name is resolved once


def test_the_client_is_built_at_start_and_nothing_connects_until_the_first_call(
    server: ScriptedOpenAIServer,
) -> None:
    generator = generator_for(server)
    assert generator._client is not None  # the first shopper's deadline does not pay for building it
    assert server.model_listings == 0 and not server.requests
    generator.generate(PROMPT, max_new_tokens=5)
    assert server.model_listings == 1


def test_model_auto_needs_one_model_and_a_named_model_must_be_served(server: ScriptedOpenAIServer) -> None:
    server.models = ["llama-8b", "qwen-7b"]
    with pytest.raises(BackendError, match=r"serves 2 models .*generator_endpoint_model"):
        generator_for(server).generate(PROMPT, max_new_tokens=5)
    assert generator_for(server, model="qwen-7b").generate(PROMPT, max_new_tokens=5) == "Hello there."
    assert server.requests[-1]["model"] == "qwen-7b"
    assert generator_for(server, model="qwen-7b").health()["state"] == "ok"
    missing = generator_for(server, model="mistral").health()
    assert missing["state"] == "down" and "does not serve 'mistral'" in missing["detail"]


def test_a_server_error_is_retried_then_succeeds(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(status=503), Step(status=500), Step(text="Third time lucky.")]
    assert generator_for(server).generate(PROMPT, max_new_tokens=5) == "Third time lucky."
    assert len(server.requests) == 3


def test_retries_are_bounded_and_the_error_says_what_happened(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(status=500)]
    with pytest.raises(BackendError, match="HTTP 500"):
        generator_for(server, retries=1).generate(PROMPT, max_new_tokens=5)
    assert len(server.requests) == 2


def test_an_auth_error_is_not_retried_and_names_the_setting(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(status=401)]
    with pytest.raises(BackendError, match=r"401.*generator_api_key_env"):
        generator_for(server).generate(PROMPT, max_new_tokens=5)
    assert len(server.requests) == 1


def test_a_slow_server_times_out_within_the_deadline(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(delay_s=3.0)]
    generator = generator_for(server, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        generator.generate(PROMPT, max_new_tokens=5)
    # One deadline covers the retries too: a second attempt would not have fitted. (Generous slack: this
    # checks that the call is bounded, not how fast it is.)
    assert time.monotonic() - started < 2.5
    assert len(server.requests) == 1
    # A slow engine is not a dead one: the next turn tries again.
    server.steps = [Step(text="Fast now.")]
    assert generator.generate(PROMPT, max_new_tokens=5) == "Fast now."


def test_an_unreachable_endpoint_fails_fast_and_trips_the_breaker() -> None:
    generator = OpenAIEndpointTextGenerator(
        f"http://127.0.0.1:{free_port()}/v1", model="m", timeout_s=5.0, retries=1, cooldown_s=30.0
    )
    with pytest.raises(BackendError, match=r"unavailable: .*Connect"):
        generator.generate(PROMPT, max_new_tokens=5)
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"is down .*next try in"):
        list(generator.stream(PROMPT, max_new_tokens=5))
    assert time.monotonic() - started < 0.5  # no connection attempted while the breaker is open
    health = generator.health()
    assert health["backend"] == "endpoint" and health["state"] == "down" and health["retry_in_s"] > 20


def test_the_breaker_closes_when_the_endpoint_is_back() -> None:
    clock = [0.0]
    port = free_port()
    generator = OpenAIEndpointTextGenerator(f"http://127.0.0.1:{port}/v1", model="tiny-chat", retries=0,
                                            cooldown_s=10.0, clock=lambda: clock[0])  # fmt: skip
    with pytest.raises(BackendError, match="unavailable"):
        generator.generate(PROMPT, max_new_tokens=5)
    server = ScriptedOpenAIServer(port=port)  # the engine comes up
    try:
        with pytest.raises(BackendError, match="is down"):  # still cooling down: no request is sent
            generator.generate(PROMPT, max_new_tokens=5)
        assert server.requests == []
        clock[0] = 11.0
        assert generator.generate(PROMPT, max_new_tokens=5) == "Hello there."
        assert generator.health()["state"] == "ok"
    finally:
        server.close()


def test_stream_yields_pieces_that_join_to_the_reply(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="Returns are free within 30 days.")]
    pieces = list(generator_for(server).stream(PROMPT, max_new_tokens=20))
    assert len(pieces) == 6 and "".join(pieces) == "Returns are free within 30 days."
    assert server.requests[0]["stream"] is True


def test_a_connection_cut_mid_stream_raises_after_the_pieces_sent(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="one two three four five", cut_after_pieces=2)]
    received: list[str] = []
    with pytest.raises(BackendError, match="mid-stream"):
        for piece in generator_for(server).stream(PROMPT, max_new_tokens=20):
            received.append(piece)
    assert "".join(received) == "one two"
    assert len(server.requests) == 1  # never retried once text was shown


def test_a_stream_that_stalls_stops_at_the_deadline(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="one two three", stall_after_pieces=1, stall_s=5.0)]
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"timed out after 0\.8 s mid-stream"):
        for piece in generator_for(server, timeout_s=0.8).stream(PROMPT, max_new_tokens=20):
            received.append(piece)
    assert received == ["one"] and time.monotonic() - started < 3.0


def test_closing_a_stream_early_releases_its_slot(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="one two three four")]
    generator = generator_for(server, max_concurrency=1)
    stream = generator.stream(PROMPT, max_new_tokens=20)
    assert next(stream) == "one"
    stream.close()
    assert generator.generate(PROMPT, max_new_tokens=5) == "one two three four"


def test_n_candidates_in_one_request_when_the_server_honours_n(server: ScriptedOpenAIServer) -> None:
    texts = generator_for(server).generate_batch([PROMPT] * 3, max_new_tokens=10, temperature=0.8)
    assert texts == ["Hello there.", "Hello there. (1)", "Hello there. (2)"]
    assert len(server.requests) == 1 and server.requests[0]["n"] == 3


def test_n_candidates_are_topped_up_when_the_server_ignores_n(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(honours_n=False)]
    generator = generator_for(server)
    assert len(generator.generate_batch([PROMPT] * 3, max_new_tokens=10, temperature=0.8)) == 3
    assert len(server.requests) == 3 and server.requests[0]["n"] == 3
    # Learnt: the next call does not ask for n again.
    generator.generate_batch([PROMPT] * 2, max_new_tokens=10, temperature=0.8)
    assert [r.get("n") for r in server.requests[3:]] == [None, None]


def test_n_candidates_are_asked_one_by_one_when_the_server_refuses_n(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(status=400), Step()]
    generator = generator_for(server)
    assert len(generator.generate_batch([PROMPT] * 3, max_new_tokens=10, temperature=0.8)) == 3
    assert [r.get("n") for r in server.requests] == [3, None, None, None]
    assert generator._supports_n is False


def test_different_prompts_go_as_parallel_requests(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(delay_s=0.3)]
    other = [ChatMessage("user", "where is my parcel?")]
    texts = generator_for(server).generate_batch([PROMPT, other, PROMPT], max_new_tokens=5)
    assert texts[0] == "Hello there." and texts[1] == "Hello there." and texts[2].startswith("Hello there.")
    assert server.max_in_flight == 2


def test_the_concurrency_cap_queues_requests_within_the_deadline(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(delay_s=0.4)]
    generator = generator_for(server, max_concurrency=2, timeout_s=5.0)
    generator.warm_up()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(generator.generate(PROMPT, max_new_tokens=5)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5 and server.max_in_flight == 2


def test_a_full_queue_gives_up_at_the_deadline_and_says_so(server: ScriptedOpenAIServer) -> None:
    server.steps = [Step(text="one two three")]
    generator = generator_for(server, max_concurrency=1, timeout_s=2.0, retries=0)
    holding = generator.stream(PROMPT, max_new_tokens=5)
    assert next(holding) == "one"  # a shopper's stream holds the only slot
    with pytest.raises(BackendError, match=r"all 1 requests .* busy.*generator_max_concurrency"):
        generator.generate(PROMPT, max_new_tokens=5)
    holding.close()
    assert generator.generate(PROMPT, max_new_tokens=5) == "one two three"


def test_the_api_key_is_sent_as_a_bearer_token(server: ScriptedOpenAIServer) -> None:
    seen: list[str] = []
    import http.server

    original = http.server.BaseHTTPRequestHandler.parse_request

    def spy(self: http.server.BaseHTTPRequestHandler) -> bool:
        ok = original(self)
        seen.append(str(self.headers.get("authorization", "")))
        return ok

    http.server.BaseHTTPRequestHandler.parse_request = spy  # type: ignore[method-assign]
    try:
        generator_for(server, api_key="s3cret").generate(PROMPT, max_new_tokens=5)
    finally:
        http.server.BaseHTTPRequestHandler.parse_request = original  # type: ignore[method-assign]
    assert seen and all(h == "Bearer s3cret" for h in seen)


def test_warm_up_does_not_fail_when_the_engine_is_not_up_yet() -> None:
    generator = OpenAIEndpointTextGenerator(f"http://127.0.0.1:{free_port()}/v1", timeout_s=1.0, retries=0)
    generator.warm_up()  # logs a warning; turns use the grounded floor until the engine answers
    assert generator.health()["state"] == "down"
