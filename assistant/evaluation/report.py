"""Write an eval run's folder (metrics.json, report.md, report.html) and compare two runs."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from assistant.evaluation.metrics import percentile

# Headline metrics and whether higher is better; the baseline check uses these.
HEADLINE = {
    "language_accuracy": True, "intent_accuracy": True, "intent_macro_f1": True, "slot_f1": True,
    "passage_recall@5": True, "product_recall@5": True, "recommendation_hit@3": True, "action_accuracy": True,
    "handoff_recall": True, "groundedness_rate": True, "refusal_correctness": True, "chrf": True,
    "latency_ms_p95": False,
}  # fmt: skip
PERCENT = {"chrf", "latency_ms_p50", "latency_ms_p95"}


def write_run(folder: Path, payload: dict[str, Any]) -> None:
    """metrics.json plus the two human reports."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(
        json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (folder / "report.md").write_text(markdown_report(payload), encoding="utf-8")
    (folder / "report.html").write_text(html_report(payload), encoding="utf-8")


def _fmt(name: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if name in PERCENT or name.startswith("latency") else f"{value:.3f}"
    return str(value)


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def markdown_report(payload: dict[str, Any]) -> str:
    agg = payload["aggregate"]
    info = payload["run"]
    lines = [f"# Eval run {info['run_id']}", "",
             f"Suite `{info['suite']}` on split `{info.get('split', '-')}`: {info.get('conversations', '-')} conversations, "
             f"{agg.get('turns', 0)} customer turns, {info['seconds']:.0f} s (generation: {info.get('generation', '-')}).", "",
             "## Headline", ""]  # fmt: skip
    rows = [["metric", "value"]] + [[k, _fmt(k, agg[k])] for k in HEADLINE if k in agg]
    lines += [_table(rows), "", "## All metrics", ""]
    rows = [["metric", "value"]] + [[k, _fmt(k, v)] for k, v in agg.items() if not isinstance(v, dict)]
    lines += [_table(rows), ""]
    for title, key in (("By language", "by_language"), ("By intent", "by_intent")):
        groups = payload.get(key, {})
        if not groups:
            continue
        columns = [c for c in ("turns", "intent_accuracy", "slot_f1", "action_accuracy", "passage_recall@5",
                               "groundedness_rate", "chrf", "latency_ms_p50") if any(c in g for g in groups.values())]  # fmt: skip
        rows = [[key.split("_")[1], *columns]] + [
            [name, *(_fmt(c, g.get(c, "")) for c in columns)] for name, g in groups.items()
        ]
        lines += [f"## {title}", "", _table(rows), ""]
    lines += _trained_models_section(payload.get("trained_models", {}))
    stages = agg.get("stage_latency_ms", {})
    if stages:
        rows = [["stage", "p50 ms", "p95 ms"]] + [
            [s, f"{v['p50']:.1f}", f"{v['p95']:.1f}"] for s, v in stages.items()
        ]
        lines += ["## Latency per stage", "", _table(rows), ""]
    worst = payload.get("worst", [])
    if worst:
        lines += ["## 20 worst turns", ""]
        for r in worst:
            lines += [f"- **{r['conversation_id']}#{r['turn']}** ({r['language']}) `{r['message'][:120]}`",
                      f"  - intent {r['intent']} → {r['predicted_intent']} ({r['confidence']}); action {r['gold_action']} → "
                      f"{r['predicted_action']} [{r['decision_rule']}]",
                      f"  - reply: {r['reply'][:200]}", f"  - logged: {(r['gold_reply'] or '')[:200]}",
                      f"  - trace: {json.dumps(r['trace'], ensure_ascii=False)[:300]}"]  # fmt: skip
    lines += ["", "Settings and data hashes: see `metrics.json` (`settings`, `data`)."]
    return "\n".join(lines) + "\n"


def _bars(values: dict[str, float], *, width: int = 520, bar_height: int = 16, maximum: float = 1.0) -> str:
    rows = list(values.items())
    height = bar_height * len(rows) + 10
    parts = [f'<svg width="{width + 240}" height="{height}" role="img">']
    for i, (name, value) in enumerate(rows):
        y = i * bar_height + 5
        length = max(0.0, min(1.0, value / maximum if maximum else 0)) * width
        parts.append(f'<text x="0" y="{y + 12}" font-size="12">{html.escape(name)}</text>'
                     f'<rect x="170" y="{y}" width="{length:.1f}" height="{bar_height - 3}" fill="#4a7bd0"/>'
                     f'<text x="{175 + length:.1f}" y="{y + 12}" font-size="11">{value:.3f}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: list[float], *, bins: int = 20) -> str:
    if not values:
        return "<p>no data</p>"
    top = percentile(values, 99) or max(values)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / top * bins) if top else 0)] += 1
    peak = max(counts) or 1
    parts = ['<svg width="640" height="180" role="img">']
    for i, c in enumerate(counts):
        h = c / peak * 140
        parts.append(
            f'<rect x="{20 + i * 30}" y="{150 - h:.1f}" width="26" height="{h:.1f}" fill="#d08a4a"/>'
        )
    parts.append(
        f'<text x="20" y="170" font-size="11">0 ms</text><text x="560" y="170" font-size="11">{top:.0f} ms (p99)</text></svg>'
    )
    return "".join(parts)


