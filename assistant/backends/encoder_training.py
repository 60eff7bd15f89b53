"""Fine-tuning encoders (torch): the intent encoder with its classification head, the retriever
(contrastive) and the reranker (a cross-encoder).

All three use `training_loop.train_steps`: AdamW with linear decay, gradient clipping, bf16 autocast on CUDA,
a checkpoint every `checkpoint_every` steps into `work_dir` (a later call with the same `work_dir`
and the same data resumes from it), and `stop_after_steps` to stop early as an interrupted run
would (for tests of resuming). The token embedding matrix stays frozen everywhere: it is most of
e5-small's parameters, and rare tokens would only be overwritten by noise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.training_loop import FineTuningResult, Progress, train_steps
from assistant.errors import BackendError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderTrainingResult(FineTuningResult):
    """A fine-tuned intent encoder and its trained head."""

    weights: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # (dim, classes), as `IntentHead` stores it
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _freeze_token_embeddings(model: Any) -> None:
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)


def _trainable(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


def _load_sentence_transformer(reference: str, device: str, max_seq_length: int) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(reference, device=device)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load encoder {reference!r}: {exc}") from exc
    model.max_seq_length = min(
        max_seq_length, model.max_seq_length or max_seq_length
    )  # never past its own limit
    _freeze_token_embeddings(model)
    return model


def _embed(model: Any, texts: list[str], device: str) -> Any:
    """(n, dim) sentence embeddings with gradients, normalised by the model's own modules."""
    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 renamed it
    features = prepare(texts)
    features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
    return model(features)["sentence_embedding"].float()


