"""The E5S1 reader and converter, on small files written by the tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from e5_fixture import PIECES, dequantized, make_weights, reference_embedding, write_e5_file

from assistant.backends.e5_conversion import (
    bert_config,
    dequantize_q4_0,
    read_e5_file,
    to_bert_state_dict,
)
from assistant.errors import ModelPreparationError


def test_dequantize_q4_0_by_hand() -> None:
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    qs = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    raw = np.float16(0.5).tobytes() + qs
    values = dequantize_q4_0(raw, 32)
    expected_low = [(j - 8) * 0.5 for j in range(16)]
    expected_high = [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected_low + expected_high


def test_dequantize_rejects_partial_blocks() -> None:
    with pytest.raises(ModelPreparationError, match="multiple of 32"):
        dequantize_q4_0(b"\x00" * 18, 20)


def test_read_tiny_file(tmp_path: Path) -> None:
    weights = make_weights()
    path = tmp_path / "tiny.bin"
    write_e5_file(path, weights)
    e5 = read_e5_file(path)
    assert e5.header.hidden_size == 64 and e5.header.num_layers == 2 and e5.header.num_heads == 4
    assert e5.pieces == tuple(p for p, _ in PIECES)
    assert (e5.bos_id, e5.eos_id, e5.pad_id, e5.unk_id) == (0, 2, 1, 3)
    assert e5.normalization[0x01] == ""
    np.testing.assert_array_equal(e5.tensors["emb.pos"], weights["emb.pos"].ravel())
    np.testing.assert_allclose(
        e5.tensors["l1.fi.w"], dequantized(weights["l1.fi.w"].ravel()), rtol=0, atol=1e-6
    )
    state = to_bert_state_dict(e5)
    assert state["encoder.layer.1.intermediate.dense.weight"].shape == (128, 64)
    assert state["encoder.layer.0.attention.output.LayerNorm.weight"].shape == (64,)
    assert state["embeddings.word_embeddings.weight"].shape == (len(PIECES) + 3, 64)
    assert bert_config(e5)["vocab_size"] == len(PIECES) + 3


def test_bad_magic_and_truncation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelPreparationError, match="bad magic"):
        read_e5_file(bad)
    good = tmp_path / "good.bin"
    write_e5_file(good, make_weights())
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelPreparationError, match="truncated"):
        read_e5_file(cut)


def test_unknown_dtype_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bin"
    write_e5_file(path, make_weights())
    data = bytearray(path.read_bytes())
    marker = data.index(b"emb.pos")
    data[marker + len("emb.pos")] = 7  # the dtype byte after the name
    path.write_bytes(bytes(data))
    with pytest.raises(ModelPreparationError, match="unknown dtype 7"):
        read_e5_file(path)


@pytest.mark.integration
def test_converted_folder_matches_the_engine_algorithm(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from assistant.backends.e5_conversion import convert_e5_to_sentence_transformer

    weights = make_weights()
    source = tmp_path / "tiny.bin"
    write_e5_file(source, weights)
    convert_e5_to_sentence_transformer(source, tmp_path / "st")
    model = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    tokenizer = model.tokenizer
    ids = {p: i for i, (p, _) in enumerate(PIECES)}

    # Tokenisation: prefix, normalisation map (control char dropped, tab -> space, fullwidth),
    # collapsed spaces, metaspace, Unigram Viterbi.
    encoded = tokenizer("query: \x01ｈｅｌｌｏ\t  world shoes")["input_ids"]
    expected = ["<s>", "▁query", ":", "▁hello", "▁world", "▁shoe", "s", "</s>"]
    assert encoded == [ids[p] for p in expected]
    assert tokenizer("return 退货 30天")["input_ids"][1:-1] == [
        ids["▁return"], ids["▁"], ids["退"], ids["货"], ids["▁30"], ids["天"]
    ]  # fmt: skip
    # U+FF5E is absent from the engine's map, so it stays fullwidth (NFKC alone would fold it).
    assert tokenizer("～")["input_ids"][1:-1] == [ids["▁"], ids["～"]]

    vector = model.encode(["hello world shoes"], prompt_name="query")[0]
    reference = reference_embedding(
        weights, [ids[p] for p in ["<s>", "▁query", ":", "▁hello", "▁world", "▁shoe", "s", "</s>"]]
    )
    assert float(vector @ reference) > 0.9999
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "


def test_struct_layout_sanity() -> None:
    # The header is 4 magic bytes + 32 + 8: the reader and the fixture writer agree on it.
    assert struct.calcsize("<I7ifi") == 40
