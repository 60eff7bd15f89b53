"""A/B tests: a candidate training run of one component serves a share of new conversations.

The arm is drawn once per conversation, when it starts, from a hash of the experiment's name and the
conversation id (so it is sticky, and the same in every worker), and kept in its dialogue state; the
analytics count each arm's outcomes. `compare_arms` puts the arms side by side with 95 % confidence
intervals: Wilson intervals for each arm's rates and Newcombe's interval for their difference; a
bootstrap (scipy) for the difference in median reply time. `promote --ab` cites the comparison.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from assistant.analytics import Figures

CONTROL, CANDIDATE = "control", "candidate"
Z95 = 1.959963984540054
MIN_PER_ARM = 30  # fewer conversations in an arm: the comparison says it is too early to tell


@dataclass(frozen=True)
class Experiment:
    """`component`'s run `candidate_run` serves `share` of new conversations; the rest get the active run."""

    name: str
    component: str
    candidate_run: str
    share: float

    def arm_for(self, conversation_id: str) -> str:
        digest = hashlib.sha256(f"{self.name}\x00{conversation_id}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        return CANDIDATE if draw < self.share else CONTROL

    def label(self, arm: str) -> str:
        """What is stored in the conversation's state (an arm of this experiment, not of an earlier one)."""
        return f"{self.name}/{arm}"


def candidate_index_suffix(run_id: str) -> str:
    """The collection-name suffix of a candidate retriever's own vectors (`python -m assistant index` fills
    them while the retriever is under test)."""
    return "-ab-" + hashlib.sha256(run_id.encode()).hexdigest()[:10]


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion (scipy's)."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    interval = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(interval.low), float(interval.high))


def newcombe(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """The 95 % interval of p2 − p1 (Newcombe's hybrid score method, from the two Wilson intervals)."""
    if not n1 or not n2:
        return (-1.0, 1.0)
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1)
    l2, u2 = wilson(s2, n2)
    d = p2 - p1
    return (d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))


def median_difference(control: list[float], candidate: list[float]) -> tuple[float, float, float] | None:
    """Candidate − control median reply time, with a 95 % bootstrap interval (scipy); None with too few."""
    if len(control) < 5 or len(candidate) < 5:
        return None
    from scipy.stats import bootstrap

    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(b, axis=axis) - np.median(a, axis=axis)

    result = bootstrap((np.asarray(control), np.asarray(candidate)), statistic, n_resamples=2000,
                       confidence_level=0.95, method="percentile", random_state=0)  # fmt: skip
    low, high = result.confidence_interval
    return float(np.median(candidate) - np.median(control)), float(low), float(high)


@dataclass(frozen=True)
class RateComparison:
    name: str
    higher_is_better: bool
    control: tuple[int, int]  # (successes, n)
    candidate: tuple[int, int]

    @property
    def difference(self) -> tuple[float, float, float] | None:
        (s1, n1), (s2, n2) = self.control, self.candidate
        if not n1 or not n2:
            return None
        low, high = newcombe(s1, n1, s2, n2)
        return s2 / n2 - s1 / n1, low, high

    @property
    def verdict(self) -> str:
        diff = self.difference
        if diff is None:
            return "no data"
        _, low, high = diff
        if low > 0:
            return "candidate better" if self.higher_is_better else "candidate worse"
        if high < 0:
            return "candidate worse" if self.higher_is_better else "candidate better"
        return "no clear difference"


@dataclass(frozen=True)
class ArmComparison:
    experiment: str
    conversations: tuple[int, int]  # control, candidate
    rates: tuple[RateComparison, ...]
    reply_ms: tuple[float, float, float] | None  # candidate − control median, and its interval

    @property
    def is_too_early(self) -> bool:
        return min(self.conversations) < MIN_PER_ARM

    @property
    def is_worse(self) -> bool:
        """The candidate is clearly worse on a rate (containment, hand-offs or satisfaction)."""
        return any(r.verdict == "candidate worse" for r in self.rates)

    def summary(self) -> str:
        lines = [f"A/B {self.experiment}: {self.conversations[0]} conversations on the control, "
                 f"{self.conversations[1]} on the candidate"]  # fmt: skip
        for r in self.rates:
            diff = r.difference
            if diff is None:
                lines.append(f"  {r.name}: no data")
                continue
            (s1, n1), (s2, n2) = r.control, r.candidate
            lines.append(f"  {r.name}: control {s1}/{n1} ({s1 / n1:.1%}), candidate {s2}/{n2} ({s2 / n2:.1%}); "
                         f"difference {diff[0]:+.1%} [95% CI {diff[1]:+.1%}, {diff[2]:+.1%}]: {r.verdict}")  # fmt: skip
        if self.reply_ms is not None:
            d, low, high = self.reply_ms
            lines.append(f"  median reply time: candidate {d:+.0f} ms [95% CI {low:+.0f}, {high:+.0f}]")
        if self.is_too_early:
            lines.append(f"  too early to decide: fewer than {MIN_PER_ARM} conversations in an arm")
        return "\n".join(lines)

    def markdown(self) -> str:
        rows = [f"**{self.experiment}** · control {self.conversations[0]} conversations · candidate "
                f"{self.conversations[1]}", "", "| measure | control | candidate | difference (95 % CI) | verdict |",
                "|---|---|---|---|---|"]  # fmt: skip
        for r in self.rates:
            (s1, n1), (s2, n2) = r.control, r.candidate
            diff = r.difference
            cells = [f"{s1}/{n1} ({s1 / n1:.0%})" if n1 else "–", f"{s2}/{n2} ({s2 / n2:.0%})" if n2 else "–",
                     f"{diff[0]:+.1%} [{diff[1]:+.1%}, {diff[2]:+.1%}]" if diff else "–"]  # fmt: skip
            rows.append(f"| {r.name} | {' | '.join(cells)} | {r.verdict} |")
        if self.reply_ms is not None:
            d, low, high = self.reply_ms
            rows.append(f"| median reply time | | | {d:+.0f} ms [{low:+.0f}, {high:+.0f}] | |")
        if self.is_too_early:
            rows += ["", f"_Too early to decide: fewer than {MIN_PER_ARM} conversations in an arm._"]
        return "\n".join(rows)


def compare_arms(arms: dict[str, Figures], experiment: str | None = None) -> ArmComparison | None:
    """The control and candidate arms of `experiment` (the most recent one with both arms when None)."""
    names = sorted({label.rsplit("/", 1)[0] for label in arms if "/" in label})
    if experiment is None:
        both = [n for n in names if f"{n}/{CONTROL}" in arms and f"{n}/{CANDIDATE}" in arms]
        if not both:
            return None
        experiment = both[-1]
    control, candidate = arms.get(f"{experiment}/{CONTROL}"), arms.get(f"{experiment}/{CANDIDATE}")
    if control is None or candidate is None:
        return None
    rates = (
        RateComparison("containment", True, (control.contained, control.started),
                       (candidate.contained, candidate.started)),
        RateComparison("hand-off rate", False, (control.handed_off, control.started),
                       (candidate.handed_off, candidate.started)),
        RateComparison("satisfaction (👍 of rated)", True,
                       (control.thumbs_up, control.thumbs_up + control.thumbs_down),
                       (candidate.thumbs_up, candidate.thumbs_up + candidate.thumbs_down)),
    )  # fmt: skip
    return ArmComparison(experiment, (control.conversations, candidate.conversations), rates,
                         median_difference(control.reply_ms, candidate.reply_ms))  # fmt: skip
