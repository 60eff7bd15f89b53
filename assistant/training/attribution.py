"""Which document an agent's reply drew on, for logs that do not say.

The retriever and reranker learn from (customer message -> documents the agent's reply used) pairs. A
shop's own logs carry them (`passages`, `products` on agent turns), but a ticket export names no
documents, so on such a shop those trainers would learn from agent feedback alone. `attribute_replies`
fills the gap where it can be sure: each agent reply without documents is embedded and compared with the
shop's documents in its language (passages and product documents, as the index holds them); when the
best document leads the next by at least `margin` in cosine similarity, the turn gets it (`passages` or
`products`), marked `"attributed": "similarity"` with the margin, so a later run can redo it and nobody
mistakes it for the export's own record. Replies already naming documents are never touched; replies
the comparison cannot settle (greetings, two passages saying much the same) stay without. The margin is
the precision knob (`bench/attribution.py` measures it on human-written answers).

No library does this (it is nearest-neighbour search with an abstention rule over our own log format),
so it is written here on the embedder and index code the trainers already use.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.embedding_cache import embed_texts
from assistant.catalog import ShopKnowledge
from assistant.data.importers import write_jsonl
from assistant.data.validation import FILES, read_conversations
from assistant.errors import DataError
from assistant.indexing.builder import product_documents
from assistant.training.retriever import DenseIndex, retrieval_corpus

logger = logging.getLogger(__name__)
ATTRIBUTED = "similarity"  # the `attributed` value of a turn whose documents this module chose
DEFAULT_MARGIN = 0.03  # cosine lead of the best document over the next (bench/attribution.py)


@dataclass
class AttributionReport:
    replies: int = 0  # agent replies to a customer message, in all
    named: int = 0  # of them, already naming documents (the export's own record): left alone
    attributed: int = 0  # given a document now
    unsure: int = 0  # compared, but the best document did not lead by the margin
    no_documents: int = 0  # in a language the shop has no documents in
    documents: Counter = field(default_factory=Counter)  # how many replies each document was given to
    margins: list[float] = field(default_factory=list)  # the lead of every compared reply

    def describe(self, margin: float, *, written: bool) -> str:
        compared = self.attributed + self.unsure
        lines = [
            f"{self.replies} agent replies to a customer message; {self.named} already name their documents "
            f"(left alone); {compared} compared with the shop's documents"
            + (f", {self.no_documents} in a language without documents" if self.no_documents else "")
            + ".",
            f"{self.attributed} {'given' if written else 'would get'} a document (its lead over the next >= "
            f"{margin:g}); {self.unsure} left without (no document clearly ahead).",
        ]
        if self.documents:
            top = ", ".join(f"{doc} ({n})" for doc, n in self.documents.most_common(5))
            lines.append(f"most given: {top}")
        if self.margins:
            quartiles = np.quantile(self.margins, [0.25, 0.5, 0.75])
            lines.append(
                "leads over the next document, quartiles: " + " / ".join(f"{q:.3f}" for q in quartiles)
            )
        return "\n".join(lines)


def best_and_lead(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of (replies x documents) similarities: the best document's column, and how far it leads
    the next (1.0 where there is only one document)."""
    if similarity.shape[1] < 2:
        return np.zeros(len(similarity), dtype=int), np.ones(len(similarity))
    top_two = np.argsort(-similarity, axis=1)[:, :2]
    rows = np.arange(len(similarity))
    return top_two[:, 0], similarity[rows, top_two[:, 0]] - similarity[rows, top_two[:, 1]]


def _needs_documents(reply: dict[str, Any]) -> bool:
    """A reply this module may (re)attribute: one naming no documents, or one it attributed before."""
    return reply.get("attributed") == ATTRIBUTED or not (reply.get("passages") or reply.get("products"))


def attribute_replies(
    shop_dir: Path,
    shop: ShopKnowledge,
    embedder: Embedder,
    *,
    margin: float = DEFAULT_MARGIN,
    write: bool = True,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> AttributionReport:
    """Give the agent replies of `shop_dir`'s logs that name no documents the one document they clearly
    drew on (see the module's text); with `write`, the logs are rewritten at once (a staged file swapped
    in). Returns what was found."""
    if not 0 <= margin < 1:
        raise DataError(f"the margin is a cosine lead between 0 and 1; got {margin}")
    conversations = read_conversations(shop_dir)
    corpus = retrieval_corpus(shop)
    if not corpus:
        raise DataError(f"{shop_dir} has no passages or products to attribute replies to")
    # a product's document id -> the product (the logs name products by id, passages by document id)
    product_of = {d.id: str(d.metadata["product_id"]) for d in product_documents(shop)}
    report = AttributionReport()
    chosen: list[tuple[dict[str, Any], str]] = []  # (agent turn, language)
    for conversation in conversations:
        turns = conversation.get("turns") or []
        for turn, reply in pairwise(turns):
            if turn.get("role") != "customer" or reply.get("role") != "agent" or reply.get("target") is False:
                continue
            report.replies += 1
            if not _needs_documents(reply):
                report.named += 1
                continue
            language = str(turn.get("language") or conversation.get("language") or "")
            chosen.append((reply, language))
    languages = {language for _, language in corpus.values()}
    report.no_documents = sum(1 for _, language in chosen if language not in languages)
    chosen = [(reply, language) for reply, language in chosen if language in languages]
    if chosen:
        index = DenseIndex(embedder, corpus, cache_dir=cache_dir, progress=progress)
        vectors = embed_texts(embedder, [str(reply.get("text", "")) for reply, _ in chosen], cache_dir=cache_dir,
                              progress=progress, label="agent replies")  # fmt: skip
        for language, ids in index.ids.items():
            rows = [i for i, (_, lang) in enumerate(chosen) if lang == language]
            if not rows:
                continue
            best, leads = best_and_lead(vectors[rows] @ index.vectors[language].T)
            for row, column, lead in zip(rows, best.tolist(), leads.tolist(), strict=True):
                reply = chosen[row][0]
                report.margins.append(lead)
                if reply.get("attributed") == ATTRIBUTED:  # redone from scratch
                    reply.pop("attributed", None)
                    reply.pop("attribution_margin", None)
                    reply["passages"], reply["products"] = [], []
                if lead < margin:
                    report.unsure += 1
                    continue
                document = ids[column]
                report.attributed += 1
                report.documents[document] += 1
                if document in product_of:
                    reply["products"], reply["passages"] = [product_of[document]], []
                else:
                    reply["passages"], reply["products"] = [document], []
                reply["attributed"] = ATTRIBUTED
                reply["attribution_margin"] = round(lead, 4)
    if write and chosen:
        write_jsonl(shop_dir / FILES["conversations"], conversations)
    return report
