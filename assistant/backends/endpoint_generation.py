"""Reply generation through an OpenAI-compatible inference server (vLLM, SGLang, TGI, llama.cpp server,
Ollama, `transformers serve`): `OpenAIEndpointTextGenerator`.

The same `TextGenerator` protocol as the in-process backend, so the prompt, the groundedness check and
the grounded floor are the same; only where the tokens come from changes. The `openai` client does the
HTTP and the server-sent events; this module adds what a shop's turn needs on top:

- a **bounded time**: every call has one deadline (`timeout_s`) covering waiting for a free slot, the
  retries and, when streaming, every piece; past it the call raises `BackendError` and the pipeline
  answers from the grounded floor;
- **retries with backoff** (tenacity) for what a retry can fix (connection refused, timeouts, 408, 429,
  5xx), never after the first token has been shown;
- **a concurrency cap**: at most `max_concurrency` requests in flight from this process, so a burst of
  shoppers queues here (bounded by the deadline) instead of piling onto the engine;
- **a circuit breaker**: after a connection failure the endpoint counts as down for a cool-down that
  doubles up to a minute, and turns fail fast to the floor instead of each waiting for a timeout;
- `n` drafts for agents in one request where the server honours `n`, topped up with parallel requests
  where it does not (`transformers serve` returns one choice);
- `health()` for the web server's health check.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.errors import BackendError
from assistant.schema import ChatMessage

logger = logging.getLogger(__name__)

MAX_COOLDOWN_S = 60.0
HEALTH_CACHE_S = 5.0
_DONE = object()  # end of a stream, in the reader thread's queue


class OpenAIEndpointTextGenerator:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    `base_url` ends in `/v1`; `model` is the served model's name, or "auto" for the only one the server
    lists. Nothing connects until the first call (or `warm_up()`), so the assistant starts even while the
    engine is still loading; the client itself is built here, so the first shopper's deadline does not pay
    for importing the library and setting up TLS (about two seconds on a busy two-core machine)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "auto",
        api_key: str | None = None,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 2.0,
        retries: int = 2,
        max_concurrency: int = 16,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_setting = model
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.retries = retries
        self.max_concurrency = max_concurrency
        self.cooldown_s = cooldown_s
        self._api_key = api_key or "none"  # local engines ignore it; the client insists on one
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._state_lock = threading.Lock()
        self._client: Any = self._new_client()
        self._model: str | None = None if model == "auto" else model
        self._supports_n: bool | None = None  # learnt from the first request for several choices
        self._down_until = 0.0
        self._failures = 0  # consecutive connection failures (the cool-down doubles with each)
        self.last_error = ""
        self._health: tuple[float, dict[str, Any]] | None = None

    @property
    def model_reference(self) -> str:
        """What the trace and reports name as the generator."""
        return f"{self._model or self.model_setting} at {self.base_url}"

    # ------------------------------------------------------------------ the TextGenerator protocol
    def warm_up(self) -> None:
        """Resolve the model name now if the engine answers; an engine that is not up yet is not an
        error here (turns use the grounded floor until it is, and the health check says so)."""
        try:
            self._resolve_model(self._clock() + self.timeout_s)
        except BackendError as exc:
            logger.warning("generation endpoint not ready: %s", exc)

    def generate(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> str:
        return self._complete(messages, max_new_tokens, temperature, n=1)[0]

    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
    ) -> list[str]:
        """One reply per prompt. Repeats of one prompt (an agent's candidates) go as one request with `n`;
        different prompts go as parallel requests (the server batches them)."""
        if not prompts:
            return []
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, prompt in enumerate(prompts):
            groups.setdefault(tuple((m.role, m.content) for m in prompt), []).append(index)
        out = [""] * len(prompts)
        jobs = [(list(prompts[ids[0]]), ids) for ids in groups.values()]
        if len(jobs) == 1:
            results = [self._complete(jobs[0][0], max_new_tokens, temperature, n=len(jobs[0][1]))]
        else:
            with ThreadPoolExecutor(max_workers=min(len(jobs), self.max_concurrency)) as pool:
                results = list(
                    pool.map(
                        lambda job: self._complete(job[0], max_new_tokens, temperature, n=len(job[1])), jobs
                    )
                )
        for (_, ids), texts in zip(jobs, results, strict=True):
            for index, text in zip(ids, texts, strict=False):
                out[index] = text
        return out

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        """Pieces of the reply as the server sends them. Raises `BackendError` when the endpoint is down,
        the deadline passes (before or between pieces) or the connection breaks mid-stream; closing the
        iterator early closes the connection."""
        deadline = self._clock() + self.timeout_s
        self._check_circuit()
        with self._slot(deadline):
            response = self._create(messages, max_new_tokens, temperature, deadline, n=1, stream=True)
            pieces: queue.Queue[object] = queue.Queue()

            def read() -> None:  # the client's iterator blocks on the socket, so it runs beside the caller
                finished = False
                try:
                    for chunk in response:
                        for choice in chunk.choices or ():
                            if choice.delta and choice.delta.content:
                                pieces.put(choice.delta.content)
                            finished = finished or bool(choice.finish_reason)
                    # A connection that closes early ends the event stream like a finished one; only the
                    # finish reason of the last chunk tells them apart.
                    pieces.put(
                        _DONE if finished else ConnectionError("the stream ended without a finish reason")
                    )
                except Exception as exc:  # handed to the caller's thread below
                    pieces.put(exc)

            reader = threading.Thread(target=read, name="endpoint-stream", daemon=True)
            reader.start()
            started = False
            try:
                while True:
                    remaining = deadline - self._clock()
                    try:
                        item = pieces.get(timeout=max(remaining, 0.0))
                    except queue.Empty:
                        self._record_failure(f"no reply within {self.timeout_s:g} s", is_connection=False)
                        raise BackendError(
                            f"generation endpoint {self.base_url} timed out after {self.timeout_s:g} s"
                            + (" mid-stream" if started else " before the first token")
                        ) from None
                    if item is _DONE:
                        break
                    if isinstance(item, Exception):
                        self._record_failure(_describe(item), is_connection=_is_connection_error(item))
                        raise BackendError(
                            f"generation endpoint {self.base_url} failed mid-stream: {_describe(item)}"
                        ) from item
                    text = str(item)
                    if not started:
                        text = text.lstrip()  # match generate(), which strips the reply
                        started = bool(text)
                    if text:
                        yield text
                self._record_success()
            finally:
                response.close()  # stops the reader and frees the server's slot when the caller stops early

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        """The endpoint's state for the health check: "ok" (it lists its models), "down" (with why) or
        "cooling down" after recent failures. Probes at most every few seconds."""
        now = self._clock()
        if self._health and now - self._health[0] < HEALTH_CACHE_S:
            return self._health[1]
        report: dict[str, Any] = {"backend": "endpoint", "endpoint": self.base_url}
        if now < self._down_until:
            report |= {
                "state": "down",
                "detail": self.last_error,
                "retry_in_s": round(self._down_until - now, 1),
            }
        else:
            try:
                report |= {
                    "state": "ok",
                    "model": self._resolve_model(now + self.connect_timeout_s, probe=True),
                }
                self._record_success()
            except BackendError as exc:
                report |= {"state": "down", "detail": str(exc)}
        if self.last_error and report["state"] == "ok":
            report["last_error"] = self.last_error
        self._health = (now, report)
        return report

    # ------------------------------------------------------------------ internals
    def _complete(
        self, messages: Sequence[ChatMessage], max_new_tokens: int, temperature: float, *, n: int
    ) -> list[str]:
        """`n` whole replies for one prompt: one request asking for `n` choices, then (where the server
        returned fewer) parallel requests for the rest, all within one deadline."""
        deadline = self._clock() + self.timeout_s
        self._check_circuit()
        asked = n if self._supports_n is not False else 1
        try:
            texts = self._request(messages, max_new_tokens, temperature, asked, deadline)
        except BackendError as exc:  # some engines refuse n > 1 outright: ask one at a time instead
            if asked == 1 or getattr(exc.__cause__, "status_code", None) not in (400, 422):
                raise
            texts = []
        if asked > 1 and self._supports_n is None:
            self._supports_n = len(texts) >= asked
        missing = n - len(texts)
        if missing > 0:
            with ThreadPoolExecutor(max_workers=min(missing, self.max_concurrency)) as pool:
                extra = pool.map(
                    lambda _: self._request(messages, max_new_tokens, temperature, 1, deadline),
                    range(missing),
                )
                texts += [text for batch in extra for text in batch]
        return texts[:n]

    def _request(
        self,
        messages: Sequence[ChatMessage],
        max_new_tokens: int,
        temperature: float,
        n: int,
        deadline: float,
    ) -> list[str]:
        with self._slot(deadline):
            response = self._create(messages, max_new_tokens, temperature, deadline, n=n, stream=False)
        self._record_success()
        return [(choice.message.content or "").strip() for choice in response.choices or ()]

    def _create(self, messages: Sequence[ChatMessage], max_new_tokens: int, temperature: float, deadline: float,
                *, n: int, stream: bool) -> Any:  # fmt: skip
        """One chat-completions request (retried within the deadline): the response, or the event stream."""
        model = self._resolve_model(deadline)
        return self._with_retries(
            deadline,
            lambda remaining: self._client.chat.completions.create(
                model=model,
                messages=_payload(messages),
                max_tokens=max_new_tokens,
                timeout=self._timeout(remaining),
                **({"stream": True} if stream else {}),
                **({"n": n} if n > 1 else {}),
                **_sampling(temperature),
            ),
        )

    def _with_retries(self, deadline: float, call: Callable[[float], Any]) -> Any:
        """`call(remaining_s)` retried with jittered exponential backoff while a retry can help and the
        deadline allows another attempt; failures become `BackendError` saying what happened."""
        import openai
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            stop_before_delay,
            wait_exponential_jitter,
        )

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1) | stop_before_delay(max(deadline - self._clock(), 0.0)),
            wait=wait_exponential_jitter(initial=0.2, max=2.0),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise openai.APITimeoutError(request=_request_stub(self.base_url))
                    return call(remaining)
        except openai.APIStatusError as exc:
            self._record_failure(_describe(exc), is_connection=exc.status_code >= 500)
            raise BackendError(_status_message(self.base_url, exc, self._api_key)) from exc
        except openai.APIError as exc:  # connection refused, reset, timeout
            self._record_failure(_describe(exc), is_connection=_is_connection_error(exc))
            raise BackendError(f"generation endpoint {self.base_url} unavailable: {_describe(exc)}") from exc
        raise BackendError(f"generation endpoint {self.base_url}: no attempt was made")  # pragma: no cover

    def _resolve_model(self, deadline: float, *, probe: bool = False) -> str:
        """The model name to ask for: the setting, or with "auto" the one model the server lists."""
        if self._model is not None and not probe:
            return self._model
        listed = self._with_retries(
            deadline, lambda remaining: self._client.models.list(timeout=self._timeout(remaining))
        )
        names = [m.id for m in listed.data]
        if self._model is not None:
            if names and self._model not in names:
                raise BackendError(
                    f"generation endpoint {self.base_url} does not serve {self._model!r}; it serves "
                    f"{', '.join(names)}: set models.generator_endpoint_model to one of them"
                )
            return self._model
        if len(names) != 1:
            raise BackendError(
                f"generation endpoint {self.base_url} serves {len(names)} models ({', '.join(names) or 'none'}): "
                "set models.generator_endpoint_model to the one to use"
            )
        self._model = names[0]
        logger.info("generation endpoint %s serves %s", self.base_url, self._model)
        return self._model

    def _new_client(self) -> Any:
        import openai

        # Retries are ours (bounded by the turn's deadline), so the client's own are off.
        return openai.OpenAI(base_url=self.base_url, api_key=self._api_key, max_retries=0)

    def _timeout(self, remaining_s: float) -> Any:
        import httpx

        return httpx.Timeout(remaining_s, connect=min(self.connect_timeout_s, remaining_s))

    def _slot(self, deadline: float) -> _Slot:
        return _Slot(self._slots, deadline - self._clock(), self.max_concurrency, self.base_url)

    def _check_circuit(self) -> None:
        now = self._clock()
        if now < self._down_until:
            raise BackendError(
                f"generation endpoint {self.base_url} is down ({self.last_error}); "
                f"next try in {self._down_until - now:.1f} s"
            )

    def _record_failure(self, detail: str, *, is_connection: bool) -> None:
        with self._state_lock:
            self.last_error = detail
            self._health = None
            if is_connection:  # the engine is unreachable or broken: stop sending turns its way for a while
                self._failures += 1
                cooldown = min(self.cooldown_s * 2 ** (self._failures - 1), MAX_COOLDOWN_S)
                self._down_until = self._clock() + cooldown
                logger.warning("generation endpoint %s down for %.0f s: %s", self.base_url, cooldown, detail)

    def _record_success(self) -> None:
        with self._state_lock:
            if self._failures:
                logger.info("generation endpoint %s is back", self.base_url)
            self._failures, self._down_until = 0, 0.0


class _Slot:
    """One of the endpoint's concurrent request slots, waited for no longer than the call's deadline."""

    def __init__(self, slots: threading.BoundedSemaphore, wait_s: float, size: int, base_url: str) -> None:
        self._slots, self._wait_s, self._size, self._base_url = slots, wait_s, size, base_url

    def __enter__(self) -> None:
        if not self._slots.acquire(timeout=max(self._wait_s, 0.0)):
            raise BackendError(
                f"all {self._size} requests to {self._base_url} busy for {self._wait_s:.1f} s "
                "(raise models.generator_max_concurrency or add engine replicas)"
            )

    def __exit__(self, *exc: object) -> None:
        self._slots.release()


def _payload(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _sampling(temperature: float) -> dict[str, Any]:
    # temperature 0 is greedy on every engine named above; top_p=1 keeps a server's default from sampling.
    return {"temperature": max(temperature, 0.0), "top_p": 1.0}


def _is_connection_error(exc: BaseException) -> bool:
    """Refused, reset or broken connections: the engine is not there. A timeout is not one (the engine is
    there but slow, and one long draft must not send every other shopper to the floor)."""
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return False
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError)


def _is_retryable(exc: BaseException) -> bool:
    import httpx
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError)


def _describe(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    cause = exc.__cause__ or exc.__context__
    detail = f"{type(exc).__name__}: {exc}"
    return f"{detail} ({type(cause).__name__}: {cause})" if cause and str(cause) not in detail else detail


def _status_message(base_url: str, exc: Any, api_key: str) -> str:
    status = exc.status_code
    if status in (401, 403):
        hint = "the API key was refused: set the variable named by models.generator_api_key_env"
        if api_key == "none":
            hint = "it wants an API key: put it in the variable named by models.generator_api_key_env"
        return f"generation endpoint {base_url}: HTTP {status}, {hint}"
    if status == 404:
        return f"generation endpoint {base_url}: HTTP 404, check the URL ends in /v1 and the model name"
    return f"generation endpoint {base_url}: HTTP {status}"


def _request_stub(base_url: str) -> Any:
    import httpx

    return httpx.Request("POST", f"{base_url}/chat/completions")
