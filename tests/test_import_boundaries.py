"""Only assistant/backends/ may import the heavy ML libraries; the rest starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
HEAVY = {"torch", "transformers", "sentence_transformers", "chromadb", "langdetect", "openai"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_heavy_libraries_only_in_backends() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imported_roots(path) & HEAVY)
        for path in PACKAGE.rglob("*.py")
        if "backends" not in path.relative_to(PACKAGE).parts
    }
    offenders = {name: libs for name, libs in offenders.items() if libs}
    assert offenders == {}


def test_the_scan_sees_imports() -> None:
    # Guards the test above against a scanner that finds nothing.
    assert {"torch", "transformers"} <= _imported_roots(PACKAGE / "backends" / "text_generation.py")
    assert "numpy" in _imported_roots(PACKAGE / "backends" / "embedding.py")


def test_cli_and_settings_start_without_torch() -> None:
    code = (
        "import sys\n"
        "from assistant.__main__ import build_parser\n"
        "from assistant.settings import load_settings\n"
        "import assistant.factory, assistant.model_preparation, assistant.backends.embedding\n"
        "import assistant.backends.text_generation, assistant.pipeline, assistant.cli_chat\n"
        "build_parser(); load_settings(environ={})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(HEAVY)!r})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
