"""What every fine-tuning backend shares around the libraries' own trainers (sentence-transformers'
`SentenceTransformerTrainer` and `CrossEncoderTrainer`, transformers' `Trainer`, all of them
`transformers.Trainer` underneath).

The trainers do the work: batches reshuffled every epoch, AdamW with linear warm-up (10 % of the
steps) and decay, gradient clipping, bf16 on CUDA, evaluation on dev every `eval_every` steps with a
checkpoint saved at each, and the best checkpoint (by the dev metric) loaded at the end. This module
only adds what a shop's run needs on top:

- `training_arguments`: one place for those settings, so the three trainers train alike;
- resuming: a run started again with the same `work_dir` and the same data resumes from the last
  checkpoint in `work_dir/checkpoints` (the trainer restores model, optimiser, schedule and data
  order); checkpoints of a different setup (other data, other epochs) are set aside, not mixed in;
- `stop_after_steps`: stops a run as an interruption would, after saving a checkpoint (for tests of
  resuming), and `TrainingInterrupted` says so;
- progress lines and a `FineTuningResult` with the figures the run reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
Progress = Callable[[int, int, float], None]
WARMUP_SHARE = 0.1
EVALUATIONS_PER_RUN = 4  # dev evaluations (and checkpoints) in a run, when `eval_every` is not given


class TrainingInterrupted(KeyboardInterrupt):
    """The run stopped early (`stop_after_steps`) with a checkpoint saved; the same call resumes it."""


@dataclass(frozen=True)
class FineTuningResult:
    """Where the fine-tuned model was saved, and what the run did."""

    model_dir: Path
    steps: int
    resumed_from_step: int
    final_loss: float
    samples_per_s: float
    device: str
    best_step: int | None = None  # the checkpoint kept (by the dev metric); None without evaluation
    best_metric: float | None = None
    evaluations: list[dict[str, float]] = field(default_factory=list)  # the dev metric at each evaluation


def steps_per_run(examples: int, batch_size: int, epochs: float) -> int:
    return max(1, math.ceil(epochs * math.ceil(examples / batch_size)))


def training_arguments(
    arguments_class: type,
    work_dir: Path,
    *,
    examples: int,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    device: str,
    seed: int,
    metric: str | None,
    greater_is_better: bool = True,
    eval_every: int | None = None,
    weight_decay: float = 0.01,
    **extra: Any,
) -> Any:
    """The trainers' arguments: warm-up, linear decay, evaluation and a checkpoint every `eval_every`
    steps (default: four times a run), the best checkpoint by `metric` kept and loaded at the end
    (`metric=None`, or a run of one step: no dev evaluation, the last step is kept)."""
    total = steps_per_run(examples, batch_size, epochs)
    every = max(1, eval_every or math.ceil(total / EVALUATIONS_PER_RUN))
    # A run of one step (a smoke run, a handful of examples) has one model to keep: nothing for dev to
    # choose between and nothing to resume, so no evaluation or checkpoint during it (the caller measures
    # the result on dev after training either way).
    evaluate = metric is not None and total > 1
    return arguments_class(
        output_dir=str(work_dir / "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        warmup_steps=WARMUP_SHARE,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        use_cpu=not device.startswith("cuda"),
        bf16=device.startswith("cuda"),
        eval_strategy="steps" if evaluate else "no",
        eval_steps=every if evaluate else None,
        save_strategy="steps" if total > 1 else "no",
        save_steps=every,
        save_total_limit=2,  # the best and the latest
        load_best_model_at_end=evaluate,
        metric_for_best_model=metric,
        greater_is_better=greater_is_better if evaluate else None,
        logging_steps=1,  # the loss of every step reaches `progress`
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **extra,
    )


def fingerprint(*parts: Any) -> str:
    """A short hash of a run's setup (data and settings): checkpoints of another setup are not resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resumable_checkpoint(work_dir: Path, setup: str) -> str | None:
    """The latest checkpoint of an interrupted run with the same `setup`, or None (a fresh start; the
    checkpoints of a different setup are removed with a warning)."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = work_dir / "checkpoints"
    marker = work_dir / "setup.txt"
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if last and (not marker.is_file() or marker.read_text(encoding="utf-8") != setup):
        logger.warning("ignoring checkpoints of a different run setup in %s", folder)
        shutil.rmtree(folder)
        last = None
    work_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(setup, encoding="utf-8")
    return last


def run_trainer(
    trainer: Any,
    work_dir: Path,
    *,
    setup: str,
    device: str,
    stop_after_steps: int | None,
    progress: Progress,
) -> tuple[Any, int]:
    """Train (resuming an interrupted run of the same setup); returns (TrainOutput, resumed-from step).
    Raises `TrainingInterrupted` after `stop_after_steps` steps, with a checkpoint saved."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    checkpoint = resumable_checkpoint(work_dir, setup)
    resumed_from = int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else 0
    if checkpoint:
        logger.info("resuming fine-tuning from %s", checkpoint)
    stopped: list[int] = []

    class RunCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                progress(state.global_step, state.max_steps, float(logs["loss"]))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            done = state.global_step - resumed_from
            if (
                stop_after_steps is not None
                and done >= stop_after_steps
                and state.global_step < state.max_steps
            ):
                control.should_save = True
                control.should_training_stop = True
                stopped.append(state.global_step)

    # `progress` reports the steps; the printer would dump every log dict.
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(RunCallback())
    output = trainer.train(resume_from_checkpoint=checkpoint)
    if stopped:
        raise TrainingInterrupted(f"stopped after {stopped[0]} steps (checkpoint saved in {work_dir})")
    logger.info("fine-tuned on %s in %d steps", device, output.global_step)
    return output, resumed_from


def finish(
    trainer: Any,
    output: Any,
    resumed_from: int,
    model_dir: Path,
    work_dir: Path,
    device: str,
    metric: str | None,
) -> FineTuningResult:
    """The run's figures, and its checkpoints removed (the kept model is saved in `model_dir` already)."""
    state = trainer.state
    losses = [float(entry["loss"]) for entry in state.log_history if "loss" in entry]
    evaluations = [
        {"step": int(entry["step"]), metric: float(entry[metric])}
        for entry in state.log_history
        if metric and metric in entry
    ]
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(str(state.best_model_checkpoint).rsplit("-", 1)[-1])
    # Training throughput: the evaluations on dev are not training (the trainer's own figure counts them).
    evaluating = sum(float(e.get("eval_runtime", 0.0)) for e in state.log_history)
    training_seconds = float(output.metrics.get("train_runtime", 0.0)) - evaluating
    samples = (int(output.global_step) - resumed_from) * int(trainer.args.per_device_train_batch_size)
    shutil.rmtree(work_dir / "checkpoints", ignore_errors=True)
    (work_dir / "setup.txt").unlink(missing_ok=True)
    return FineTuningResult(
        model_dir,
        int(output.global_step),
        resumed_from,
        losses[-1] if losses else float("nan"),
        samples / training_seconds if training_seconds > 0 else 0.0,
        device,
        best_step,
        None if state.best_metric is None else float(state.best_metric),
        evaluations,
    )
