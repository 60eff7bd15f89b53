"""Run registry: promotion only when the dev headline metric improves, force, list, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.errors import ConfigError, DataError
from assistant.training.registry import active_run, list_runs, promote, rollback, set_active


def make_run(artifacts: Path, run_id: str, macro_f1: float | None, component: str = "intent") -> None:
    folder = artifacts / component / run_id
    folder.mkdir(parents=True)
    if macro_f1 is not None:
        (folder / "metrics.json").write_text(json.dumps({"dev_macro_f1": macro_f1, "dev_accuracy": 0.5}))


def test_promotion_needs_a_better_dev_metric(tmp_path: Path) -> None:
    make_run(tmp_path, "a", 0.80)
    set_active(tmp_path, "intent", "a")
    make_run(tmp_path, "worse", 0.79)
    make_run(tmp_path, "same", 0.80)
    make_run(tmp_path, "better", 0.85)
    make_run(tmp_path, "unfinished", None)
    for run_id in ("worse", "same", "unfinished"):
        result = promote(tmp_path, "intent", run_id)
        assert not result.is_promoted and active_run(tmp_path, "intent") == "a"
    assert "does not beat" in promote(tmp_path, "intent", "worse").reason
    result = promote(tmp_path, "intent", "better")
    assert result.is_promoted and result.previous == "a" and active_run(tmp_path, "intent") == "better"
    assert promote(tmp_path, "intent", "worse", force=True).is_promoted
    with pytest.raises(DataError, match="no run"):
        promote(tmp_path, "intent", "nope")
    with pytest.raises(ConfigError, match="choose one of"):
        promote(tmp_path, "tokenizer", "a")


def test_list_and_rollback(tmp_path: Path) -> None:
    for run_id, value in (("r1", 0.7), ("r2", 0.8), ("r3", 0.9)):
        make_run(tmp_path, run_id, value)
    set_active(tmp_path, "intent", "r1")
    promote(tmp_path, "intent", "r2")
    promote(tmp_path, "intent", "r3")
    runs = list_runs(tmp_path, "intent")
    assert [r.run_id for r in runs] == ["r1", "r2", "r3"] and [r.is_active for r in runs] == [
        False,
        False,
        True,
    ]
    assert runs[0].headline == 0.7
    assert rollback(tmp_path, "intent") == "r2"
    assert rollback(tmp_path, "intent") == "r1"
    with pytest.raises(DataError, match="nothing to roll back"):
        rollback(tmp_path, "intent")
    assert active_run(tmp_path, "intent") == "r1"


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(tmp_path, "a", 0.8)
    make_run(tmp_path, "b", 0.7)
    set_active(tmp_path, "intent", "a")
    common = ["--set", f"paths.artifacts_dir={tmp_path}"]
    assert main([*common, "promote", "intent", "b"]) == 1
    assert "not promoted" in capsys.readouterr().out
    assert main([*common, "promote", "intent", "b", "--force"]) == 0
    assert main([*common, "list", "intent"]) == 0
    assert "* b" in capsys.readouterr().out
    assert main([*common, "rollback", "intent"]) == 0
    assert active_run(tmp_path, "intent") == "a"


def test_rollback_reaches_a_pointer_older_than_the_history(tmp_path: Path) -> None:
    make_run(tmp_path, "legacy", 0.7)
    make_run(tmp_path, "new", 0.9)
    (tmp_path / "intent" / "ACTIVE").write_text("legacy\n")  # written before HISTORY existed
    assert promote(tmp_path, "intent", "new").is_promoted
    assert rollback(tmp_path, "intent") == "legacy"
