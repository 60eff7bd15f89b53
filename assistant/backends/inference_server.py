"""Starting `transformers serve` (an OpenAI-compatible inference server from `transformers[serving]`)
on a model folder: `python -m assistant models serve-generator`, the tests and the benchmark use it.

Any other engine (vLLM, SGLang, TGI, llama.cpp server, Ollama) works the same from the assistant's side;
the README has a recipe for each. This one is installed with the project, so it is the engine the tests
run against.
"""

from __future__ import annotations

import json
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


CPU_KV_CACHE_TOKENS = 32_768  # 16 shoppers x 2,048 tokens; SmolLM2-135M in fp32: about 1.5 GB
PAGE_TOKENS = 256  # transformers' continuous-batching page size


def transformers_serve_command(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    continuous_batching: bool = False,
    kv_cache_tokens: int | None = None,
) -> list[str]:
    """The command line that serves `model` (a folder or hub id) at http://host:port/v1, preloaded, so
    the first turn does not wait for a load.

    With continuous batching (paged attention: concurrent shoppers' drafts share each forward pass) the
    engine reserves its KV cache up front, by default 60 % of the RAM on a CPU (90 % of a GPU's memory).
    On a CPU that starves everything else on the machine, so there it is sized to `kv_cache_tokens`
    (default `CPU_KV_CACHE_TOKENS`); on a GPU the engine's own sizing stays unless that is given."""
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model,
               "--host", host, "--port", str(port), "--device", device, "--log-level", "warning"]  # fmt: skip
    if continuous_batching:
        command.append("--continuous-batching")
        if kv_cache_tokens is None and device == "cpu":
            kv_cache_tokens = CPU_KV_CACHE_TOKENS
        if kv_cache_tokens is not None:
            command += ["--cb-num-blocks", str(max(1, -(-kv_cache_tokens // PAGE_TOKENS)))]
    return command


def start_transformers_serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    continuous_batching: bool = False,
    kv_cache_tokens: int | None = None,
    log: IO[str] | None = None,
    ready_timeout_s: float = 180.0,
) -> subprocess.Popen[str]:
    """Start the server and wait until it has answered a first one-token chat request (so the first
    shopper does not pay for the engine's warm-up); raises `BackendError` (with the end of its log when
    `log` is a file) when it exits or is not ready in time."""
    command = transformers_serve_command(model, host=host, port=port, device=device, continuous_batching=continuous_batching,
                                         kv_cache_tokens=kv_cache_tokens)  # fmt: skip
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
    """Poll `root`/health and `root`/v1/models until both answer, then send one chat request of one token
    to the model listed (loads, allocates caches, warms kernels)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BackendError(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=2) as health:
                if health.status == 200:
                    with urllib.request.urlopen(f"{root}/v1/models", timeout=5) as models:
                        listed = json.loads(models.read())["data"]
                    body = json.dumps({"model": listed[0]["id"], "max_tokens": 1,
                                       "messages": [{"role": "user", "content": "Hello"}]}).encode()  # fmt: skip
                    warm = urllib.request.Request(f"{root}/v1/chat/completions", data=body,
                                                  headers={"content-type": "application/json"})  # fmt: skip
                    with urllib.request.urlopen(warm, timeout=max(deadline - time.monotonic(), 1.0)) as reply:
                        if reply.status == 200:
                            return
        except (urllib.error.URLError, OSError, KeyError, IndexError, ValueError):
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
