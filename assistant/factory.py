"""The one place that picks concrete backends from settings.

Stages and commands ask here for an `Embedder` or a `TextGenerator`; nothing else constructs a
backend. Construction is cheap: models load on `warm_up()` or first use.
"""

from __future__ import annotations

from assistant.model_preparation import require_model
from assistant.schema import ModelRole
from assistant.settings import Settings


def build_embedder(settings: Settings, role: ModelRole = ModelRole.EMBEDDER):  # -> Embedder
    """The sentence-transformers embedder for `role` (multilingual by default)."""
    from assistant.backends.embedding import SentenceTransformerEmbedder

    reference = require_model(role, settings.paths, settings.models)
    return SentenceTransformerEmbedder(
        reference,
        device=settings.models.device,
        batch_size=settings.models.embedding_batch_size,
    )


def build_generator(settings: Settings):  # -> TextGenerator
    """The transformers reply generator (SmolLM2 unless settings name another model)."""
    from assistant.backends.text_generation import TransformersTextGenerator

    reference = require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    return TransformersTextGenerator(reference, device=settings.models.device)
