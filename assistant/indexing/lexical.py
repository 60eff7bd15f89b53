"""BM25 over documents, with jieba word segmentation for Chinese."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_LATIN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_STOP = frozenset(
    "a an the and or of to for in on is are my i me do does can you your it with at be this that".split()
)
_jieba_ready = False


def tokenize(text: str) -> list[str]:
    """Lower-cased Latin words (light plural stemming); for Chinese, jieba words plus character bigrams
    (bigrams keep recall when jieba segments ambiguously, e.g. 退货运费 -> 退 / 货运费)."""
    global _jieba_ready
    lowered = text.lower()
    tokens = [
        t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t
        for t in _LATIN.findall(lowered)
    ]
    tokens = [t for t in tokens if t not in _STOP]
    runs = _CJK.findall(lowered)
    if runs:
        import jieba

        if not _jieba_ready:
            jieba.setLogLevel(60)  # silence "Building prefix dict" chatter
            _jieba_ready = True
        for run in runs:
            tokens += [w for w in jieba.lcut_for_search(run) if w.strip()]
            tokens += [run[i : i + 2] for i in range(len(run) - 1)]
    return tokens


class BM25Index:
    """Okapi BM25 (k1=1.5, b=0.75) over a fixed list of documents."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.term_counts = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.term_counts]
        self.average_length = sum(self.lengths) / max(len(self.lengths), 1)
        frequency: Counter[str] = Counter()
        for counts in self.term_counts:
            frequency.update(counts.keys())
        n = len(documents)
        self.idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}
        self.postings: dict[str, list[int]] = {}
        for index, counts in enumerate(self.term_counts):
            for term in counts:
                self.postings.setdefault(term, []).append(index)

    def scores(self, query: str, allowed: set[int] | None = None) -> dict[int, float]:
        """Document index -> BM25 score for documents sharing a term with `query`."""
        out: dict[int, float] = {}
        for term in set(tokenize(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for index in self.postings[term]:
                if allowed is not None and index not in allowed:
                    continue
                tf = self.term_counts[index][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[index] / self.average_length)
                out[index] = out.get(index, 0.0) + idf * tf * (self.k1 + 1) / norm
        return out
