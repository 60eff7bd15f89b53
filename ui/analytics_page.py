"""The console's analytics tab: figures and plots from `assistant.analytics`, CSV downloads, A/B arms."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.analytics import Analytics, AnalyticsReport
from assistant.experiments import compare_arms

PERIODS = [("last 7 days", 7), ("last 30 days", 30), ("last 90 days", 90), ("last 365 days", 365)]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def summary_md(report: AnalyticsReport) -> str:
    t = report.totals
    scope = f"{report.since} to {report.until}" + (f", language {report.language}" if report.language else "")
    rated = t.thumbs_up + t.thumbs_down
    return "\n".join([
        f"**{scope}** · {t.conversations} conversations · {t.turns} customer messages",
        "",
        "| contained (no person needed) | handed off | satisfaction (👍 of rated) | reply time median / p95 "
        "| suggestions used (as is or edited) |",
        "|---|---|---|---|---|",
        f"| {_percent(t.containment)} ({t.contained}) | {_percent(t.handoff_rate)} ({t.handed_off}) "
        f"| {_percent(t.satisfaction)} of {rated} | {_ms(t.percentile(50))} / {_ms(t.percentile(95))} "
        f"| {_percent(t.acceptance_rate)} ({t.suggestions_accepted} as is, {t.suggestions_edited} edited, "
        f"{t.replies_written} written, {t.suggestions_rejected} rejected) |",
    ])  # fmt: skip


def _frames(report: AnalyticsReport) -> dict[str, pd.DataFrame]:
    rows = [{"day": pd.Timestamp(day), "language": language, **figures.as_dict()}
            for (day, language), figures in sorted(report.days.items())]  # fmt: skip
    days = pd.DataFrame(rows, columns=["day", "language", "conversations", "containment", "handoff_rate",
                                       "satisfaction", "reply_ms_p50", "reply_ms_p95"])  # fmt: skip
    per_language = days[days["language"] != "all"]
    overall = days[days["language"] == "all"]
    rates = overall.melt(id_vars=["day"], value_vars=["containment", "handoff_rate", "satisfaction"],
                         var_name="measure", value_name="share").dropna()  # fmt: skip
    timing = overall.melt(id_vars=["day"], value_vars=["reply_ms_p50", "reply_ms_p95"], var_name="measure",
                          value_name="ms").dropna()  # fmt: skip
    intents = pd.DataFrame(report.intents.most_common(15), columns=["intent", "turns"])
    reasons = pd.DataFrame(report.handoff_reasons.most_common(10), columns=["reason", "conversations"])
    return {
        "conversations": per_language,
        "rates": rates,
        "timing": timing,
        "intents": intents,
        "reasons": reasons,
    }


def questions_frame(report: AnalyticsReport) -> pd.DataFrame:
    return pd.DataFrame(
        [[q.question, q.count, ", ".join(f"{k} {v}" for k, v in q.languages.items()),
          ", ".join(f"{k} {v}" for k, v in q.reasons.items()), " · ".join(q.examples[1:4])]
         for q in report.questions[:50]],
        columns=["question (most typical)", "times", "languages", "why", "other wordings"],
    )  # fmt: skip


def arms_md(report: AnalyticsReport) -> str:
    comparison = compare_arms(report.arms)
    if comparison is None:
        return "_No A/B test has served conversations in this period._"
    return comparison.markdown()


class AnalyticsTab:
    """Builds the tab's components inside the console's Blocks; `refresh` fills them."""

    def __init__(self, analytics: Analytics, languages: tuple[str, ...]) -> None:
        self.analytics, self.languages = analytics, languages
        self._folder = Path(tempfile.mkdtemp(prefix="assistant-analytics-"))

    def refresh(self, days: int, language: str) -> list[Any]:
        report = self.analytics.report(days=int(days), language=None if language == "all" else language)
        frames = _frames(report)
        stem = f"{report.since}-{report.until}-{language}"
        days_csv = self._folder / f"analytics-days-{stem}.csv"
        questions_csv = self._folder / f"analytics-questions-{stem}.csv"
        days_csv.write_text(report.days_csv(), encoding="utf-8")
        questions_csv.write_text(report.questions_csv(), encoding="utf-8")
        bars = [gr.update(value=frames[name], y_lim=[0, max(1, int(frames[name][column].max() or 0)) * 1.1])
                for name, column in (("intents", "turns"), ("reasons", "conversations"))]  # fmt: skip
        return [summary_md(report), frames["conversations"], frames["rates"], frames["timing"], *bars,
                questions_frame(report), arms_md(report), str(days_csv), str(questions_csv)]  # fmt: skip

    def build(self) -> tuple[list[Any], list[Any], gr.Button]:
        """The components; returns (inputs, outputs, refresh button) for the console to wire."""
        with gr.Row():
            days = gr.Dropdown(PERIODS, value=30, label="Period", elem_id="analytics-days", scale=1)
            language = gr.Dropdown(["all", *self.languages], value="all", label="Language",
                                   elem_id="analytics-language", scale=1)  # fmt: skip
            refresh = gr.Button("Refresh", elem_id="analytics-refresh", scale=0)
            days_file = gr.DownloadButton("Download CSV (per day)", elem_id="analytics-csv-days", scale=0)
            questions_file = gr.DownloadButton("Download CSV (questions)", elem_id="analytics-csv-questions",
                                               scale=0)  # fmt: skip
        summary = gr.Markdown(elem_id="analytics-summary")
        with gr.Row():
            conversations = gr.LinePlot(x="day", y="conversations", color="language", title="Conversations per day",
                                        elem_id="analytics-conversations", height=260)  # fmt: skip
            rates = gr.LinePlot(x="day", y="share", color="measure", y_lim=[0, 1], height=260,
                                title="Containment, hand-off rate and satisfaction", elem_id="analytics-rates")  # fmt: skip
        with gr.Row():
            timing = gr.LinePlot(x="day", y="ms", color="measure", title="Bot reply time (median, p95)",
                                 elem_id="analytics-timing", height=260)  # fmt: skip
            intents = gr.BarPlot(x="intent", y="turns", title="What customers asked (intents)", sort="-y",
                                 x_label_angle=-40, elem_id="analytics-intents", height=260)  # fmt: skip
            reasons = gr.BarPlot(x="reason", y="conversations", title="Why conversations were handed off",
                                 sort="-y", x_label_angle=-40, elem_id="analytics-reasons", height=260)  # fmt: skip
        gr.Markdown("#### Questions the bot could not answer (or answered unsure), grouped by meaning\n"
                    "Write FAQ passages for the biggest groups first.")  # fmt: skip
        questions = gr.Dataframe(elem_id="analytics-questions", wrap=True, interactive=False)
        gr.Markdown("#### A/B test")
        arms = gr.Markdown(elem_id="analytics-arms")
        outputs = [
            summary,
            conversations,
            rates,
            timing,
            intents,
            reasons,
            questions,
            arms,
            days_file,
            questions_file,
        ]
        return [days, language], outputs, refresh
