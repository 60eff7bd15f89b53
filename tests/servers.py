"""Private PostgreSQL and chroma servers on 127.0.0.1 for the tests and benchmarks.

Each starts in a folder of its own on a free port and stops with its context manager, so tests
never touch a server someone else runs. PostgreSQL comes from Debian's `postgresql` package
(`make services` installs it); the chroma server is the `chroma` command of the chromadb package.

Run one by hand for development: `python tests/servers.py postgres` or `python tests/servers.py chroma`
prints its address and serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them under /usr/lib/postgresql)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def chroma_command() -> Path | None:
    path = VENV_BIN / "chroma"
    return path if path.is_file() else (Path(found) if (found := shutil.which("chroma")) else None)


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: as root (CI containers), run them as `postgres`."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def postgres_server(folder: Path | None = None) -> Iterator[str]:
    """A fresh PostgreSQL cluster; yields an SQLAlchemy URL of an empty database `assistant`."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: run `make services` (Debian's postgresql package)")
    owned = folder is None
    folder = Path(tempfile.mkdtemp(prefix="assistant-pg-")) if folder is None else folder
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    log = folder / "server.log"
    try:
        subprocess.run(_as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                          "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                          "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                                          "start"]),
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "assistant"],
                       check=True, capture_output=True)  # fmt: skip
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/assistant"
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace")[-800:]
        if log.is_file():
            detail += log.read_text(errors="replace")[-800:]
        raise RuntimeError(f"PostgreSQL did not start: {detail}") from exc
    finally:
        if (data / "postmaster.pid").is_file():
            subprocess.run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True)  # fmt: skip
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Another empty database on the same server (one per test that needs its own); returns its URL."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def chroma_server(folder: Path | None = None) -> Iterator[tuple[str, int]]:
    """`chroma run` on a free port with its data in `folder`; yields (host, port) once it answers."""
    command = chroma_command()
    if command is None:
        raise RuntimeError("the `chroma` command is missing: install the project (`make install`)")
    owned = folder is None
    folder = Path(tempfile.mkdtemp(prefix="assistant-chroma-")) if folder is None else folder
    port = free_port()
    log = open(folder.parent / f"{folder.name}-chroma.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen([str(command), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                    break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = Path(log.name).read_text(errors="replace")[-800:]
                    raise RuntimeError(f"the chroma server did not start: {tail}") from exc
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("postgres", "chroma"):
        print("usage: python tests/servers.py postgres|chroma", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if kind == "postgres":
            print(f'database_url = "{stack.enter_context(postgres_server())}"', flush=True)
        else:
            host, port = stack.enter_context(chroma_server())
            print(f'chroma_host = "{host}"\nchroma_port = {port}', flush=True)
        print("serving; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
