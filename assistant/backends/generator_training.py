"""Fine-tuning the reply generator (a transformers causal LM with a chat template) on
(prompt -> reply) pairs with transformers' `Trainer` and a peft LoRA adapter.

Each example is the prompt text exactly as the generator renders it (chat template applied, the
assistant cue added) followed by the reply and the end-of-turn token; the loss counts the reply
tokens only (the prompt's labels are -100). Long prompts are cut from the left, so the customer's
message and the cue are always kept.

LoRA adapters (rank `rank`) go on every attention and MLP projection; the base weights stay frozen.
`train_layers` puts them on the top N decoder layers only, so gradients stop there, which is what
makes a CPU run take minutes; `None` adapts every layer (the GPU preset). The trainer evaluates the
reply loss on the dev pairs during training and keeps the best checkpoint (`trainer_support`). The
run saves the adapter (`work_dir/adapter`, loadable with `peft.PeftModel.from_pretrained` on the
base) and the base with the adapter merged in (`work_dir/model`, an ordinary model folder the
generator backend serves as it is, with no peft at serving time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.backends.trainer_support import (
    FineTuningResult,
    Progress,
    fingerprint,
    finish,
    run_trainer,
    training_arguments,
)
from assistant.errors import BackendError

logger = logging.getLogger(__name__)
IGNORE = -100
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
METRIC = "eval_loss"


def decoder_layer_count(model: Any) -> int:
    layers = getattr(model.get_decoder(), "layers", None)
    if layers is None:
        raise BackendError(
            f"{type(model).__name__} has no decoder layers list; cannot choose layers to adapt"
        )
    return len(layers)


def lora_config(model: Any, train_layers: int | None, rank: int) -> Any:
    """LoRA on the attention and MLP projections the model has, of the top `train_layers` layers (all
    layers with None)."""
    from peft import LoraConfig

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names]
    if not targets:
        raise BackendError(
            f"{type(model).__name__} has none of the projections LoRA adapts ({', '.join(LORA_TARGETS)})"
        )
    count = decoder_layer_count(model)
    layers = None if train_layers is None else list(range(max(0, count - train_layers), count))
    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=targets, bias="none",
                      layers_to_transform=layers, task_type="CAUSAL_LM")  # fmt: skip


def encode_example(tokenizer: Any, prompt: str, reply: str, max_length: int) -> dict[str, list[int]]:
    """input_ids and labels: the prompt (cut from the left to fit; labels -100) and the reply with its
    end token."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(reply.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    reply_ids = reply_ids[: max(1, max_length // 2)]
    prompt_ids = prompt_ids[-(max_length - len(reply_ids)) :]
    return {"input_ids": prompt_ids + reply_ids, "labels": [IGNORE] * len(prompt_ids) + reply_ids}


class ReplyCollator:
    """Right-pads a batch of encoded examples (pad id for inputs, -100 for labels, a 0/1 mask)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            input_ids[row, :n] = torch.tensor(feature["input_ids"])
            labels[row, :n] = torch.tensor(feature["labels"])
            mask[row, :n] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def fine_tune_causal_lm(
    model_reference: str,
    prompts: Sequence[str],
    replies: Sequence[str],
    *,
    work_dir: Path,
    dev_prompts: Sequence[str] = (),
    dev_replies: Sequence[str] = (),
    train_layers: int | None = None,
    rank: int = 16,
    epochs: float = 1.0,
    batch_size: int = 8,
    learning_rate: float = 2e-4,
    max_length: int = 512,
    device: str = "auto",
    seed: int = 0,
    eval_every: int | None = None,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """LoRA fine-tuning of `model_reference` on rendered `prompts` -> `replies` (the dev pairs, when
    given, pick the checkpoint kept by their reply loss). Saves `work_dir/adapter` and the merged
    model with its tokenizer in `work_dir/model`."""
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from assistant.backends.device import resolve_device

    if len(prompts) != len(replies) or not prompts:
        raise BackendError("fine-tuning needs as many replies as prompts, and at least one of each")
    resolved = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_reference)
        base = AutoModelForCausalLM.from_pretrained(model_reference, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load generator {model_reference!r}: {exc}") from exc
    if tokenizer.eos_token_id is None:
        raise BackendError(f"generator {model_reference!r} has no end-of-turn token to learn")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = get_peft_model(base, lora_config(base, train_layers, rank))
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA on %s: %d of %d parameters trainable", model_reference, trainable, total)

    def encoded(ps: Sequence[str], rs: Sequence[str]) -> Any:
        rows = [encode_example(tokenizer, p, r, max_length) for p, r in zip(ps, rs, strict=True)]
        return Dataset.from_dict(
            {"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]}
        )

    train = encoded(prompts, replies)
    dev = encoded(dev_prompts, dev_replies) if dev_prompts else None
    metric = METRIC if dev is not None else None
    args = training_arguments(TrainingArguments, work_dir, examples=len(prompts), epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, device=resolved, seed=seed, metric=metric,
                              greater_is_better=False, eval_every=eval_every, weight_decay=0.0,
                              remove_unused_columns=False, label_names=["labels"])  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                      data_collator=ReplyCollator(pad_id))  # fmt: skip
    setup = fingerprint("generator", model_reference, list(prompts), list(replies), train_layers, rank, epochs,
                        batch_size, learning_rate, max_length, seed)  # fmt: skip
    output, resumed = run_trainer(trainer, work_dir, setup=setup, device=resolved,
                                  stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    model.save_pretrained(str(work_dir / "adapter"))  # the best adapter (loaded at the end)
    merged = model.merge_and_unload()
    model_dir = work_dir / "model"
    merged.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    return finish(trainer, output, resumed, model_dir, work_dir, resolved, metric)
