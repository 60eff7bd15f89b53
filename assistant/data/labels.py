"""Intent labels a shop brings: reading a label map, and which labels the engine does not act on.

A shop's logs (or a public data set) name intents their own way ("track_order", "where is my parcel"). The
assistant's decision table acts on the engine's intents (`assistant.stages.policy.ENGINE_INTENTS`); a label
outside them trains an intent the policy does not know, so every message given it is answered from the
shop's knowledge as a fallback (no order lookup, no verification, no hand-off). A label map renames them
at import (`data import --label-map`) and for evals (`eval intents --label-map`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.errors import DataError, csv_error
from assistant.stages.policy import ENGINE_INTENTS

DEFAULTS = Path(__file__).resolve().parent.parent / "defaults"


def read_text_file(path: Path, *, what: str = "", hint: str = "") -> str:
    """The UTF-8 text of a file a person gives (a label map, a label sheet, labelled examples; a byte-order
    mark is dropped), or a `DataError` naming `what` it is, the path and what went wrong (`hint`: how to fix a
    wrong encoding)."""
    name = f"{what} {path}" if what else str(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{name} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{name} is a folder; give a file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not UTF-8 text (byte {exc.start}){hint}") from exc


def strict_csv_rows(text: str, name: str, **fmt: Any) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and the rows (each with the line it ends on) of CSV text a person gave (`fmt`: the csv
    module's dialect or delimiter), read strictly: a quote left open or a stray one stops the read with a
    `DataError` naming the line (`errors.csv_error`), where the csv module's lenient default swallows the
    rows after it into one field or shifts the columns, silently. The whole file is read before it returns,
    so nothing is written from half a file."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True, **fmt)
    try:
        fields = list(reader.fieldnames or [])
        return fields, [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise csv_error(name, reader.line_num, exc) from None


def read_label_map(path: Path | None) -> dict[str, str]:
    """A label map from JSON ({"raw": "label"}) or a two-column CSV (raw,label; a header row "raw,label" is
    skipped). A label mapped to "" is dropped where the map is applied."""
    if path is None:
        return {}
    raw = read_text_file(path, what="label map")
    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"label map {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise DataError(f'label map {path}: expected a JSON object of raw label -> label, e.g. {{"track_order": '
                            '"order_status"}')  # fmt: skip
        return {str(k).strip(): v.strip() for k, v in data.items()}
    reader, rows, read = csv.reader(io.StringIO(raw), strict=True), [], 0
    try:
        for row in reader:
            read = reader.line_num  # (a plain reader's count runs on into a row that fails)
            if any(cell.strip() for cell in row):
                rows.append(row)
    except csv.Error as exc:
        raise csv_error(f"label map {path}", read, exc) from None
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["raw", "label"]:
        rows = rows[1:]
    short = [number for number, row in enumerate(rows, 1) if len(row) < 2]
    if short:
        raise DataError(f"label map {path}: row {short[0]} has one cell; each row is raw_label,label")
    return {row[0].strip(): row[1].strip() for row in rows}


def packaged_label_map(fmt: str) -> dict[str, str]:
    """The engine's label map for a public export format whose intent names are fixed, or {} when it has none:
    Bitext's 27 intents (the 23 with a counterpart among the engine's; change_order, place_order,
    check_cancellation_fee and review have none) and ABCD's 55 subflows with the 48 numbered FAQ questions its
    conversations name (`timing_4`: the Timing FAQ's fourth question) (90 of 103; changes to an order's items,
    quantity or delivery speed, the site's troubleshooting flows and three pricing and timing questions have
    none).
    Labels a map leaves out stay as they are, and the import names them."""
    path = DEFAULTS / f"label_map_{fmt.replace('-', '_')}.json"
    return read_label_map(path) if path.is_file() else {}


def outside_engine(counts: Mapping[str, int]) -> dict[str, int]:
    """label -> count (from `counts`, label -> count) of the labels the engine's decision table does not act
    on, most frequent first."""
    outside = {label: n for label, n in counts.items() if label and label not in ENGINE_INTENTS}
    return dict(sorted(outside.items(), key=lambda item: (-item[1], item[0])))


def describe_outside(outside: Mapping[str, int], *, shown: int = 8) -> str:
    """One line for a person: the labels outside the engine's intents, their counts, and what to do."""
    listed = ", ".join(f"{label} ({n})" for label, n in list(outside.items())[:shown])
    more = f" and {len(outside) - shown} more" if len(outside) > shown else ""
    count = "1 intent label is" if len(outside) == 1 else f"{len(outside)} intent labels are"
    return (f"{count} not among the engine's intents, so the assistant answers messages "
            f"given them from the shop's knowledge only (no order lookup, verification or hand-off): {listed}{more}. "
            "Map them onto the engine's intents with `python -m assistant data import --label-map FILE` "
            f"(engine intents: {', '.join(sorted(ENGINE_INTENTS))})")  # fmt: skip
