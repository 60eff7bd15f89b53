"""Fine-tuning a sentence-transformers encoder together with a linear classification head (torch).

Used by `assistant.training.intent` for `train intent --fine-tune-encoder`. The head starts from the
frozen-encoder softmax regression (so training starts from the model in use, not from chance), the
token embedding matrix stays frozen (most of e5-small's parameters; rare tokens would only be
overwritten by noise), and everything above it learns. Checkpoints every `checkpoint_every` steps
into `work_dir`; a later call with the same `work_dir` resumes from the last one. bf16 autocast on CUDA.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import BackendError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderTrainingResult:
    """Where the fine-tuned encoder was saved, the trained head, and what the run did."""

    encoder_dir: Path
    weights: np.ndarray  # (dim, classes), as `IntentHead` stores it
    bias: np.ndarray
    steps: int
    resumed_from_step: int
    final_loss: float
    samples_per_s: float
    device: str


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
    progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> EncoderTrainingResult:
    """Train and save to `work_dir/encoder`; returns the head too. `stop_after_steps` stops early
    (as an interrupted run would) after writing a checkpoint, for tests of resuming."""
    import time

    import torch
    from sentence_transformers import SentenceTransformer

    from assistant.backends.device import resolve_device

    if len(texts) != len(labels) or not texts:
        raise BackendError("fine-tuning needs as many labels as texts, and at least one of each")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    try:
        model = SentenceTransformer(model_reference, device=resolved)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load encoder {model_reference!r}: {exc}") from exc
    model.max_seq_length = min(
        max_seq_length, model.max_seq_length or max_seq_length
    )  # never past the model's own limit
    prompt = (getattr(model, "prompts", {}) or {}).get("query", "")
    head = torch.nn.Linear(init_weights.shape[0], init_weights.shape[1]).to(resolved)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.asarray(init_weights, dtype=np.float32).T))
        head.bias.copy_(torch.from_numpy(np.asarray(init_bias, dtype=np.float32)))
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if p.requires_grad], "lr": learning_rate},
         {"params": head.parameters(), "lr": head_learning_rate}],
        weight_decay=0.01,
    )  # fmt: skip
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)

    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=resolved, weights_only=False)
        if state.get("total") == total and state.get("n") == len(texts):
            model.load_state_dict(state["model"])
            head.load_state_dict(state["head"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step = int(state["step"])
            logger.info("resuming encoder fine-tuning at step %d of %d", step, total)
        else:
            logger.warning("ignoring a checkpoint from a different run setup in %s", work_dir)
    resumed_from = step

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "step": step, "total": total, "n": len(texts)}, tmp)  # fmt: skip
        tmp.replace(checkpoint)

    targets = torch.tensor(list(labels), dtype=torch.long)
    use_bf16 = resolved.startswith("cuda")
    model.train()
    loss_value = float("nan")
    started = time.perf_counter()
    while step < total:
        start = (step % steps_per_epoch) * batch_size
        batch = order[start : start + batch_size]
        prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 renamed it
        features = prepare([prompt + texts[i] for i in batch])
        features = {k: v.to(resolved) if hasattr(v, "to") else v for k, v in features.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            embeddings = model(features)["sentence_embedding"]
            logits = head(embeddings.float())
        loss = torch.nn.functional.cross_entropy(logits, targets[batch].to(resolved))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_value = float(loss.detach())
        progress(step, total, loss_value)
        if step % checkpoint_every == 0 or step == total:
            save_checkpoint()
        if stop_after_steps is not None and step - resumed_from >= stop_after_steps and step < total:
            save_checkpoint()
            raise KeyboardInterrupt(f"stopped after {step} of {total} steps (checkpoint saved)")
    seconds = time.perf_counter() - started
    model.eval()
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    checkpoint.unlink(missing_ok=True)
    weights = head.weight.detach().float().cpu().numpy().T.copy()
    bias = head.bias.detach().float().cpu().numpy().copy()
    done = (step - resumed_from) * batch_size
    return EncoderTrainingResult(encoder_dir, weights, bias, step, resumed_from, loss_value,
                                 done / seconds if seconds > 0 else 0.0, resolved)  # fmt: skip


@dataclass(frozen=True)
class ContrastiveTrainingResult:
    """Where the fine-tuned retriever encoder was saved, and what the run did."""

    encoder_dir: Path
    steps: int
    resumed_from_step: int
    final_loss: float
    samples_per_s: float
    device: str


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
    progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> ContrastiveTrainingResult:
    """Contrastive fine-tuning (multiple-negatives ranking loss): each query against its positive, the
    other positives in the batch and every mined hard negative in the batch (one per query). Queries
    and documents get the folder's "query"/"passage" prompts, as at search time. Saves to
    `work_dir/encoder`; checkpoints and resumes like `fine_tune_encoder_classifier`."""
    import time

    import torch
    from sentence_transformers import SentenceTransformer

    from assistant.backends.device import resolve_device

    if not (len(queries) == len(positives) == len(negatives)) or not queries:
        raise BackendError("contrastive fine-tuning needs one positive and one negative per query")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    try:
        model = SentenceTransformer(model_reference, device=resolved)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load encoder {model_reference!r}: {exc}") from exc
    model.max_seq_length = min(
        max_seq_length, model.max_seq_length or max_seq_length
    )  # never past the model's own limit
    prompts = getattr(model, "prompts", {}) or {}
    query_prompt, passage_prompt = (
        prompts.get("query", ""),
        prompts.get("passage", prompts.get("document", "")),
    )
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=0.01)  # fmt: skip
    steps_per_epoch = math.ceil(len(queries) / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))
    order = list(range(len(queries)))
    random.Random(seed).shuffle(order)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=resolved, weights_only=False)
        if state.get("total") == total and state.get("n") == len(queries):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step = int(state["step"])
    resumed_from = step

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "step": step, "total": total, "n": len(queries)}, tmp)  # fmt: skip
        tmp.replace(checkpoint)

    prepare = getattr(model, "preprocess", None) or model.tokenize

    def embed(texts: list[str]):  # (n, dim), normalised by the model's own modules
        features = prepare(texts)
        features = {k: v.to(resolved) if hasattr(v, "to") else v for k, v in features.items()}
        return model(features)["sentence_embedding"].float()

    use_bf16 = resolved.startswith("cuda")
    model.train()
    loss_value = float("nan")
    started = time.perf_counter()
    while step < total:
        start = (step % steps_per_epoch) * batch_size
        batch = order[start : start + batch_size]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            q = embed([query_prompt + queries[i] for i in batch])
            docs = embed(
                [passage_prompt + positives[i] for i in batch]
                + [passage_prompt + negatives[i] for i in batch]
            )
        scores = scale * q @ docs.T  # (b, 2b): column i is query i's positive
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=scores.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_value = float(loss.detach())
        progress(step, total, loss_value)
        if step % checkpoint_every == 0 or step == total:
            save_checkpoint()
        if stop_after_steps is not None and step - resumed_from >= stop_after_steps and step < total:
            save_checkpoint()
            raise KeyboardInterrupt(f"stopped after {step} of {total} steps (checkpoint saved)")
    seconds = time.perf_counter() - started
    model.eval()
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    checkpoint.unlink(missing_ok=True)
    done = (step - resumed_from) * batch_size
    return ContrastiveTrainingResult(encoder_dir, step, resumed_from, loss_value,
                                     done / seconds if seconds > 0 else 0.0, resolved)  # fmt: skip


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
    progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> ContrastiveTrainingResult:
    """Train a cross-encoder from an encoder folder: for each query, `candidates[i][0]` is the relevant
    document and the rest are hard negatives; a listwise softmax loss over the group. The classifier
    head is new (one logit). Saves a transformers folder to `work_dir/encoder`; checkpoints and
    resumes like the other trainers."""
    import time

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assistant.backends.device import resolve_device

    if len(queries) != len(candidates) or not queries or any(len(c) < 2 for c in candidates):
        raise BackendError("a cross-encoder needs, per query, a relevant document and at least one negative")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_reference)
        model = AutoModelForSequenceClassification.from_pretrained(model_reference, num_labels=1).to(resolved)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load {model_reference!r} as a cross-encoder: {exc}") from exc
    limit = getattr(model.config, "max_position_embeddings", max_length) or max_length
    max_length = min(max_length, int(limit))
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)
    # The one-logit head starts from nothing: it learns 30x faster than the pretrained layers.
    head = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" in n]
    body = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n]
    optimizer = torch.optim.AdamW([{"params": body, "lr": learning_rate},
                                   {"params": head, "lr": learning_rate * 30}], weight_decay=0.01)  # fmt: skip
    steps_per_epoch = math.ceil(len(queries) / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))
    order = list(range(len(queries)))
    random.Random(seed).shuffle(order)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=resolved, weights_only=False)
        if state.get("total") == total and state.get("n") == len(queries):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step = int(state["step"])
    resumed_from = step

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "step": step, "total": total, "n": len(queries)}, tmp)  # fmt: skip
        tmp.replace(checkpoint)

    use_bf16 = resolved.startswith("cuda")
    model.train()
    loss_value = float("nan")
    started = time.perf_counter()
    while step < total:
        start = (step % steps_per_epoch) * batch_size
        batch = order[start : start + batch_size]
        group = min(len(candidates[i]) for i in batch)
        firsts = [queries[i] for i in batch for _ in range(group)]
        seconds_ = [candidates[i][j] for i in batch for j in range(group)]
        encoded = tokenizer(firsts, seconds_, truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt").to(resolved)  # fmt: skip
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(**encoded).logits[:, 0].float().view(len(batch), group)
        loss = torch.nn.functional.cross_entropy(
            logits, torch.zeros(len(batch), dtype=torch.long, device=logits.device)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_value = float(loss.detach())
        progress(step, total, loss_value)
        if step % checkpoint_every == 0 or step == total:
            save_checkpoint()
        if stop_after_steps is not None and step - resumed_from >= stop_after_steps and step < total:
            save_checkpoint()
            raise KeyboardInterrupt(f"stopped after {step} of {total} steps (checkpoint saved)")
    seconds = time.perf_counter() - started
    model.eval()
    encoder_dir = work_dir / "encoder"
    model.save_pretrained(str(encoder_dir))
    tokenizer.save_pretrained(str(encoder_dir))
    checkpoint.unlink(missing_ok=True)
    done = (step - resumed_from) * batch_size
    return ContrastiveTrainingResult(encoder_dir, step, resumed_from, loss_value,
                                     done / seconds if seconds > 0 else 0.0, resolved)  # fmt: skip
