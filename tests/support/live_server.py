"""The product as a README reader runs it: ``qaf demo`` then ``qaf serve``.

Load with ``pytest_plugins = ["support.live_server"]`` in ``tests/conftest.py``.

=============  ========  =========================================================
fixture        scope     value
=============  ========  =========================================================
live_server    session   :class:`LiveServer` (``.url``, ``.data_dir``): a real
                         ``qaf serve`` process on 127.0.0.1 over a fresh SQLite
                         file in a temporary ``QAF_DATA_DIR`` holding the Haringey
                         demo organisation (``qaf demo``), background sweep off
=============  ========  =========================================================

The subprocesses run the ``qaf`` console script installed next to
``sys.executable``, so the test proves the packaged entry point, migrations and
the demo loader end to end, not an app object built in-process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.calendar import utcnow

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = field(default=None, repr=False)

    @property
    def database(self) -> Path:
        """The SQLite file the server uses (``$QAF_DATA_DIR/qaf.sqlite3``)."""
        return self.data_dir / "qaf.sqlite3"

    def log(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def qaf_executable() -> Path:
    script = Path(sys.executable).with_name("qaf")
    if not script.exists():
        raise RuntimeError(f"the qaf console script is not installed at {script}: run `uv sync` first")
    return script


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    # The server and its commands run at the suite's clock, not today's date.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAF_")}
    env.update(
        QAF_CLOCK=utcnow().isoformat(),
        QAF_DATA_DIR=str(data_dir),
        QAF_COUNCILS="haringey",
        QAF_SWEEP_SECONDS="0",
        # The browser journeys sign the QA team in by password alone
        # (tests/test_second_factor.py proves the second factor).
        QAF_SECOND_FACTOR="off",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200 and b'"ok"' in response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_live_server(data_dir: Path, *, demo: bool = True, **settings: str) -> LiveServer:
    """Run ``qaf demo`` (optionally), then start ``qaf serve``; return once healthy.
    ``settings`` are QAF_* variables beside the suite's (``QAF_COUNCILS="bedford"``)."""
    env = server_env(data_dir, **settings)
    if demo:
        result = subprocess.run(
            [str(qaf_executable()), "demo"], env=env, capture_output=True, text=True, timeout=180, cwd=data_dir
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`qaf demo` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
    return serve(data_dir, env)


def serve(data_dir: Path, env: dict[str, str], *, quiet: bool = True, args: tuple[str, ...] = ()) -> LiveServer:
    """Start ``qaf serve`` on a free port with ``env``; return once it answers /healthz.
    ``quiet=False`` keeps the line per request in the log; ``args`` are more options."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [str(qaf_executable()), "serve", "--host", "127.0.0.1", "--port", str(port), *(["--quiet"] if quiet else []), *args],
        env=env,
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()  # the child holds its own descriptor
    server = LiveServer(url=url, data_dir=data_dir, process=process, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`qaf serve` exited with {process.returncode} before answering:\n{server.log()}")
        if _healthy(url):
            return server
        time.sleep(0.1)
    stop_live_server(server)
    raise RuntimeError(f"`qaf serve` did not answer {url}/healthz within {START_TIMEOUT:.0f}s:\n{server.log()}")


def stop_live_server(server: LiveServer) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """``qaf demo`` + ``qaf serve`` in a temporary data directory, for the session."""
    with tempfile.TemporaryDirectory(prefix="qaf-live-") as tmp:
        server = start_live_server(Path(tmp))
        try:
            yield server
        finally:
            stop_live_server(server)
