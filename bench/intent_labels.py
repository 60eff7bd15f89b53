"""What a shop's own intent names cost: Bitext requests routed to the action their intent calls for, by an
intent model trained on Bitext's labels as they are, and on the same labels mapped onto the engine's
(`assistant/defaults/label_map_bitext.json`, which `data import --format bitext` applies).

A stratified 20 % of Bitext's train part is the test; the rest trains the frozen e5 head. The action a
request calls for is the policy's decision for its mapped gold label (a fresh conversation, nothing
verified); a predicted label is routed by the same policy. A label the policy does not know falls back to a
knowledge answer, which is right only where a knowledge answer was called for anyway, so the last figure
counts the requests that need more (verification, a hand-off, an apology, a cancellation). Bitext is
templated text, so the mapped figure is near 1: the point is the gap. Prints figures; asserts nothing.

    .venv/bin/python bench/intent_labels.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.backends.embedding_cache import EmbeddingCache, cache_dir
from assistant.data.labels import packaged_label_map
from assistant.data.splits import stratified_split
from assistant.evaluation.intents import read_labelled
from assistant.factory import build_embedder
from assistant.schema import DialogueState, GuardResult, Understanding
from assistant.settings import load_settings
from assistant.stages.intent_head import IntentHead, fit_softmax_regression
from assistant.stages.policy import PolicyMaker

BITEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bitext" / "bitext_train.csv"


def main() -> None:
    settings = load_settings()
    cache = EmbeddingCache(cache_dir(settings.paths.data_dir), build_embedder(settings, use_fine_tuned=False))
    rest, test = stratified_split(read_labelled(BITEXT)["all"], 0.2, seed=0)
    label_map = packaged_label_map("bitext")
    quiet = lambda _: None  # noqa: E731
    x_rest = cache.embed([t for t, _ in rest], progress=quiet, label="train")
    x_test = cache.embed([t for t, _ in test], progress=quiet, label="test")
    policy = PolicyMaker()

    def decided(intent: str, text: str) -> tuple[str, str]:
        understanding = Understanding(intent, 0.99, False, {}, 0.0)
        decision = policy.decide(GuardResult(text), understanding, DialogueState("bench"))
        return decision.action, decision.rule

    expected = [decided(label_map.get(label, label), text)[0] for text, label in test]
    print(
        f"Bitext: {len(rest)} train, {len(test)} test requests, {len({label for _, label in rest})} intents"
    )
    print("| labels | intents | right action | right, where more than a knowledge answer is called for | "
          "fallback answers |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, relabel in (("Bitext's own", lambda label: label),
                          ("mapped onto the engine's", lambda label: label_map.get(label, label))):  # fmt: skip
        names = [relabel(label) for _, label in rest]
        labels = tuple(sorted(set(names)))
        index = {label: i for i, label in enumerate(labels)}
        weights, bias = fit_softmax_regression(x_rest, np.array([index[n] for n in names]), len(labels))
        predicted = [labels[i] for i in IntentHead(weights, bias, labels).logits(x_test).argmax(axis=1)]
        routed = [decided(p, text) for p, (text, _) in zip(predicted, test, strict=True)]
        right = np.array([action == e for (action, _), e in zip(routed, expected, strict=True)])
        acting = np.array([e != "answer_policy" for e in expected])
        fallback = sum(rule.startswith("fallback") for _, rule in routed)
        print(f"| {name} | {len(labels)} | {right.mean():.3f} | {right[acting].mean():.3f} of {int(acting.sum())} | "
              f"{fallback} |")  # fmt: skip


if __name__ == "__main__":
    main()
