"""The `transformers serve` launcher's command line (the server itself: tests/slow/test_endpoint_real.py)."""

from __future__ import annotations

import sys

import pytest

from assistant.backends.inference_server import transformers_serve_command, wait_until_ready
from assistant.errors import BackendError


def test_the_command_serves_the_folder_on_loopback() -> None:
    command = transformers_serve_command("data/models/generator", port=8123, device="cpu")
    assert command[:5] == [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        "data/models/generator",
    ]
    assert (
        command[command.index("--host") + 1] == "127.0.0.1" and command[command.index("--port") + 1] == "8123"
    )
    assert "--continuous-batching" not in command and "--cb-num-blocks" not in command


def test_continuous_batching_on_a_cpu_gets_a_bounded_cache() -> None:
    # Left to itself the engine reserves 60 % of the machine's RAM for the cache on a CPU.
    cpu = transformers_serve_command("m", device="cpu", continuous_batching=True)
    assert "--continuous-batching" in cpu and cpu[cpu.index("--cb-num-blocks") + 1] == "128"  # 32,768 tokens
    sized = transformers_serve_command("m", device="cpu", continuous_batching=True, kv_cache_tokens=1000)
    assert sized[sized.index("--cb-num-blocks") + 1] == "4"
    gpu = transformers_serve_command("m", device="cuda", continuous_batching=True)
    assert "--cb-num-blocks" not in gpu  # the engine sizes it from free GPU memory


def test_waiting_for_a_server_that_never_comes_is_bounded() -> None:
    with pytest.raises(BackendError, match="not ready after 1 s"):
        wait_until_ready("http://127.0.0.1:9", timeout_s=1.0)
