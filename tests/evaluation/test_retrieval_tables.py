"""`eval retrieval`'s tables: ours and BEIR's column names, and every malformed file a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import DataError
from assistant.evaluation.suites import _read_table


def test_beir_tables_read_as_ours(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "Returns", "text": "Free within 30 days."}) + "\n"
        + json.dumps({"_id": "d2", "title": "Shipping only"}) + "\n"  # BEIR corpus rows may lack text
    )  # fmt: skip
    assert _read_table(tmp_path / "corpus.jsonl", "corpus") == [
        {"id": "d1", "text": "Free within 30 days."},
        {"id": "d2", "text": "Shipping only"},
    ]
    (tmp_path / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t\n")
    assert _read_table(tmp_path / "test.tsv", "qrels") == [
        {"query_id": "q1", "doc_id": "d1", "relevance": "2.0"},
        {"query_id": "q2", "doc_id": "d2", "relevance": "1.0"},  # no grade: relevant
    ]


@pytest.mark.parametrize(
    ("name", "content", "kind", "said"),
    [
        ("q.jsonl", '{"id": "q1", "text": "a"}\nnot json\n', "queries", "line 2: not JSON"),
        ("q.jsonl", '{"id": "q1", "text": "a"}\n["q2", "b"]\n', "queries", "line 2: not a JSON object"),
        (
            "q.jsonl",
            '{"id": "q1", "question": "a"}\n',
            "queries",
            "line 1: no text (a column named text or query)",
        ),
        ("c.csv", "doc,text\nd1,hello\n", "corpus", "line 2: no id"),
        ("r.tsv", "query_id\tdoc_id\trelevance\nq1\td1\thigh\n", "qrels", "relevance 'high' is not a number"),
        ("r.tsv", "", "qrels", "has no rows"),
        ("c.csv", 'id,text\nd1,"open quote\nd2,fine\n', "corpus", "line 2: not valid CSV"),
    ],
)
def test_malformed_tables_name_the_file_and_line(
    tmp_path: Path, name: str, content: str, kind: str, said: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=said.replace("(", r"\(").replace(")", r"\)")):
        _read_table(tmp_path / name, kind)


def test_a_missing_or_binary_table_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _read_table(tmp_path / "absent.jsonl", "corpus")
    (tmp_path / "c.jsonl").write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(DataError, match="not UTF-8"):
        _read_table(tmp_path / "c.jsonl", "corpus")
