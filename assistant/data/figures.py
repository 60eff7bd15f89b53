"""Counts that describe a shop folder: records, turns per language and intent, splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from assistant.data.validation import FILES, Issue, read_jsonl, read_splits


def shop_figures(root: Path) -> dict:
    """Record counts, conversations and customer turns per language and intent, split sizes."""
    issues: list[Issue] = []
    counts = {
        name: sum(1 for _ in read_jsonl(root / path, issues, str(path))) for name, path in FILES.items()
    }
    languages: Counter[str] = Counter()
    intents: Counter[tuple[str, str]] = Counter()
    actions: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    customer_turns = code_switching = 0
    for _, conversation in read_jsonl(root / FILES["conversations"], issues, "conversations"):
        languages[conversation.get("language", "?")] += 1
        outcomes[conversation.get("outcome", "?")] += 1
        code_switching += bool(conversation.get("code_switching"))
        for turn in conversation.get("turns", []):
            if turn.get("role") == "customer":
                customer_turns += 1
                intents[
                    (str(turn.get("intent")), turn.get("language", conversation.get("language", "?")))
                ] += 1
            elif turn.get("action"):
                actions[turn["action"]] += 1
    passage_languages = Counter(
        p.get("language", "?") for _, p in read_jsonl(root / FILES["passages"], issues, "passages")
    )
    return {
        "counts": counts,
        "passages_per_language": dict(passage_languages),
        "conversations_per_language": dict(languages),
        "code_switching_conversations": code_switching,
        "outcomes": dict(outcomes),
        "customer_turns": customer_turns,
        "customer_turns_per_conversation": round(customer_turns / max(counts["conversations"], 1), 2),
        "intents": {
            intent: {lang: n for (i, lang), n in sorted(intents.items()) if i == intent}
            for intent in sorted({i for i, _ in intents})
        },
        "actions": dict(actions.most_common()),
        "splits": {name: len(ids) for name, ids in read_splits(root).items()},
    }


def figures_markdown(figures: dict) -> str:
    """The figures as Markdown tables (what dialogue_data/README.md shows)."""
    c = figures["counts"]
    lines = [
        "| what | count |",
        "| --- | --- |",
        *(f"| {name} | {value:,} |" for name, value in c.items()),
        f"| passages per language | {', '.join(f'{k} {v}' for k, v in figures['passages_per_language'].items())} |",
        f"| conversations per language | "
        f"{', '.join(f'{k} {v}' for k, v in figures['conversations_per_language'].items())} |",
        f"| conversations with code-switching | {figures['code_switching_conversations']} |",
        f"| outcomes | {', '.join(f'{k} {v}' for k, v in figures['outcomes'].items())} |",
        f"| customer turns (per conversation) | {figures['customer_turns']:,} "
        f"({figures['customer_turns_per_conversation']}) |",
        f"| splits | {', '.join(f'{k} {v}' for k, v in figures['splits'].items())} |",
        "",
        "| intent | en turns | zh turns |",
        "| --- | --- | --- |",
        *(
            f"| {intent} | {per.get('en', 0)} | {per.get('zh', 0)} |"
            for intent, per in figures["intents"].items()
        ),
    ]
    return "\n".join(lines) + "\n"
