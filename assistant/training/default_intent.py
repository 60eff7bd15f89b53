"""The engine's default intent model: a shop with no labelled support logs understands shoppers on day one.

The examples (`assistant/defaults/intents.jsonl`) were written for this project: generic e-commerce requests
for every intent the policy knows, in every language the engine speaks, naming no shop. A calibrated head is
fit on them over the shop's embedder and saved as an ordinary intent run (`artifacts/intent/default-<hash>/`),
so the existing path applies: `train intent` on the shop's own logs writes a run that replaces it (a default
run never blocks a shop's own model), and `promote` / `rollback` work as for any run.

Calibration is honest about having no dev split: the temperature and the out-of-scope threshold are fit on
out-of-fold predictions (5-fold cross-validation), and the metrics written beside the model are those
cross-validated figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.embedding_cache import embed_texts
from assistant.evaluation.metrics import accuracy, macro_f1
from assistant.shop import DEFAULTS
from assistant.stages.intent_head import IntentHead, fit_softmax_regression, fit_temperature, softmax
from assistant.training.intent import COMPONENT, DEFAULT_PREFIX, Example, out_of_scope_threshold
from assistant.training.registry import active_run, set_active, write_run

logger = logging.getLogger(__name__)
EXAMPLES = DEFAULTS / "intents.jsonl"
FOLDS = 5


def default_examples(languages: tuple[str, ...] = ("en", "zh")) -> list[Example]:
    """The engine's own labelled examples in `languages`."""
    out = []
    for number, line in enumerate(EXAMPLES.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            if record["language"] in languages:
                out.append(Example(record["text"], record["intent"], record["language"], f"default:{number}"))
    return out


def default_run_id(embedder_reference: str, languages: tuple[str, ...]) -> str:
    digest = hashlib.sha256(
        EXAMPLES.read_bytes() + embedder_reference.encode() + ",".join(languages).encode()
    )
    return DEFAULT_PREFIX + digest.hexdigest()[:12]


def embedder_reference(embedder: Embedder) -> str:
    """What names the embedder's weights (a folder or hub id; the class name for in-code fakes)."""
    return str(getattr(embedder, "model_reference", "") or type(embedder).__name__)


def ensure_default_intent_model(
    embedder: Embedder,
    artifacts_dir: Path,
    *,
    embedder_reference: str,
    languages: tuple[str, ...] = ("en", "zh"),
    epochs: int = 600,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """The default intent run for this embedder and these languages (fit once, then reused); made active
    when no intent model is active, or when the active one is an older default."""
    run_id = default_run_id(embedder_reference, languages)
    folder = artifacts_dir / COMPONENT / run_id
    if not (folder / "metrics.json").is_file():
        _fit(embedder, folder, embedder_reference=embedder_reference, languages=languages, epochs=epochs,
             progress=progress)  # fmt: skip
    active = active_run(artifacts_dir, COMPONENT)
    # An older default (other examples or embedder) gives way; a model trained on the shop's logs never does.
    if active is None or (active.startswith(DEFAULT_PREFIX) and active != run_id):
        set_active(artifacts_dir, COMPONENT, run_id, action="default")
        logger.info("intent: no model trained on this shop's logs yet; using the engine default %s", run_id)
    return folder


def _fit(embedder: Embedder, folder: Path, *, embedder_reference: str, languages: tuple[str, ...], epochs: int,
         progress: Callable[[str], None]) -> None:  # fmt: skip
    examples = default_examples(languages)
    labels = tuple(sorted({e.intent for e in examples}))
    index = {label: i for i, label in enumerate(labels)}
    x = embed_texts(embedder, [e.text for e in examples], progress=progress, label="default intents")
    y = np.array([index[e.intent] for e in examples])
    # Out-of-fold logits: every example is scored by a head that never saw it.
    folds = np.arange(len(examples)) % FOLDS
    oof = np.zeros((len(examples), len(labels)), dtype=np.float64)
    for fold in range(FOLDS):
        train, held = folds != fold, folds == fold
        weights, bias = fit_softmax_regression(x[train], y[train], len(labels), epochs=epochs)
        oof[held] = IntentHead(weights, bias, labels).logits(x[held])
    weights, bias = fit_softmax_regression(x, y, len(labels), epochs=epochs)
    head = IntentHead(weights, bias, labels)
    head.temperature = fit_temperature(oof, y)
    probabilities = softmax(oof / head.temperature)
    predicted = probabilities.argmax(axis=1)
    head.threshold = out_of_scope_threshold(probabilities, y)
    gold = [labels[i] for i in y]
    guessed = [labels[i] for i in predicted]
    metrics: dict[str, object] = {
        "cv_accuracy": round(accuracy(gold, guessed), 4),
        "cv_macro_f1": round(macro_f1(gold, guessed), 4),
        "temperature": round(head.temperature, 4),
        "threshold": round(head.threshold, 4),
        "examples": len(examples),
        "intents": len(labels),
        "encoder": "frozen",
        "source": "engine default examples (assistant/defaults/intents.jsonl)",
    }
    head.save(folder)
    write_run(folder, metrics=metrics, settings_toml="", manifest={
        "component": COMPONENT, "run_id": folder.name, "embedder": embedder_reference, "languages": list(languages),
        "data": {"intents.jsonl": hashlib.sha256(EXAMPLES.read_bytes()).hexdigest()},
    })  # fmt: skip
    progress(f"default intent model {folder.name}: {len(examples)} examples, cross-validated accuracy "
             f"{metrics['cv_accuracy']}")  # fmt: skip
