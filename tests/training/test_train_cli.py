"""`train all`: the components in order, a failure reported and the active model kept, `--promote`
promoting only what beats the active run; every run folder gets a before/after report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import DataError
from assistant.training.registry import active_run, run_report, set_active, write_run


def fake_trainer(artifacts: Path, component: str, headline: str, value: float, base: float):
    def train(settings, args, run_id, feedback) -> Path:
        folder = artifacts / component / run_id
        write_run(folder, metrics={headline: value, f"base_{headline}": base}, settings_toml="",
                  manifest={"component": component, "feedback": len(feedback)})  # fmt: skip
        return folder

    return train


def test_train_all_keeps_going_after_a_failure_and_promotes_only_the_better(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.__main__ import main
    from assistant.training import cli

    artifacts = tmp_path / "artifacts"
    (artifacts / "generator" / "old").mkdir(parents=True)
    (artifacts / "generator" / "old" / "metrics.json").write_text(json.dumps({"dev_chrf": 70.0}))
    set_active(artifacts, "generator", "old")
    calls: list[str] = []

    def failing(settings, args, run_id, feedback) -> Path:
        calls.append("retriever")
        raise DataError("no pairs")

    trainers = {
        "intent": fake_trainer(artifacts, "intent", "dev_macro_f1", 0.9, 0.8),
        "retriever": failing,
        "reranker": fake_trainer(artifacts, "reranker", "dev_ndcg@10", 0.7, 0.6),
        "generator": fake_trainer(artifacts, "generator", "dev_chrf", 60.0, 30.0),  # worse than "old"
    }
    monkeypatch.setattr(cli, "TRAINERS", trainers)
    code = main(["--set", f"paths.artifacts_dir={artifacts}", "--set", f"store.database_url=sqlite:///{tmp_path}/a.db",
                 "train", "all", "--run-id", "r1", "--promote"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "training retriever failed: no pairs" in out and "failed: retriever" in out
    assert calls == ["retriever"] and active_run(artifacts, "retriever") is None
    assert active_run(artifacts, "intent") == "r1"
    assert active_run(artifacts, "reranker") == "r1"  # beat its starting point
    assert active_run(artifacts, "generator") == "old"  # 60 < 70: the active one stays
    assert "not promoted: dev_chrf 60.0000 does not beat the active old" in out


def test_run_report_compares_each_measured_metric() -> None:
    report = run_report("generator", "r1", {"dev_chrf": 64.0, "base_dev_chrf": 27.5, "train_pairs": 160})
    assert "| dev_chrf | 27.5 | 64.0 | +36.5000 |" in report and "- train_pairs: 160" in report


def test_train_intent_fits_the_thresholds_at_the_settings_shares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`assistant.out_of_scope_set_aside` and `in_scope_score_set_aside` reach the fit (as `eval intents`' do)."""
    from types import SimpleNamespace

    from assistant.__main__ import main
    from assistant.backends.embedding import HashingEmbedder

    monkeypatch.setattr("assistant.factory.build_embedder", lambda *a, **k: HashingEmbedder(128))
    monkeypatch.setattr(
        "assistant.model_preparation.resolve_model", lambda *a: SimpleNamespace(reference="hashing")
    )
    shop = Path(__file__).resolve().parents[2] / "dialogue_data"
    artifacts = tmp_path / "artifacts"
    common = ["--set", f"paths.artifacts_dir={artifacts}", "--set", f"paths.shop_dir={shop}",
              "--set", f"paths.data_dir={tmp_path / 'data'}", "--set", f"store.database_url=sqlite:///{tmp_path}/a.db"]  # fmt: skip
    for run, share in (("low", "0.01"), ("high", "0.2")):
        assert main([*common, "--set", f"assistant.out_of_scope_set_aside={share}", "--set",
                     f"assistant.in_scope_score_set_aside={share}", "train", "intent", "--run-id", run,
                     "--max-examples", "300"]) == 0  # fmt: skip
    low, high = (
        json.loads((artifacts / "intent" / run / "metrics.json").read_text()) for run in ("low", "high")
    )
    assert (low["set_aside_share"], high["score_set_aside_share"]) == (0.01, 0.2)
    assert low["threshold"] < high["threshold"] and low["score_threshold"] < high["score_threshold"]
