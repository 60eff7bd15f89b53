"""Embeddings kept on disk, keyed by the model and the text, so that work repeated on the same data (an
eval run again, the starting model measured by every training run, the reranker's candidates)
embeds nothing again.

The model is identified by its reference, its dimension and, for a local folder, the size and
modification time of every file in it: a folder overwritten by another model (a re-prepared model,
a run folder trained again under the same name) gets a new key, never the old vectors. Queries and
passages are kept apart (models such as E5 embed them with different prompts). One `.npz` file per
(model, kind) in the folder. Each retrained model gets files of its own, so after every write the
least recently used files go until the folder is under `MAX_CACHE_BYTES` (the file just written always
stays; reading a file marks it used); a writer's leftover temporary file goes after an hour. Deleting the
folder is always safe: it only costs embedding again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.backends.embedding import join_vectors

Kind = Literal["query", "passage"]
# A catalog of 50,000 products is ~77 MB of e5-small vectors per model; this keeps a few models' worth.
MAX_CACHE_BYTES = 2 * 1024**3
STALE_TEMPORARY_S = 3600  # a temporary file this old was left by a writer that died


def cache_dir(data_dir: Path) -> Path:
    """The shop's cache of vectors, under its data folder (`paths.data_dir`)."""
    return data_dir / "cache" / "embeddings"


def model_fingerprint(reference: str, *, hub_cache: Path | None = None) -> str:
    """The reference, with every file's path, size and modification time for a local folder, or the
    revision in the Hugging Face cache (`hub_cache`: the library's default) for a hub id, so a model
    updated under the same id gets a new fingerprint."""
    folder = Path(reference)
    parts = [reference]
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            parts.append(f"{path.relative_to(folder)}\x00{stat.st_size}\x00{stat.st_mtime_ns}")
    else:
        parts.append(hub_revision(reference, hub_cache=hub_cache) or "")
    return hashlib.sha256("\x01".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def hub_revision(reference: str, *, hub_cache: Path | None = None) -> str | None:
    """The commit of hub model `reference` ("org/name") in the local Hugging Face cache (what loading it
    offline gets), or None when it is not a hub id or not cached. Reads the cache only; never the network."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    if reference.count("/") != 1 or reference.startswith((".", "/")):
        return None
    try:
        found = try_to_load_from_cache(reference, "config.json", cache_dir=hub_cache)
    except HFValidationError:  # not a valid repo id: a name of some other kind
        return None
    if not isinstance(found, str):
        return None
    snapshot = Path(found).parent
    return snapshot.name if snapshot.parent.name == "snapshots" else None


class EmbeddingCache:
    """`embed(texts)` returns one vector per text, embedding only texts not stored for this model yet."""

    def __init__(self, folder: Path, embedder: Any, *, kind: Kind = "query") -> None:
        reference = str(getattr(embedder, "model_reference", "") or type(embedder).__name__)
        dimension = getattr(embedder, "dimension", None)
        identity = f"{model_fingerprint(reference)}\x00{dimension}\x00{kind}"
        self.model_key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.path = folder / f"{self.model_key}.npz"
        self.embedder = embedder
        self.kind = kind
        self.hits = 0
        self.misses = 0
        self._stored: dict[str, np.ndarray] | None = None  # read from disk once, on first use
        # A joined embedder (`JoinedEmbedder`) is cached part by part: each model's vectors serve every
        # combination it is part of, and a joined run after a single one embeds only the new part.
        self.parts = [EmbeddingCache(folder, part, kind=kind) for part in getattr(embedder, "parts", ())]

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[str], None] = lambda _: None, label: str = "texts"
    ) -> np.ndarray:
        if self.parts:
            blocks = [part.embed(texts, progress=progress, label=label) for part in self.parts]
            self.hits, self.misses = sum(p.hits for p in self.parts), sum(p.misses for p in self.parts)
            return join_vectors(blocks) if texts else np.zeros((0, 1), dtype=np.float32)
        if self._stored is None:
            self._stored = {}
            if self.path.is_file():
                with np.load(self.path) as data:
                    self._stored = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
                with contextlib.suppress(OSError):  # a read-only cache still serves its vectors
                    os.utime(self.path)  # used now: pruning keeps the recently used models' files
        stored = self._stored
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in stored))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            vectors = embed_texts(
                self.embedder, missing, progress=progress, label=label, passages=self.kind == "passage"
            )
            stored.update(zip((self._key(t) for t in missing), vectors, strict=True))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A file of this writer's own, then an atomic rename: two processes filling the same cache at
            # once (a training run and an eval) never leave a torn file, only one's entries.
            tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npz")
            np.savez(tmp, keys=np.array(list(stored)), vectors=np.stack(list(stored.values())))
            tmp.replace(self.path)
            prune(self.path.parent, keep=self.path)
        else:
            progress(f"{label}: {len(texts)} embeddings from the cache")
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([stored[k] for k in keys]).astype(np.float32)


def prune(folder: Path, *, keep: Path, max_bytes: int = MAX_CACHE_BYTES) -> list[Path]:
    """Delete the least recently used cache files of `folder` (never `keep`) until the rest fit in
    `max_bytes`, and temporary files older than `STALE_TEMPORARY_S`; returns what was deleted. A file another
    process removes meanwhile is skipped."""
    removed: list[Path] = []
    now = time.time()
    files: list[tuple[float, int, Path]] = []
    for path in folder.glob("*.npz"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.name.endswith(".tmp.npz"):
            if now - stat.st_mtime > STALE_TEMPORARY_S:
                path.unlink(missing_ok=True)
                removed.append(path)
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):  # oldest use first
        if total <= max_bytes:
            break
        if path == keep:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
        total -= size
    return removed


def embed_texts(
    embedder: Any,
    texts: list[str],
    *,
    progress: Callable[[str], None],
    label: str,
    passages: bool = False,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """Embed as queries (`passages`: as documents) with a progress line every few batches (distinct
    texts once); with `cache_dir`, through the `EmbeddingCache` there."""
    if cache_dir is not None:
        kind: Kind = "passage" if passages else "query"
        return EmbeddingCache(cache_dir, embedder, kind=kind).embed(texts, progress=progress, label=label)
    embed = embedder.embed_passages if passages else embedder.embed_queries
    distinct = list(dict.fromkeys(texts))
    vectors: list[np.ndarray] = []
    started = time.perf_counter()
    batch = 128
    for start in range(0, len(distinct), batch):
        vectors.append(embed(distinct[start : start + batch]))
        done = min(start + batch, len(distinct))
        rate = done / max(time.perf_counter() - started, 1e-6)
        progress(
            f"{label}: embedded {done}/{len(distinct)} texts ({rate:.0f}/s, ~{(len(distinct) - done) / rate:.0f} s left)"
        )
    table = np.concatenate(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
    index = {text: i for i, text in enumerate(distinct)}
    return table[[index[t] for t in texts]] if texts else table
