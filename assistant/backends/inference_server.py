"""Starting `transformers serve` (an OpenAI-compatible inference server from `transformers[serving]`)
on a model folder: `python -m assistant models serve-generator`, the tests and the benchmark use it.

Any other engine (vLLM, SGLang, TGI, llama.cpp server, Ollama) works the same from the assistant's side;
the README has a recipe for each. This one is installed with the project, so it is the engine the tests
run against.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from assistant.errors import BackendError

logger = logging.getLogger(__name__)


def transformers_serve_command(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    continuous_batching: bool = False,
) -> list[str]:
    """The command line that serves `model` (a folder or hub id) at http://host:port/v1, preloaded, so
    the first turn does not wait for a load."""
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model,
               "--host", host, "--port", str(port), "--device", device, "--log-level", "warning"]  # fmt: skip
    if (
        continuous_batching
    ):  # paged attention: concurrent shoppers' drafts share each forward pass (CPU or GPU)
        command.append("--continuous-batching")
    return command


def start_transformers_serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    continuous_batching: bool = False,
    log: IO[str] | None = None,
    ready_timeout_s: float = 180.0,
) -> subprocess.Popen[str]:
    """Start the server and wait until it answers `/health` and lists its model; raises `BackendError`
    (with the end of its log when `log` is a file) when it exits or is not ready in time."""
    command = transformers_serve_command(model, host=host, port=port, device=device,
                                         continuous_batching=continuous_batching)  # fmt: skip
    process = subprocess.Popen(command, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_ready(f"http://{host}:{port}", process=process, timeout_s=ready_timeout_s)
    except BackendError:
        process.kill()
        process.wait()
        tail = ""
        if log is not None and getattr(log, "name", None) and Path(log.name).is_file():
            tail = Path(log.name).read_text(encoding="utf-8", errors="replace")[-2000:]
        raise BackendError(f"transformers serve did not start for {model}: {tail or 'no log'}") from None
    return process


def wait_until_ready(
    root: str, *, process: subprocess.Popen[str] | None = None, timeout_s: float = 180.0
) -> None:
    """Poll `root`/health, then `root`/v1/models, until both answer 200 (the model is loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BackendError(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=2) as health:
                if health.status == 200:
                    with urllib.request.urlopen(f"{root}/v1/models", timeout=5) as models:
                        if models.status == 200:
                            return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise BackendError(f"{root} was not ready after {timeout_s:g} s")


def stop(process: subprocess.Popen[str], *, timeout_s: float = 10.0) -> None:
    """Stop a server started here: politely, then for good."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
