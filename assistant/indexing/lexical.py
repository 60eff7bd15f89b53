"""The lexical side of retrieval: BM25 (the `bm25s` library, sparse matrices) over our own tokens (Latin
words with light stemming; jieba words and character bigrams for Chinese), with metadata filters applied
inside the index, persisted next to the vector index and updated incrementally like it.

`LexicalIndex` holds one collection: the bm25s model, the document ids in matrix order, and the documents'
filterable metadata as numpy columns, so a chroma-style `where` becomes a boolean mask over all documents
in one vectorised pass (no Python loop over the catalog). Built by `python -m assistant index`
(`sync_lexical`), loaded at start-up (`LexicalIndex.load`), never rebuilt on start.

Why the filter evaluation is written here: bm25s takes a document mask but has no metadata; chroma's
`where` language is small ($and, $or, $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte) and the same filters
must mean the same thing on both sides of the fusion.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexNotBuiltError

logger = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG, with its own handler

_LATIN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_STOP = frozenset(
    "a an the and or of to for in on is are my i me do does can you your it with at be this that".split()
)
_jieba_ready = False
FORMAT = 1  # bumped when the files change shape; an older folder is rebuilt by `index`
K1, B = 1.5, 0.75


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


class LexicalIndex:
    """BM25 over one collection's documents, with their metadata as columns for `where` masks."""

    def __init__(
        self, ids: Sequence[str], tokens: Sequence[Sequence[str]], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        import bm25s

        self.ids = list(ids)
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}
        self.columns = _columns(metadatas)
        self._bm25 = bm25s.BM25(k1=K1, b=B)
        if self.ids:
            # A document with no tokens gets the empty token (never in a query), so positions stay aligned.
            self._bm25.index([list(t) or [""] for t in tokens], show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, query: str, *, top_k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The `top_k` (id, BM25 score) best matches for `query` among documents passing `where`; documents
        sharing no term with the query are not returned."""
        if not self.ids or top_k <= 0:
            return []
        vocabulary = self._bm25.vocab_dict
        terms = [t for t in dict.fromkeys(tokenize(query)) if t in vocabulary]
        if not terms:
            return []
        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float32)
        if where:
            scores = np.where(where_mask(self.columns, where, len(self.ids)), scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > top_k:
            candidates = candidates[np.argpartition(-scores[candidates], top_k - 1)[:top_k]]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(self.ids[i], float(scores[i])) for i in order]

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        """Write the index to `folder` (replacing what is there)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.ids:
            self._bm25.save(str(folder / "bm25"), show_progress=False)
        columns = {f"column:{k}": v for k, v in self.columns.items()}
        np.savez(folder / "columns.npz", ids=np.asarray(self.ids, dtype=str), **columns)  # type: ignore[arg-type]
        (folder / "index.json").write_text(
            json.dumps({"format": FORMAT, "documents": len(self.ids)}), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """The index saved in `folder`; `IndexNotBuiltError` when there is none (or of an older format)."""
        import bm25s

        meta = folder / "index.json"
        if not meta.is_file() or json.loads(meta.read_text(encoding="utf-8")).get("format") != FORMAT:
            raise IndexNotBuiltError(f"no lexical index at {folder}: run `python -m assistant index`")
        index = cls.__new__(cls)
        with np.load(folder / "columns.npz", allow_pickle=False) as saved:
            index.ids = [str(i) for i in saved["ids"]]
            index.columns = {
                k.removeprefix("column:"): saved[k] for k in saved.files if k.startswith("column:")
            }
        index.position = {doc_id: i for i, doc_id in enumerate(index.ids)}
        index._bm25 = (
            bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
            if index.ids
            else bm25s.BM25(k1=K1, b=B)
        )
        return index


def sync_lexical(folder: Path, documents: Sequence[tuple[str, str, dict[str, Any], str]]) -> bool:
    """Make the lexical index in `folder` hold exactly `documents` (id, text, metadata, content hash).

    Tokens are cached per document by content hash, so only new or changed texts are tokenized (jieba is
    the slow part); BM25 is then rebuilt from the cached tokens (seconds at 100k documents). Nothing is
    written when the set of (id, hash) is what the index was built from. Returns whether it rebuilt."""
    folder.mkdir(parents=True, exist_ok=True)
    cache_path = folder / "tokens.json"
    built_path = folder / "built-from.json"
    fingerprint = sorted((doc_id, content_hash) for doc_id, _, _, content_hash in documents)
    if (folder / "index.json").is_file() and built_path.is_file():
        try:
            same = json.loads(built_path.read_text(encoding="utf-8")) == [list(p) for p in fingerprint]
            current = json.loads((folder / "index.json").read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError):
            same = current = False
        if same and current:
            return False
    cache: dict[str, list[Any]] = {}
    if cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
        except ValueError:
            logger.warning("lexical token cache at %s unreadable: re-tokenizing", cache_path)
    tokens: list[list[str]] = []
    fresh: dict[str, list[Any]] = {}
    for doc_id, text, _, content_hash in documents:
        cached = cache.get(doc_id)
        words = cached[1] if cached and cached[0] == content_hash else tokenize(text)
        fresh[doc_id] = [content_hash, words]
        tokens.append(words)
    LexicalIndex([d[0] for d in documents], tokens, [d[2] for d in documents]).save(folder)
    cache_path.write_text(json.dumps(fresh, ensure_ascii=False), encoding="utf-8")
    built_path.write_text(json.dumps(fingerprint), encoding="utf-8")
    return True


# ---------------------------------------------------------------------------------------- filters
def _columns(metadatas: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Metadata as one numpy array per key: floats (NaN where missing), booleans, or strings ("" missing).
    Keys whose values mix kinds are kept as strings."""
    keys = sorted({k for m in metadatas for k in m})
    columns: dict[str, np.ndarray] = {}
    for key in keys:
        values = [m.get(key) for m in metadatas]
        kinds = {type(v) for v in values if v is not None}
        if kinds == {bool}:
            columns[key] = np.asarray([bool(v) for v in values], dtype=bool)
        elif kinds and kinds <= {int, float}:
            columns[key] = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        else:
            columns[key] = np.asarray(["" if v is None else str(v) for v in values], dtype=str)
    return columns


def where_mask(columns: dict[str, np.ndarray], where: dict[str, Any] | None, size: int) -> np.ndarray:
    """Which documents pass a chroma-style `where` (the same meaning as `vector_store.matches`)."""
    if not where:
        return np.ones(size, dtype=bool)
    for logical in ("$and", "$or"):
        if logical in where:
            clauses = where[logical]
            if len(clauses) < 2:  # chroma refuses these too
                raise ValueError(
                    f"Expected where value for {logical} to be a list with at least two where expressions"
                )
            masks = [where_mask(columns, clause, size) for clause in clauses]
            return np.logical_and.reduce(masks) if logical == "$and" else np.logical_or.reduce(masks)
    mask = np.ones(size, dtype=bool)
    for key, condition in where.items():
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        column = columns.get(key)
        for op, target in condition.items():
            mask &= _compare(op, column, target, size)
    return mask


def _compare(op: str, column: np.ndarray | None, target: Any, size: int) -> np.ndarray:
    if column is None:  # a key no document has: only negative conditions hold
        if op not in ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"):
            raise ValueError(f"unsupported filter operator {op!r}")
        return np.full(size, op in ("$ne", "$nin"), dtype=bool)
    if op in ("$in", "$nin"):
        wanted = [v for v in target if _comparable(column, v)]
        found = np.isin(column, wanted) if wanted else np.zeros(size, dtype=bool)
        return found if op == "$in" else ~found
    if not _comparable(column, target):  # a string compared with a number never matches
        if op in ("$eq", "$ne"):
            return np.full(size, op == "$ne", dtype=bool)
        return np.zeros(size, dtype=bool)
    with np.errstate(invalid="ignore"):  # NaN (missing) compares false
        if op == "$eq":
            return np.asarray(column == target)
        if op == "$ne":
            return np.asarray(column != target)
        if column.dtype.kind not in "fb":
            raise ValueError(f"operator {op} needs a number, not text")
        comparisons = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}
        if op not in comparisons:
            raise ValueError(f"unsupported filter operator {op!r}")
        return np.asarray(comparisons[op](column, target))


def _comparable(column: np.ndarray, value: Any) -> bool:
    if column.dtype.kind == "U":
        return isinstance(value, str)
    if column.dtype.kind == "b":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)
