"""`python -m assistant train all --quick` on the real prepared models and the demo shop, on a small
subset (`--max-examples`): every component writes a run with its starting point and its result,
agent feedback in the store is read, `--promote` promotes only what beats the active model, and
the shop's own artifacts are not touched."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HEADLINES = {
    "intent": "dev_macro_f1",
    "retriever": "dev_ndcg@10",
    "reranker": "dev_ndcg@10",
    "generator": "dev_chrf",
}


def test_train_all_quick_on_a_small_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.__main__ import main
    from assistant.training.registry import active_run

    os.chdir(ROOT)
    shop_artifacts = {p: p.stat().st_mtime for p in (ROOT / "artifacts").glob("*/ACTIVE")}
    # A data folder of its own (the prepared models linked, the index copied): a promoted retriever
    # re-embeds this index, not the shop's.
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(ROOT / "data" / "models")
    shutil.copytree(ROOT / "data" / "index", data / "index")
    artifacts = tmp_path / "artifacts"
    # short drafts: this run checks the plumbing, not the quality
    overrides = ["--set", f"paths.artifacts_dir={artifacts}", "--set", f"paths.data_dir={data}",
                 "--set", f"store.database_url=sqlite:///{tmp_path}/a.db",
                 "--set", "generation.max_new_tokens=32"]  # fmt: skip
    code = main(
        [*overrides, "train", "all", "--quick", "--max-examples", "8", "--run-id", "smoke", "--promote"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "agent feedback: 0 conversations" in out
    for component, headline in HEADLINES.items():
        folder = artifacts / component / "smoke"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert isinstance(metrics[headline], float), component
        assert "| metric | starting point | this run |" in (folder / "report.md").read_text()
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["data"] and (folder / "settings.toml").is_file()
        if component == "intent":
            assert active_run(artifacts, component) == "smoke"  # the first intent model is needed at once
        else:  # promoted exactly when it beat its starting point (8 examples rarely do)
            beat = metrics[headline] > metrics[f"base_{headline}"]
            if component == "generator":
                beat = beat and metrics["dev_groundedness"] >= metrics["base_dev_groundedness"]
            assert (active_run(artifacts, component) == "smoke") == beat, component
    assert (artifacts / "generator" / "smoke" / "model" / "config.json").is_file()
    assert {p: p.stat().st_mtime for p in (ROOT / "artifacts").glob("*/ACTIVE")} == shop_artifacts
