"""What one label sheet is worth to a shop whose logs carry no intent labels: Bitext's 3,612 requests imported
without their labels into a temporary shop (splits written by the import), a label sheet written with the
engine's default intent model, filled in from Bitext's own labels through the engine's map (as a careful
person would; the 4 intents without a counterpart left blank), applied, and `train intent` run on it. Both
models are scored on the test split's requests whose intent has a counterpart: intent accuracy, the share set
aside as unsure (under the probability threshold), and the action the policy takes for the predicted intent
(for an unsure one, what it does when unsure) against the one the gold intent calls for. The trained head is
also scored with its thresholds read from the dev turns alone, as before the training turns' out-of-fold
answers joined them. Bitext is
templated text, so the figures are kind to every model; the gap is the point. Prints figures; asserts
nothing.

    .venv/bin/python bench/label_sheet.py [--per-intent 10]
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import tempfile
from pathlib import Path

import numpy as np

from assistant.__main__ import main as cli
from assistant.backends.embedding_cache import cache_dir, embed_texts
from assistant.data.labels import packaged_label_map
from assistant.factory import build_embedder, build_intent_model
from assistant.schema import DialogueState, GuardResult, Understanding
from assistant.settings import load_settings
from assistant.stages.policy import PolicyMaker
from assistant.training.intent import (
    fit_out_of_scope,
    intent_examples,
    load_active_intent_head,
    train_intent_model,
)
from assistant.training.labelling import apply_labels, labelling_sheet, write_sheet
from assistant.training.logs import conversations_in_split

BITEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bitext" / "bitext_train.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-intent", type=int, default=10)
    args = parser.parse_args()
    label_map = packaged_label_map("bitext")
    with BITEXT.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    gold = {f"t{i:05d}": label_map.get(row["intent"], "") for i, row in enumerate(rows)}
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        export = work / "export.jsonl"
        export.write_text("".join(json.dumps({"id": f"t{i:05d}", "messages": [
            {"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": row["response"]}]})
            + "\n" for i, row in enumerate(rows)), encoding="utf-8")  # fmt: skip
        shop = work / "shop"
        cli(["shop", "init", str(shop), "--no-settings"])
        cli(
            [
                "data",
                "import",
                "--format",
                "messages-jsonl",
                str(export),
                str(shop / "logs" / "conversations.jsonl"),
            ]
        )
        base = load_settings()
        settings = load_settings(overrides=[f"paths.shop_dir={shop}", f"paths.artifacts_dir={work / 'artifacts'}",
                                            f"paths.data_dir={base.paths.data_dir}"])  # fmt: skip
        quiet = lambda _: None  # noqa: E731
        embedder, default_head = build_intent_model(settings)
        sheet = labelling_sheet(shop, embedder, default_head, per_intent=args.per_intent,
                                cache_dir=cache_dir(settings.paths.data_dir))  # fmt: skip
        for row in sheet:
            row["intent"] = gold[row["conversation_id"]]
        write_sheet(sheet, work / "sheet.csv")
        report = apply_labels(shop, work / "sheet.csv")
        suggested_right = sum(row["intent"] == row["suggested"] for row in sheet if row["intent"])
        prepared = build_embedder(settings, use_fine_tuned=False)
        train_intent_model(shop, prepared, work / "artifacts", embedder_reference="prepared", run_id="sheet",
                           cache_dir=cache_dir(settings.paths.data_dir))  # fmt: skip
        trained = load_active_intent_head(work / "artifacts")
        labelled = {e.conversation_id for split in ("train", "dev") for e in intent_examples(shop, split)}
        test = [(c["turns"][0]["text"], gold[c["id"]]) for c in conversations_in_split(shop, "test")
                if gold[c["id"]]]  # fmt: skip
        vectors = embed_texts(prepared, [t for t, _ in test], progress=quiet, label="test",
                              cache_dir=cache_dir(settings.paths.data_dir))  # fmt: skip
        policy = PolicyMaker()

        def action(intent: str, unsure: bool = False) -> str:
            understanding = Understanding(intent, 0.99, unsure, {}, 0.0)
            return policy.decide(GuardResult("bench"), understanding, DialogueState("bench")).action

        # the same trained head with its thresholds read from the dev turns alone (the rule before cross-fitting)
        train, dev = intent_examples(shop, "train"), intent_examples(shop, "dev")
        index = {label: i for i, label in enumerate(trained.labels)}
        dev = [e for e in dev if e.intent in index]
        alone = copy.deepcopy(trained)
        answers = fit_out_of_scope(
            alone, embed_texts(prepared, [e.text for e in train], progress=quiet, label="train",
                               cache_dir=cache_dir(settings.paths.data_dir)), [e.intent for e in train],
            embed_texts(prepared, [e.text for e in dev], progress=quiet, label="dev",
                        cache_dir=cache_dir(settings.paths.data_dir)),
            np.array([index[e.intent] for e in dev]), cross_fit=False,
        ).answers  # fmt: skip
        metrics = json.loads((work / "artifacts" / "intent" / "sheet" / "metrics.json").read_text())
        print(f"Bitext without labels: {len(rows)} requests; a sheet of {len(sheet)} rows, {report.applied} "
              f"labelled ({len(labelled)} of them in train or dev), {report.blank} left blank; the default "
              f"model's suggestion was right on {suggested_right}")  # fmt: skip
        print(f"| model | intent accuracy on {len(test)} test requests | set aside as unsure (threshold) | "
              "right action, as acted on |")  # fmt: skip
        print("|---|---|---|---|")
        models = (("engine default", default_head),
                  (f"trained on the sheet, thresholds from {answers} dev answers alone", alone),
                  (f"trained on the sheet, thresholds from {metrics['threshold_answers']} answers "
                   f"({metrics['threshold_answers_cross_fitted']} train turns out of fold)", trained))  # fmt: skip
        for name, head in models:
            probabilities = head.probabilities(vectors)
            predicted = [head.labels[i] for i in probabilities.argmax(axis=1)]
            unsure = probabilities.max(axis=1) < head.threshold  # the assistant's rule, the score check off
            accuracy = np.mean([p == g for p, (_, g) in zip(predicted, test, strict=True)])
            right = np.mean(
                [action(p, u) == action(g) for p, u, (_, g) in zip(predicted, unsure, test, strict=True)]
            )
            print(f"| {name} | {accuracy:.3f} | {unsure.mean():.3f} ({head.threshold:.2f}) | {right:.3f} |")


if __name__ == "__main__":
    main()
