"""Test-wide setup: offline Hugging Face libraries, loopback-only sockets, tier markers.

Tiers: unmarked tests are unit tests (fakes, no torch import); `integration` tests use real
libraries with tiny models built in code; `slow` tests load the real prepared weights and run
only with `--run-slow` (the README's test command passes it after preparing the models).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before any test module imports transformers / sentence-transformers / huggingface_hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only use loopback sockets, not {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only use loopback sockets, not {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run tests marked slow (need `python -m assistant models prepare` first)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: needs prepared weights; run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _require_server(what: str, missing: bool) -> None:
    """In CI a missing server fails the run (`make services` installs it); on a developer's machine it skips."""
    if not missing:
        return
    message = f"{what} is not installed: `make services` installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A private PostgreSQL server on 127.0.0.1 for the session (Debian's postgresql, started here)."""
    from servers import postgres_bin, postgres_server

    _require_server("PostgreSQL", postgres_bin() is None)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def chroma_server_address() -> Iterator[tuple[str, int]]:
    """A private chroma server (`chroma run`) on 127.0.0.1 for the session."""
    from servers import chroma_command, chroma_server

    _require_server("the chroma command", chroma_command() is None)
    with chroma_server() as address:
        yield address


@pytest.fixture(autouse=True)
def _no_settings_file_left_behind() -> Iterator[None]:
    """A test that writes ./assistant.toml (`shop init` without --no-settings) would point every later test,
    and the next `make run`, at its temporary shop."""
    settings_file = Path.cwd() / "assistant.toml"
    existed = settings_file.is_file()
    before = settings_file.read_bytes() if existed else None
    yield
    after = settings_file.read_bytes() if settings_file.is_file() else None
    if after != before:
        if not existed:
            settings_file.unlink()
        pytest.fail(
            f"the test changed {settings_file}; run `shop init` with --no-settings or from a temporary folder"
        )
