"""Fine-tuning the reply generator (a transformers causal LM with a chat template) on
(prompt -> reply) pairs, with the shared training loop (`training_loop.train_steps`).

Each example is the prompt text exactly as the generator renders it (chat template applied, the
assistant cue added) followed by the reply and the end-of-turn token; the loss counts the reply
tokens only, and the vocabulary projection is computed for those positions only (most of a
grounded prompt is facts, and the projection is a fifth of SmolLM2's compute per token).

The token embeddings (tied to the output projection in SmolLM2) stay frozen. `train_layers`
limits training to the top N decoder layers (and the final norm): gradients then stop there,
which is what makes a CPU run take minutes; `None` trains every layer (the GPU preset).
Long prompts are cut from the left, so the customer's message and the cue are always kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.backends.training_loop import FineTuningResult, Progress, train_steps
from assistant.errors import BackendError

logger = logging.getLogger(__name__)
IGNORE = -100


def _decoder_layers(model: Any) -> list[Any]:
    decoder = model.get_decoder()
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise BackendError(
            f"{type(model).__name__} has no decoder layers list; cannot choose layers to train"
        )
    return list(layers)


def freeze_for_training(model: Any, train_layers: int | None) -> int:
    """Freeze the embeddings (and with `train_layers`, all but the top layers); returns trainable params."""
    for parameter in model.parameters():
        parameter.requires_grad_(train_layers is None)
    model.get_input_embeddings().weight.requires_grad_(False)
    output = model.get_output_embeddings()
    if output is not None and output.weight is not model.get_input_embeddings().weight:
        output.weight.requires_grad_(train_layers is None)
    if train_layers is not None:
        for layer in _decoder_layers(model)[-train_layers:] if train_layers > 0 else []:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
        norm = getattr(model.get_decoder(), "norm", None)
        for parameter in norm.parameters() if norm is not None else []:
            parameter.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def encode_example(tokenizer: Any, prompt: str, reply: str, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): the prompt (cut from the left to fit) and the reply with its end token."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(reply.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    reply_ids = reply_ids[: max(1, max_length // 2)]
    prompt_ids = prompt_ids[-(max_length - len(reply_ids)) :]
    return prompt_ids + reply_ids, [IGNORE] * len(prompt_ids) + reply_ids


def reply_loss(model: Any, batch: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str) -> Any:
    """Mean cross-entropy of the reply tokens of a right-padded batch."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, reply) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(reply)] = torch.tensor(reply)
        mask[row, : len(ids)] = 1
    input_ids, labels, mask = input_ids.to(device), labels.to(device), mask.to(device)
    hidden = model.get_decoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state
    following = labels[:, 1:]  # position t predicts token t + 1
    keep = following != IGNORE
    logits = model.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), following[keep])


def fine_tune_causal_lm(
    model_reference: str,
    prompts: Sequence[str],
    replies: Sequence[str],
    *,
    work_dir: Path,
    train_layers: int | None = None,
    epochs: float = 1.0,
    batch_size: int = 8,
    learning_rate: float = 5e-5,
    max_length: int = 512,
    device: str = "auto",
    seed: int = 0,
    checkpoint_every: int = 25,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Fine-tune `model_reference` on rendered `prompts` -> `replies`; saves model and tokenizer to
    `work_dir/model` (a folder the generator backend loads as it is)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.backends.device import resolve_device

    if len(prompts) != len(replies) or not prompts:
        raise BackendError("fine-tuning needs as many replies as prompts, and at least one of each")
    resolved = resolve_device(device)
    torch.manual_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_reference)
        model = AutoModelForCausalLM.from_pretrained(model_reference, dtype=torch.float32)
        model = model.to(resolved)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load generator {model_reference!r}: {exc}") from exc
    if tokenizer.eos_token_id is None:
        raise BackendError(f"generator {model_reference!r} has no end-of-turn token to learn")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainable = freeze_for_training(model, train_layers)
    logger.info("fine-tuning %s: %d trainable parameters", model_reference, trainable)
    examples = [encode_example(tokenizer, p, r, max_length) for p, r in zip(prompts, replies, strict=True)]
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.0
    )

    def loss_of(batch: list[int]) -> Any:
        return reply_loss(model, [examples[i] for i in batch], pad_id, resolved)

    run = train_steps({"model": model}, optimizer, loss_of, n=len(examples), batch_size=batch_size,
                      epochs=epochs, seed=seed, work_dir=work_dir, device=resolved,
                      checkpoint_every=checkpoint_every, stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    model_dir = work_dir / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return FineTuningResult(
        model_dir, run.steps, run.resumed_from_step, run.final_loss, run.samples_per_s, resolved
    )
