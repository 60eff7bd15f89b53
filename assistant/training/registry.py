"""Training runs on disk and which one is active: `artifacts/<component>/<run_id>/` plus an `ACTIVE`
pointer and a `HISTORY` of activations (for rollback).

A run becomes active only through `promote`, which compares the run's dev-split headline metric
(written by its trainer into `metrics.json`) with the active run's, or with the run's own untrained
starting point (`base_*`) when nothing is active; some components also have guard metrics a run must
not make worse (the generator's groundedness). `force` overrides. Only the intent model's first run
becomes active by itself (the pipeline needs one); the others start from the prepared models. The
pointer is replaced atomically, so a crash or a failed run never leaves the pipeline without a model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError, DataError

# The dev-split metric that decides whether a run is better, per component (higher is better).
HEADLINE_METRICS = {
    "intent": "dev_macro_f1",
    "retriever": "dev_ndcg@10",
    "reranker": "dev_ndcg@10",
    "generator": "dev_chrf",
}
# Metrics a run must not make worse to be promoted, whatever its headline (higher is better).
GUARD_METRICS = {"generator": ("dev_groundedness",)}


@dataclass(frozen=True)
class RunInfo:
    """One training run of a component."""

    component: str
    run_id: str
    path: Path
    metrics: dict[str, float]
    is_active: bool

    @property
    def headline(self) -> float | None:
        value = self.metrics.get(HEADLINE_METRICS[self.component])
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Promotion:
    """What `promote` did and why."""

    component: str
    run_id: str
    previous: str | None
    is_promoted: bool
    reason: str


def write_run(
    folder: Path, *, metrics: dict[str, object], settings_toml: str, manifest: dict[str, object]
) -> None:
    """The files every run folder has beside its model: metrics, resolved settings, data manifest, and
    `report.md` (before/after table for a person)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(run_report(folder.parent.name, folder.name, metrics), encoding="utf-8")
    (folder / "settings.toml").write_text(settings_toml, encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def run_report(component: str, run_id: str, metrics: dict[str, object]) -> str:
    """Markdown: each measured metric before (the untrained starting point, `base_*`) and after, then the
    run's other figures."""
    compared = [k for k in metrics if f"base_{k}" in metrics]
    lines = [
        f"# {component} run {run_id}",
        "",
        "| metric | starting point | this run | change |",
        "|---|---|---|---|",
    ]
    for key in compared:
        before, after = metrics[f"base_{key}"], metrics[key]
        change = (
            f"{after - before:+.4f}"
            if isinstance(before, int | float) and isinstance(after, int | float)
            else ""
        )
        lines.append(f"| {key} | {before} | {after} | {change} |")
    shown = {*compared, *(f"base_{k}" for k in compared)}
    lines += ["", *(f"- {k}: {v}" for k, v in metrics.items() if k not in shown), ""]
    return "\n".join(lines)


def step_reporter(progress: Callable[[str], None], label: str) -> Callable[[int, int, float], None]:
    """A trainer's per-step callback that prints every 10th step with the loss and the time left."""
    started = time.perf_counter()

    def report(step: int, total: int, loss: float) -> None:
        if step == 1 or step % 10 == 0 or step == total:
            rate = step / max(time.perf_counter() - started, 1e-6)
            progress(f"{label}: step {step}/{total}, loss {loss:.3f}, ~{(total - step) / rate:.0f} s left")

    return report


def training_figures(result: Any) -> dict[str, object]:
    """What a trainer's run did, for metrics.json: the checkpoint kept and the dev metric at each
    evaluation during training (`trainer_support.FineTuningResult`)."""
    figures: dict[str, object] = {"fine_tune_final_loss": round(result.final_loss, 4)}
    if result.best_step is not None:
        figures["fine_tune_best_step"] = result.best_step
        figures["fine_tune_best_dev_metric"] = round(float(result.best_metric), 4)
        figures["fine_tune_dev_curve"] = [{k: round(v, 4) if isinstance(v, float) else v for k, v in e.items()}
                                          for e in result.evaluations]  # fmt: skip
    if result.resumed_from_step:
        figures["fine_tune_resumed_from_step"] = result.resumed_from_step
    return figures


def _component(component: str) -> str:
    if component not in HEADLINE_METRICS:
        raise ConfigError(f"unknown component {component!r}; choose one of: {', '.join(HEADLINE_METRICS)}")
    return component


def active_run(artifacts_dir: Path, component: str) -> str | None:
    """The active run id of `component`, or None."""
    pointer = artifacts_dir / component / "ACTIVE"
    try:
        run_id = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return run_id if run_id and (artifacts_dir / component / run_id).is_dir() else None


def set_active(artifacts_dir: Path, component: str, run_id: str, *, action: str = "promote") -> None:
    """Point `ACTIVE` at `run_id` (atomically) and record the change in `HISTORY`."""
    folder = artifacts_dir / component
    folder.mkdir(parents=True, exist_ok=True)
    previous = active_run(artifacts_dir, component)
    if previous and previous != run_id and not (folder / "HISTORY").exists():
        # An ACTIVE pointer older than the history file: record it, so a rollback can return to it.
        (folder / "HISTORY").write_text(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{previous}\tpromote\n", encoding="utf-8"
        )
    tmp = folder / "ACTIVE.tmp"
    tmp.write_text(run_id + "\n", encoding="utf-8")
    tmp.replace(folder / "ACTIVE")
    with (folder / "HISTORY").open("a", encoding="utf-8") as history:
        history.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{run_id}\t{action}\n")


def _activation_stack(artifacts_dir: Path, component: str) -> list[str]:
    """Run ids in activation order, with rolled-back activations popped off."""
    stack: list[str] = []
    try:
        lines = (artifacts_dir / component / "HISTORY").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return stack
    for line in lines:
        fields = line.split("\t")
        if len(fields) >= 2 and fields[-1] == "rollback":
            if stack:
                stack.pop()
        elif len(fields) >= 2:
            stack.append(fields[1])
    return stack


def list_runs(artifacts_dir: Path, component: str) -> list[RunInfo]:
    """Every run folder of `component` (oldest first by name), with its dev metrics."""
    folder = artifacts_dir / _component(component)
    active = active_run(artifacts_dir, component)
    runs = []
    for path in sorted(p for p in folder.glob("*") if p.is_dir()):
        try:
            metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            metrics = {}
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        runs.append(RunInfo(component, path.name, path, numbers, path.name == active))
    return runs


def promote(artifacts_dir: Path, component: str, run_id: str, *, force: bool = False) -> Promotion:
    """Make `run_id` active if its dev headline metric beats the active run's (or `force`)."""
    runs = {r.run_id: r for r in list_runs(artifacts_dir, component)}
    if run_id not in runs:
        raise DataError(
            f"no run {run_id!r} under {artifacts_dir / component}; `python -m assistant list {component}`"
        )
    candidate = runs[run_id]
    metric = HEADLINE_METRICS[component]
    active_id = active_run(artifacts_dir, component)
    if active_id == run_id:
        return Promotion(component, run_id, active_id, False, f"{run_id} is already active")
    if candidate.headline is None and not force:
        return Promotion(component, run_id, active_id, False,
                         f"{run_id} has no {metric} in metrics.json (an unfinished run?); not promoted")  # fmt: skip
    current = runs[active_id].headline if active_id in runs else None
    if active_id is None:  # nothing active: the run must beat its own untrained starting point, if recorded
        base = candidate.metrics.get(f"base_{metric}")
        current = float(base) if base is not None else None
    if not force and current is not None and candidate.headline is not None and candidate.headline <= current:
        return Promotion(component, run_id, active_id, False,
                         f"{metric} {candidate.headline:.4f} does not beat "
                         f"{f'the active {active_id}' if active_id else 'its untrained starting point'} ({current:.4f})")  # fmt: skip
    reference = (
        runs[active_id].metrics
        if active_id in runs
        else {k.removeprefix("base_"): v for k, v in candidate.metrics.items() if k.startswith("base_")}
    )
    for guard in () if force else GUARD_METRICS.get(component, ()):
        ours, theirs = candidate.metrics.get(guard), reference.get(guard)
        if isinstance(ours, int | float) and isinstance(theirs, int | float) and ours < theirs:
            return Promotion(component, run_id, active_id, False,
                             f"{guard} {ours:.4f} is worse than {active_id or 'its untrained starting point'}'s "
                             f"({theirs:.4f}); not promoted")  # fmt: skip
    set_active(artifacts_dir, component, run_id)
    why = (
        "forced"
        if force
        else f"{metric} {candidate.headline} vs {current if current is not None else 'none'}"
    )
    return Promotion(component, run_id, active_id, True, why)


def rollback(artifacts_dir: Path, component: str) -> str:
    """Re-activate the run that was active before the current one; returns its id."""
    _component(component)
    stack = [
        r for r in _activation_stack(artifacts_dir, component) if (artifacts_dir / component / r).is_dir()
    ]
    current = active_run(artifacts_dir, component)
    while stack and stack[-1] == current:
        stack.pop()
    if not stack:
        raise DataError(f"nothing to roll back to: {component} has no earlier active run")
    set_active(artifacts_dir, component, stack[-1], action="rollback")
    return stack[-1]
