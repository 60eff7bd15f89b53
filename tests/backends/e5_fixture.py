"""Writes tiny `E5S1` files and runs the engine's algorithm in numpy, for converter tests."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

PIECES = [
    ("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0),
    ("▁", -2.0), ("▁hello", -3.0), ("▁world", -3.5), ("▁shoe", -4.0), ("s", -2.5),
    ("▁query", -3.0), (":", -2.0), ("▁passage", -3.0), ("h", -6.0), ("e", -6.0),
    ("l", -6.0), ("o", -6.0), ("▁ret", -5.0), ("urn", -5.0), ("▁return", -4.5), ("退", -4.0),
    ("货", -4.0), ("▁30", -4.0), ("天", -4.0), ("～", -5.0), ("~", -5.0),
]  # fmt: skip
# Code point map as the engine stores it: control characters dropped, tab -> space, and the
# NFKC folds the fixtures need (fullwidth letters).
NORMALIZATION = {0x01: "", 0x09: " ", 0xFF48: "h", 0xFF45: "e", 0xFF4C: "l", 0xFF4F: "o"}


def quantize_q4_0(values: np.ndarray) -> bytes:
    """Q4_0-encode a flat float array (length a multiple of 32)."""
    out = bytearray()
    for block in values.reshape(-1, 32):
        amax = float(np.max(np.abs(block)))
        scale = amax / 7.0 if amax > 0 else 1.0
        q = np.clip(np.round(block / scale) + 8, 0, 15).astype(np.uint8)
        out += np.float16(scale).tobytes()
        out += bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def dequantized(values: np.ndarray) -> np.ndarray:
    """What the engine reads back for `values` after Q4_0 encoding."""
    from assistant.backends.e5_conversion import dequantize_q4_0

    return dequantize_q4_0(quantize_q4_0(values), values.size)


def make_weights(hidden: int = 64, layers: int = 2, ffn: int = 128, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    vocab, positions = len(PIECES) + 3, 32  # more embedding rows than pieces, like E5
    w: dict[str, np.ndarray] = {
        "emb.word": rng.normal(0, 0.5, (vocab, hidden)),
        "emb.pos": rng.normal(0, 0.1, (positions, hidden)),
        "emb.type": rng.normal(0, 0.1, (2, hidden)),
        "emb.ln.w": 1 + rng.normal(0, 0.05, hidden),
        "emb.ln.b": rng.normal(0, 0.05, hidden),
    }
    for layer in range(layers):
        for name, shape in {
            "q.w": (hidden, hidden), "k.w": (hidden, hidden), "v.w": (hidden, hidden),
            "ao.w": (hidden, hidden), "fi.w": (ffn, hidden), "fo.w": (hidden, ffn),
        }.items():  # fmt: skip
            w[f"l{layer}.{name}"] = rng.normal(0, 0.2, shape)
            w[f"l{layer}.{name[:-2]}.b"] = rng.normal(0, 0.05, shape[0])
        for ln in ("aln", "oln"):
            w[f"l{layer}.{ln}.w"] = 1 + rng.normal(0, 0.05, hidden)
            w[f"l{layer}.{ln}.b"] = rng.normal(0, 0.05, hidden)
    return {k: v.astype(np.float32) for k, v in w.items()}


def write_e5_file(path: Path, weights: dict, *, heads: int = 4) -> None:
    hidden = weights["emb.ln.w"].size
    layers = sum(1 for k in weights if k.endswith(".q.w"))
    ffn = weights["l0.fi.w"].shape[0]
    vocab, positions = weights["emb.word"].shape[0], weights["emb.pos"].shape[0]
    header = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab, positions, 2, 1e-12, 32)
    blob = b"".join(p.encode() for p, _ in PIECES)
    offsets, acc = [0], 0
    for piece, _ in PIECES:
        acc += len(piece.encode())
        offsets.append(acc)
    tok = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    tok += struct.pack(f"<{len(offsets)}I", *offsets) + struct.pack(
        f"<{len(PIECES)}f", *[s for _, s in PIECES]
    )
    tok += blob
    norm = b""
    for cp, out in sorted(NORMALIZATION.items()):
        norm += struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
    tok += struct.pack("<iI", len(NORMALIZATION), len(norm)) + norm

    payloads = []
    for name, value in weights.items():
        is_q4 = name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w"))
        data = quantize_q4_0(value.ravel()) if is_q4 else value.astype("<f4").tobytes()
        payloads.append((name, 1 if is_q4 else 0, value.size, data))
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(header) + len(tok) + directory_size
    directory, body = struct.pack("<i", len(payloads)), b""
    for name, dtype, count, data in payloads:
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        body += data
        offset += len(data)
    path.write_bytes(header + tok + directory + body)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w + b


def reference_embedding(weights: dict, ids: list[int], *, heads: int = 4) -> np.ndarray:
    """The engine's forward pass in fp32 numpy: BERT, mean pooling, L2 normalisation."""
    fp32_matrices = {"emb.pos", "emb.type"}  # stored as f32; every other matrix is Q4_0
    w = {
        k: dequantized(v.ravel()).reshape(v.shape) if v.ndim == 2 and k not in fp32_matrices else v
        for k, v in weights.items()
    }
    x = w["emb.word"][ids] + w["emb.pos"][: len(ids)] + w["emb.type"][0]
    x = _layer_norm(x, w["emb.ln.w"], w["emb.ln.b"])
    hidden = x.shape[1]
    hd = hidden // heads
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    layer = 0
    while f"l{layer}.q.w" in w:
        p = f"l{layer}."
        q, k, v = (x @ w[p + n + ".w"].T + w[p + n + ".b"] for n in ("q", "k", "v"))
        ctx = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * hd, (h + 1) * hd)
            scores = q[:, s] @ k[:, s].T / math.sqrt(hd)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx[:, s] = probs @ v[:, s]
        x = _layer_norm(x + ctx @ w[p + "ao.w"].T + w[p + "ao.b"], w[p + "aln.w"], w[p + "aln.b"])
        mid = gelu(x @ w[p + "fi.w"].T + w[p + "fi.b"])
        x = _layer_norm(x + mid @ w[p + "fo.w"].T + w[p + "fo.b"], w[p + "oln.w"], w[p + "oln.b"])
        layer += 1
    pooled = x.mean(0)
    return (pooled / np.linalg.norm(pooled)).astype(np.float32)