def fine_tune_encoder_classifier(
    model_reference: str,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    init_weights: np.ndarray,
    init_bias: np.ndarray,
    work_dir: Path,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 3e-5,
    head_learning_rate: float = 1e-3,
    max_seq_length: int = 64,
    device: str = "auto",
    seed: int = 0,
    checkpoint_every: int = 50,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> EncoderTrainingResult:
    """Fine-tune a sentence-transformers encoder with a linear head that starts from the frozen-encoder
    fit (`init_weights` (dim, classes), `init_bias`), so training starts from the model in use. Saves
    the encoder to `work_dir/encoder` and returns the head too."""
    import torch

    from assistant.backends.device import resolve_device

    if len(texts) != len(labels) or not texts:
        raise BackendError("fine-tuning needs as many labels as texts, and at least one of each")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    model = _load_sentence_transformer(model_reference, resolved, max_seq_length)
    prompt = (getattr(model, "prompts", {}) or {}).get("query", "")
    head = torch.nn.Linear(init_weights.shape[0], init_weights.shape[1]).to(resolved)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.asarray(init_weights, dtype=np.float32).T))
        head.bias.copy_(torch.from_numpy(np.asarray(init_bias, dtype=np.float32)))
    optimizer = torch.optim.AdamW([{"params": _trainable(model), "lr": learning_rate},
                                   {"params": head.parameters(), "lr": head_learning_rate}], weight_decay=0.01)  # fmt: skip
    targets = torch.tensor(list(labels), dtype=torch.long, device=resolved)

    def loss_of(batch: list[int]) -> Any:
        logits = head(_embed(model, [prompt + texts[i] for i in batch], resolved))
        return torch.nn.functional.cross_entropy(logits.float(), targets[batch])

    run = train_steps({"model": model, "head": head}, optimizer, loss_of, n=len(texts), batch_size=batch_size,
                       epochs=epochs, seed=seed, work_dir=work_dir, device=resolved,
                       checkpoint_every=checkpoint_every, stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    return EncoderTrainingResult(
        encoder_dir, run.steps, run.resumed_from_step, run.final_loss, run.samples_per_s, resolved,
        weights=head.weight.detach().float().cpu().numpy().T.copy(), bias=head.bias.detach().float().cpu().numpy().copy(),
    )  # fmt: skip


def fine_tune_encoder_contrastive(
    model_reference: str,
    queries: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[str],
    *,
    work_dir: Path,
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    scale: float = 20.0,
    max_seq_length: int = 128,
    device: str = "auto",
    seed: int = 0,
    checkpoint_every: int = 50,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Contrastive fine-tuning (multiple-negatives ranking loss): each query against its positive, the
    other positives in the batch and every mined hard negative in the batch (one per query). Queries
    and documents get the folder's "query"/"passage" prompts, as at search time. Saves to
    `work_dir/encoder`."""
    import torch

    from assistant.backends.device import resolve_device

    if not (len(queries) == len(positives) == len(negatives)) or not queries:
        raise BackendError("contrastive fine-tuning needs one positive and one negative per query")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    model = _load_sentence_transformer(model_reference, resolved, max_seq_length)
    prompts = getattr(model, "prompts", {}) or {}
    query_prompt, passage_prompt = (
        prompts.get("query", ""),
        prompts.get("passage", prompts.get("document", "")),
    )
    optimizer = torch.optim.AdamW(_trainable(model), lr=learning_rate, weight_decay=0.01)

    def loss_of(batch: list[int]) -> Any:
        q = _embed(model, [query_prompt + queries[i] for i in batch], resolved)
        docs = _embed(model, [passage_prompt + positives[i] for i in batch]
                      + [passage_prompt + negatives[i] for i in batch], resolved)  # fmt: skip
        scores = scale * q @ docs.T  # (b, 2b): column i is query i's positive
        return torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=scores.device))

    run = train_steps({"model": model}, optimizer, loss_of, n=len(queries), batch_size=batch_size, epochs=epochs,
                       seed=seed, work_dir=work_dir, device=resolved, checkpoint_every=checkpoint_every,
                       stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    return FineTuningResult(
        encoder_dir, run.steps, run.resumed_from_step, run.final_loss, run.samples_per_s, resolved
    )


def fine_tune_cross_encoder(
    model_reference: str,
    queries: Sequence[str],
    candidates: Sequence[Sequence[str]],
    *,
    work_dir: Path,
    epochs: float = 1.0,
    batch_size: int = 8,
    learning_rate: float = 3e-5,
    max_length: int = 192,
    device: str = "auto",
    seed: int = 0,
    checkpoint_every: int = 50,
    stop_after_steps: int | None = None,
    similarities: Sequence[Sequence[float]] | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Train a cross-encoder from an encoder folder: for each query, `candidates[i][0]` is the relevant
    document and the rest are hard negatives; a listwise softmax loss over the group. The classifier
    head is new (one logit). Saves a transformers folder to `work_dir/encoder`.

    With `similarities` (the retriever's cosine of each candidate), the cross-encoder learns a
    correction to the retriever rather than a ranking from nothing: a document's score is
    `logit + w * similarity`, with `w` fitted to the retriever's own scores before training and
    trained with the rest, and the head starting at zero, so the untrained reranker keeps the
    retriever's order exactly. `w` is saved beside the model (`reranking.SIMILARITY_FILE`)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assistant.backends.device import resolve_device
    from assistant.backends.reranking import SIMILARITY_FILE

    if len(queries) != len(candidates) or not queries or any(len(c) < 2 for c in candidates):
        raise BackendError("a cross-encoder needs, per query, a relevant document and at least one negative")
    if similarities is not None and [len(s) for s in similarities] != [len(c) for c in candidates]:
        raise BackendError("similarities need one value per candidate")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_reference)
        model = AutoModelForSequenceClassification.from_pretrained(model_reference, num_labels=1).to(resolved)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load {model_reference!r} as a cross-encoder: {exc}") from exc
    max_length = min(
        max_length, int(getattr(model.config, "max_position_embeddings", max_length) or max_length)
    )
    _freeze_token_embeddings(model)
    # The one-logit head starts from nothing: it learns 30x faster than the pretrained layers.
    head = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" in n]
    body = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n]
    groups: list[dict[str, Any]] = [
        {"params": body, "lr": learning_rate},
        {"params": head, "lr": learning_rate * 30},
    ]
    modules: dict[str, Any] = {"model": model}
    prior = None
    if similarities is not None:
        prior = torch.nn.Linear(1, 1, bias=False).to(resolved)  # w, a module so checkpoints carry it
        with torch.no_grad():
            for parameter in head:
                parameter.zero_()  # the starting reranker is the retriever's order
            prior.weight.fill_(fit_similarity_weight(similarities))
        groups.append({"params": prior.parameters(), "lr": 0.05, "weight_decay": 0.0})
        modules["similarity_weight"] = prior
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)

    def loss_of(batch: list[int]) -> Any:
        group = min(len(candidates[i]) for i in batch)
        encoded = tokenizer([queries[i] for i in batch for _ in range(group)],
                            [candidates[i][j] for i in batch for j in range(group)],
                            truncation=True, max_length=max_length, padding=True, return_tensors="pt").to(resolved)  # fmt: skip
        logits = model(**encoded).logits[:, 0].float().view(len(batch), group)
        if prior is not None and similarities is not None:
            cosine = torch.tensor([list(similarities[i][:group]) for i in batch], dtype=torch.float32,
                                  device=logits.device)  # fmt: skip
            logits = logits + prior.weight.float()[0, 0] * cosine
        return torch.nn.functional.cross_entropy(
            logits, torch.zeros(len(batch), dtype=torch.long, device=logits.device)
        )

    run = train_steps(modules, optimizer, loss_of, n=len(queries), batch_size=batch_size, epochs=epochs,
                       seed=seed, work_dir=work_dir, device=resolved, checkpoint_every=checkpoint_every,
                       stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save_pretrained(str(encoder_dir))
    tokenizer.save_pretrained(str(encoder_dir))
    if prior is not None:
        weight = float(prior.weight.detach().float().cpu()[0, 0])
        (encoder_dir / SIMILARITY_FILE).write_text(
            json.dumps({"similarity_weight": weight}), encoding="utf-8"
        )
    return FineTuningResult(
        encoder_dir, run.steps, run.resumed_from_step, run.final_loss, run.samples_per_s, resolved
    )


def fit_similarity_weight(similarities: Sequence[Sequence[float]]) -> float:
    """The scale `w` under which softmax(w * similarity) best picks each group's first candidate (the
    relevant one): the retriever's own scores as a calibrated starting point for the cross-encoder."""
    rows = [np.asarray(s, dtype=np.float64) for s in similarities if len(s) > 1]
    if not rows:
        return 1.0

    def log_likelihood(w: float) -> float:
        total = 0.0
        for row in rows:
            z = w * row
            total += z[0] - (z.max() + np.log(np.exp(z - z.max()).sum()))
        return total

    return float(max((1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0, 80.0, 120.0), key=log_likelihood))
