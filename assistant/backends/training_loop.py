"""The training loop every fine-tuning backend shares (encoders and the reply generator).

AdamW with linear decay, gradient clipping, bf16 autocast on CUDA, a checkpoint every
`checkpoint_every` steps into `work_dir` (a later call with the same `work_dir` and the same data
resumes from it), and `stop_after_steps` to stop early as an interrupted run would (for tests of
resuming).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class FineTuningResult:
    """Where the fine-tuned model was saved, and what the run did."""

    model_dir: Path
    steps: int
    resumed_from_step: int
    final_loss: float
    samples_per_s: float
    device: str


@dataclass(frozen=True)
class Steps:
    steps: int
    resumed_from_step: int
    final_loss: float
    samples_per_s: float


def train_steps(
    modules: dict[str, Any],
    optimizer: Any,
    loss_of: Callable[[list[int]], Any],
    *,
    n: int,
    batch_size: int,
    epochs: float,
    seed: int,
    work_dir: Path,
    device: str,
    checkpoint_every: int,
    stop_after_steps: int | None,
    progress: Progress,
) -> Steps:
    """Run `epochs` over `n` examples in shuffled batches: `loss_of(batch indices)` -> loss tensor."""
    import torch

    steps_per_epoch = math.ceil(n / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = work_dir / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state.get("total") == total and state.get("n") == n:
            for name, module in modules.items():
                module.load_state_dict(state[name])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step = int(state["step"])
            logger.info("resuming fine-tuning at step %d of %d", step, total)
        else:
            logger.warning("ignoring a checkpoint from a different run setup in %s", work_dir)
    resumed_from = step

    def save_checkpoint() -> None:
        state = {name: module.state_dict() for name, module in modules.items()}
        state.update(
            optimizer=optimizer.state_dict(), schedule=schedule.state_dict(), step=step, total=total, n=n
        )
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(checkpoint)

    parameters = [p for module in modules.values() for p in module.parameters()]
    for module in modules.values():
        module.train()
    loss_value = float("nan")
    started = time.perf_counter()
    while step < total:
        start = (step % steps_per_epoch) * batch_size
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = loss_of(order[start : start + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
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
    for module in modules.values():
        module.eval()
    checkpoint.unlink(missing_ok=True)
    done = (step - resumed_from) * batch_size
    return Steps(step, resumed_from, loss_value, done / seconds if seconds > 0 else 0.0)