def _trained_models_section(models: dict[str, dict[str, Any]]) -> list[str]:
    """Which fine-tuned run each component uses, with its trainer's before/after figures."""
    if not models:
        return []
    rows = [["component", "active run", "metric", "starting point", "fine-tuned"]]
    for component, info in models.items():
        metrics = info.get("metrics", {})
        compared = [k for k in metrics if f"base_{k}" in metrics and not k.endswith(("_queries", "_pairs"))]
        if not info.get("run"):
            rows.append([component, "none (prepared model)", "", "", ""])
        for key in compared or ([""] if info.get("run") else []):
            before = _fmt(key, metrics[f"base_{key}"]) if key else ""
            after = _fmt(key, metrics[key]) if key else ""
            rows.append([component, str(info["run"]), key, before, after])
    return ["## Trained models in use", "", "Figures from each run's trainer (`artifacts/<component>/<run>/`).", "",
            _table(rows), ""]  # fmt: skip


def html_report(payload: dict[str, Any]) -> str:
    agg = payload["aggregate"]
    body = [f"<h1>Eval run {html.escape(payload['run']['run_id'])}</h1>",
            "<pre>" + html.escape(json.dumps(payload["run"], indent=1)) + "</pre>", "<h2>Headline</h2><table>"]  # fmt: skip
    body += [f"<tr><td>{k}</td><td>{_fmt(k, agg[k])}</td></tr>" for k in HEADLINE if k in agg]
    body.append("</table>")
    by_intent = payload.get("by_intent", {})
    if by_intent:
        body.append("<h2>Intent accuracy per intent</h2>")
        body.append(_bars({k: v.get("intent_accuracy", 0.0) for k, v in by_intent.items() if k != "None"}))
        body.append("<h2>Action accuracy per intent</h2>")
        body.append(
            _bars({k: v.get("action_accuracy", 0.0) for k, v in by_intent.items() if "action_accuracy" in v})
        )
    matrix = payload.get("confusion", {})
    if matrix:
        labels = sorted(set(matrix) | {p for row in matrix.values() for p in row})
        body.append(
            "<h2>Intent confusion matrix (rows: logged, columns: predicted)</h2><table style='font-size:10px'>"
        )
        body.append(
            "<tr><th></th>"
            + "".join(f"<th style='writing-mode:vertical-rl'>{html.escape(name)}</th>" for name in labels)
            + "</tr>"
        )
        for gold in labels:
            row = matrix.get(gold, {})
            total = sum(row.values()) or 1
            cells = "".join(
                f"<td style='background:rgba(74,123,208,{row.get(p, 0) / total:.2f})'>{row.get(p, '') or ''}</td>"
                for p in labels
            )
            body.append(f"<tr><th>{html.escape(gold)}</th>{cells}</tr>")
        body.append("</table>")
    body.append("<h2>Latency per turn</h2>")
    body.append(_histogram([r["latency_ms"] for r in payload.get("examples", []) if "latency_ms" in r]))
    body.append("<h2>20 worst turns</h2><ol>")
    for r in payload.get("worst", []):
        body.append(f"<li><b>{html.escape(r['conversation_id'])}#{r['turn']}</b> {html.escape(r['message'][:160])}<br>"
                    f"intent {html.escape(str(r['intent']))} → {html.escape(r['predicted_intent'])}; action "
                    f"{html.escape(str(r['gold_action']))} → {html.escape(r['predicted_action'])}<br>"
                    f"reply: {html.escape(r['reply'][:240])}<br>logged: {html.escape((r['gold_reply'] or '')[:240])}<br>"
                    f"<code>{html.escape(json.dumps(r['trace'], ensure_ascii=False)[:400])}</code></li>")  # fmt: skip
    body.append("</ol>")
    style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto}td,th{padding:2px 6px;border:1px solid #ddd}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Eval</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(metric, value in A, value in B, verdict) for every numeric aggregate metric both runs have."""
    rows = []
    for name, va in a["aggregate"].items():
        vb = b["aggregate"].get(name)
        if not isinstance(va, int | float) or not isinstance(vb, int | float) or isinstance(va, bool):
            continue
        higher_better = HEADLINE.get(name, not name.startswith("latency"))
        verdict = "same" if abs(vb - va) < 1e-09 else "better" if (vb > va) == higher_better else "worse"
        rows.append((name, float(va), float(vb), verdict))
    return rows


def check_baseline(aggregate: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Headline metrics that fell more than the baseline's tolerance below it."""
    default = baseline.get("tolerance", 0.02)
    failures = []
    for name, reference in baseline["metrics"].items():
        tolerance = baseline.get("tolerances", {}).get(name, default)
        value = aggregate.get(name)
        if value is None:
            failures.append(f"{name}: missing from this run")
        elif HEADLINE.get(name, True) and value < reference - tolerance:
            failures.append(
                f"{name}: {value:.4f} is more than {tolerance} below the baseline {reference:.4f}"
            )
    return failures
