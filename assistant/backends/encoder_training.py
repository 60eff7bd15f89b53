"""Fine-tuning encoders on sentence-transformers' own trainers and losses (`trainer_support` has what
the three share: warm-up, dev evaluation, the best checkpoint kept, resuming):

- the retriever: `SentenceTransformerTrainer` with `MultipleNegativesRankingLoss` on (message, the
  document used, a mined hard negative), batches without duplicate texts (so a batch never holds a
  query's positive as another query's negative), scored on dev by `InformationRetrievalEvaluator`;
- the intent encoder, few-shot: the same trainer with `BatchAllTripletLoss` on (text, label), every
  batch holding several examples of each label it has, so every same-label pair is pulled together
  and every other pushed apart (contrastive learning from a handful of examples per intent, as SetFit
  does with sampled pairs, at one forward pass per text); scored on dev by nearest-centroid accuracy;
  the softmax head is then fitted on the tuned embeddings by `training.intent`;
- the reranker: `CrossEncoderTrainer` with the cross-encoder `MultipleNegativesRankingLoss` on
  (message, the document used, hard negatives), scored on dev by `CrossEncoderRerankingEvaluator`
  on the retriever's candidates.

The token embedding matrix stays frozen everywhere: it is most of multilingual-e5-small's parameters
(250k tokens), its optimiser state is what makes a CPU step slow, and rare tokens would only be
overwritten by noise.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.trainer_support import (
    FineTuningResult,
    Progress,
    fingerprint,
    finish,
    run_trainer,
    training_arguments,
)
from assistant.errors import BackendError

logger = logging.getLogger(__name__)
RETRIEVER_METRIC = "eval_dev_cosine_ndcg@10"
INTENT_METRIC = "eval_dev_accuracy"
RERANKER_METRIC = "eval_dev_ndcg@10"


def _freeze_token_embeddings(model: Any) -> None:
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name:
            parameter.requires_grad_(False)


def _device(device: str) -> str:
    from assistant.backends.device import resolve_device

    return resolve_device(device)


def _load_sentence_transformer(reference: str, device: str, max_seq_length: int) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(reference, device=device)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load encoder {reference!r}: {exc}") from exc
    model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)  # never past its own
    _freeze_token_embeddings(model)
    return model


def _prompts(model: Any) -> tuple[str, str]:
    prompts = getattr(model, "prompts", {}) or {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def fine_tune_encoder_contrastive(
    model_reference: str,
    queries: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[str],
    *,
    work_dir: Path,
    dev_queries: Sequence[str] = (),
    dev_relevant: Sequence[Sequence[str]] = (),
    corpus: dict[str, str] | None = None,
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    max_seq_length: int = 128,
    device: str = "auto",
    seed: int = 0,
    eval_every: int | None = None,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Contrastive fine-tuning of a retriever: each query against its positive, the other positives in
    the batch and every mined hard negative in the batch (one per query). With `dev_queries`, their
    relevant document ids (`dev_relevant`) and the `corpus` (id -> text), nDCG@10 on dev picks the
    checkpoint kept. Queries and documents get the folder's "query"/"passage" prompts, as at search
    time. Saves to `work_dir/encoder`."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    if not (len(queries) == len(positives) == len(negatives)) or not queries:
        raise BackendError("contrastive fine-tuning needs one positive and one negative per query")
    resolved = _device(device)
    model = _load_sentence_transformer(model_reference, resolved, max_seq_length)
    query_prompt, passage_prompt = _prompts(model)
    train = Dataset.from_dict({"anchor": [query_prompt + q for q in queries],
                               "positive": [passage_prompt + p for p in positives],
                               "negative": [passage_prompt + n for n in negatives]})  # fmt: skip
    evaluator = None
    if dev_queries and corpus:
        evaluator = InformationRetrievalEvaluator(
            queries={str(i): q for i, q in enumerate(dev_queries)}, corpus=dict(corpus),
            relevant_docs={str(i): set(r) for i, r in enumerate(dev_relevant)}, name="dev",
            query_prompt=query_prompt or None, corpus_prompt=passage_prompt or None,
            ndcg_at_k=[10], mrr_at_k=[10], accuracy_at_k=[1, 5], precision_recall_at_k=[5], map_at_k=[10],
            show_progress_bar=False, write_csv=False,
        )  # fmt: skip
    metric = RETRIEVER_METRIC if evaluator is not None else None
    args = training_arguments(SentenceTransformerTrainingArguments, work_dir, examples=len(queries),
                              epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, device=resolved,
                              seed=seed, metric=metric, eval_every=eval_every,
                              batch_sampler=BatchSamplers.NO_DUPLICATES)  # fmt: skip
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=MultipleNegativesRankingLoss(model), evaluator=evaluator)  # fmt: skip
    setup = fingerprint("retriever", model_reference, list(queries), list(positives), list(negatives), epochs,
                        batch_size, learning_rate, seed)  # fmt: skip
    output, resumed = run_trainer(trainer, work_dir, setup=setup, device=resolved,
                                  stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    return finish(trainer, output, resumed, encoder_dir, work_dir, resolved, metric)


def centroid_evaluator(texts: Sequence[str], labels: Sequence[int], dev_texts: Sequence[str],
                       dev_labels: Sequence[int]) -> Any:  # fmt: skip
    """A sentence-transformers evaluator: dev accuracy of the nearest label centroid of the training
    examples, i.e. how well the embedding separates the intents, with no head to train."""
    from sentence_transformers.evaluation import SentenceEvaluator

    class CentroidAccuracy(SentenceEvaluator):  # defined here: sentence-transformers is imported lazily
        def __init__(self) -> None:
            super().__init__()
            self.primary_metric, self.greater_is_better = "accuracy", True

        def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1,
                     steps: int = -1) -> dict[str, float]:  # fmt: skip
            return {"dev_accuracy": centroid_accuracy(model, texts, labels, dev_texts, dev_labels)}

    return CentroidAccuracy()


def centroid_accuracy(model: Any, texts: Sequence[str], labels: Sequence[int], dev_texts: Sequence[str],
                      dev_labels: Sequence[int]) -> float:  # fmt: skip
    """Share of `dev_texts` whose nearest label centroid (of `texts`' embeddings) is their label."""
    vectors = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    dev = model.encode(list(dev_texts), normalize_embeddings=True, convert_to_numpy=True)
    classes = sorted(set(labels))
    targets = np.asarray(labels)
    centroids = np.stack([vectors[targets == c].mean(axis=0) for c in classes])
    predicted = np.asarray(classes)[np.argmax(dev @ centroids.T, axis=1)]
    return float(np.mean(predicted == np.asarray(dev_labels)))


def fine_tune_encoder_few_shot(
    model_reference: str,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    work_dir: Path,
    dev_texts: Sequence[str] = (),
    dev_labels: Sequence[int] = (),
    epochs: float = 4.0,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    margin: float = 0.25,
    max_seq_length: int = 64,
    device: str = "auto",
    seed: int = 0,
    eval_every: int | None = None,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Contrastive fine-tuning of an intent encoder from labelled texts (a few per intent are enough):
    `BatchAllTripletLoss` on cosine distance over label-grouped batches. With `dev_texts`, nearest-
    centroid accuracy on dev picks the checkpoint kept. Texts get the folder's "query" prompt, as the
    assistant embeds a message. Saves to `work_dir/encoder`."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import BatchAllTripletLoss, BatchHardTripletLossDistanceFunction
    from sentence_transformers.training_args import BatchSamplers

    if len(texts) != len(labels):
        raise BackendError(
            f"few-shot fine-tuning needs a label per text ({len(texts)} texts, {len(labels)} labels)"
        )
    paired = sum(1 for count in Counter(labels).values() if count >= 2)
    if paired < 2:  # the triplet loss compares examples of one intent with another's
        raise BackendError(f"few-shot fine-tuning needs at least two intents with two or more examples each; "
                           f"{paired} of {len(set(labels))} have that: label more turns")  # fmt: skip
    resolved = _device(device)
    model = _load_sentence_transformer(model_reference, resolved, max_seq_length)
    query_prompt, _ = _prompts(model)
    train = Dataset.from_dict({"text": [query_prompt + t for t in texts], "label": [int(x) for x in labels]})
    evaluator = None
    if dev_texts:
        evaluator = centroid_evaluator([query_prompt + t for t in texts], labels,
                                       [query_prompt + t for t in dev_texts], dev_labels)  # fmt: skip
    metric = INTENT_METRIC if evaluator is not None else None
    args = training_arguments(SentenceTransformerTrainingArguments, work_dir, examples=len(texts), epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, device=resolved, seed=seed,
                              metric=metric, eval_every=eval_every, batch_sampler=BatchSamplers.GROUP_BY_LABEL)  # fmt: skip
    loss = BatchAllTripletLoss(model, distance_metric=BatchHardTripletLossDistanceFunction.cosine_distance,
                               margin=margin)  # fmt: skip
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=loss, evaluator=evaluator
    )
    setup = fingerprint("intent", model_reference, list(texts), [int(x) for x in labels], epochs, batch_size,
                        learning_rate, margin, seed)  # fmt: skip
    output, resumed = run_trainer(trainer, work_dir, setup=setup, device=resolved,
                                  stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save(str(encoder_dir))
    return finish(trainer, output, resumed, encoder_dir, work_dir, resolved, metric)


def fine_tune_cross_encoder(
    model_reference: str,
    queries: Sequence[str],
    candidates: Sequence[Sequence[str]],
    *,
    work_dir: Path,
    dev_queries: Sequence[str] = (),
    dev_candidates: Sequence[Sequence[str]] = (),
    dev_relevant: Sequence[Sequence[str]] = (),
    epochs: float = 1.0,
    batch_size: int = 8,
    learning_rate: float = 3e-5,
    max_length: int = 192,
    device: str = "auto",
    seed: int = 0,
    eval_every: int | None = None,
    stop_after_steps: int | None = None,
    progress: Progress = lambda step, total, loss: None,
) -> FineTuningResult:
    """Train a cross-encoder from an encoder folder (a new one-logit head): for each query,
    `candidates[i][0]` is the relevant document and the rest are hard negatives (the other queries'
    documents in the batch are negatives too). With `dev_queries`, nDCG@10 of reranking their
    `dev_candidates` (relevant: `dev_relevant`) picks the checkpoint kept. Saves a transformers
    folder (config, weights, tokenizer) to `work_dir/encoder`."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    if len(queries) != len(candidates) or not queries or any(len(c) < 2 for c in candidates):
        raise BackendError("a cross-encoder needs, per query, a relevant document and at least one negative")
    resolved = _device(device)
    try:
        from transformers import AutoConfig

        positions = getattr(AutoConfig.from_pretrained(model_reference), "max_position_embeddings", None)
        max_length = min(max_length, int(positions or max_length))  # never past the model's own positions
        model = CrossEncoder(model_reference, num_labels=1, max_length=max_length, device=resolved)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not load {model_reference!r} as a cross-encoder: {exc}") from exc
    _freeze_token_embeddings(model)
    group = min(len(c) for c in candidates)
    columns: dict[str, list[str]] = {"query": list(queries), "positive": [c[0] for c in candidates]}
    for j in range(1, group):
        columns[f"negative_{j}"] = [c[j] for c in candidates]
    evaluator = None
    if dev_queries:
        samples: list[dict[str, str | list[str]]] = [{"query": q, "positive": list(r), "documents": list(c)}
                   for q, c, r in zip(dev_queries, dev_candidates, dev_relevant, strict=True)]  # fmt: skip
        evaluator = CrossEncoderRerankingEvaluator(samples, at_k=10, always_rerank_positives=False, name="dev",
                                                   batch_size=64, write_csv=False)  # fmt: skip
    metric = RERANKER_METRIC if evaluator is not None else None
    args = training_arguments(CrossEncoderTrainingArguments, work_dir, examples=len(queries), epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, device=resolved, seed=seed,
                              metric=metric, eval_every=eval_every, batch_sampler=BatchSamplers.NO_DUPLICATES)  # fmt: skip
    # Raw logits in the softmax (no sigmoid): a sigmoid saturates at a high learning rate and stops learning,
    # and the assistant ranks by the raw logit.
    loss = MultipleNegativesRankingLoss(model, num_negatives=group - 1, scale=1, activation_fn=None)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns), loss=loss,
                                  evaluator=evaluator)  # fmt: skip
    setup = fingerprint("reranker", model_reference, list(queries), [list(c) for c in candidates], epochs,
                        batch_size, learning_rate, seed)  # fmt: skip
    output, resumed = run_trainer(trainer, work_dir, setup=setup, device=resolved,
                                  stop_after_steps=stop_after_steps, progress=progress)  # fmt: skip
    encoder_dir = work_dir / "encoder"
    model.save_pretrained(str(encoder_dir))
    return finish(trainer, output, resumed, encoder_dir, work_dir, resolved, metric)


def fit_similarity_weight(
    scores: Sequence[Sequence[float]],
    similarities: Sequence[Sequence[float]],
    relevant: Sequence[Sequence[bool]],
) -> tuple[float, float]:
    """The weight `w` of the retriever's similarity in `score + w * similarity` that ranks dev candidates
    best (mean reciprocal rank of the first relevant one), and that MRR. `w = 0` (the cross-encoder
    alone) is one of the choices, so the prior is kept only where it helps."""
    grid = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0)

    def mrr(w: float) -> float:
        ranks = []
        for score, similarity, gold in zip(scores, similarities, relevant, strict=True):
            combined = np.asarray(score, dtype=np.float64) + w * np.asarray(similarity, dtype=np.float64)
            order = np.argsort(-combined, kind="stable")
            hits = [rank for rank, i in enumerate(order, 1) if gold[i]]
            ranks.append(1.0 / hits[0] if hits else 0.0)
        return float(np.mean(ranks)) if ranks else 0.0

    best = max(grid, key=lambda w: (round(mrr(w), 6), -w))  # the smallest weight among equals
    return best, mrr(best)
