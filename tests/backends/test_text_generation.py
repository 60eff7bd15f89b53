"""Generators: the fake's contract, and the transformers adapter against `model.generate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends.text_generation import ScriptedTextGenerator, TextGenerator
from assistant.schema import ChatMessage

PROMPT = [ChatMessage("system", "help the shopper"), ChatMessage("user", "where is my order")]


def test_scripted_generator_contract() -> None:
    generator = ScriptedTextGenerator(["Your order shipped on 3 May.", "Second reply"])
    assert isinstance(generator, TextGenerator)
    assert generator.generate(PROMPT, max_new_tokens=50) == "Your order shipped on 3 May."
    assert "".join(generator.stream(PROMPT, max_new_tokens=50)) == "Second reply"
    assert generator.generate(PROMPT, max_new_tokens=50) == "You said: where is my order"
    assert generator.prompts[0] == PROMPT
    assert generator.generate_batch([PROMPT, PROMPT], max_new_tokens=2) == ["You said:"] * 2


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.mark.integration
def test_generate_matches_greedy_model_generate(tiny_lm: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.backends.text_generation import TransformersTextGenerator

    generator = TransformersTextGenerator(str(tiny_lm), device="cpu")
    assert isinstance(generator, TextGenerator)
    text = generator.generate(PROMPT, max_new_tokens=12)

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_lm))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_lm))
    prompt = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in PROMPT],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt == generator.render_prompt(PROMPT)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False, pad_token_id=0)
    expected = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text == expected.strip()
    assert text  # the random tiny model still says something


@pytest.mark.integration
def test_stream_and_batch_agree_with_generate(tiny_lm: Path) -> None:
    from assistant.backends.text_generation import TransformersTextGenerator

    generator = TransformersTextGenerator(str(tiny_lm), device="cpu")
    other = [ChatMessage("user", "red shoes size small please")]
    single = [generator.generate(p, max_new_tokens=10) for p in (PROMPT, other)]
    pieces = list(generator.stream(PROMPT, max_new_tokens=10))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == single[0]
    assert generator.generate_batch([PROMPT, other], max_new_tokens=10) == single


@pytest.mark.integration
def test_closing_a_stream_early_stops_the_generation(tiny_lm: Path) -> None:
    from assistant.backends.text_generation import TransformersTextGenerator

    generator = TransformersTextGenerator(str(tiny_lm), device="cpu")
    calls: list[int] = []
    generator.warm_up()
    forward = generator.model.forward

    def counted(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    generator.model.forward = counted
    stream = generator.stream(PROMPT, max_new_tokens=400)
    next(stream)
    stream.close()  # the pipeline does this when a sentence fails its check
    # The model is free at once (a draft abandoned mid-way does not hold the lock for 400 tokens)...
    assert generator._lock.acquire(blocking=False)
    generator._lock.release()
    assert len(calls) < 50  # ...and stopped within a few tokens of the close
    assert generator.generate(PROMPT, max_new_tokens=5)


@pytest.mark.integration
def test_missing_model_is_a_backend_error(tmp_path: Path) -> None:
    from assistant.backends.text_generation import TransformersTextGenerator
    from assistant.errors import BackendError

    with pytest.raises(BackendError, match="models prepare"):
        TransformersTextGenerator(str(tmp_path / "absent"), device="cpu").warm_up()


@pytest.mark.integration
def test_cuda_without_gpu_is_refused(tiny_lm: Path) -> None:
    import torch

    from assistant.backends.text_generation import TransformersTextGenerator
    from assistant.errors import BackendError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendError, match="no CUDA GPU"):
        TransformersTextGenerator(str(tiny_lm), device="cuda").warm_up()
