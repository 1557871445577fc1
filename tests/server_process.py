"""A real server process, `python app.py` or `qa serve`, for the shutdown tests and benchmarks/shutdown.py: served
on a free loopback port over a private copy of the seeds, stopped by a signal, its exit timed."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from helpers import REPO_ROOT, copy_seeds, free_port, qa_command, subprocess_env

COMMANDS = ("app.py", "qa serve")
START_TIMEOUT_S = 300  # two shared cores: loading torch and the model can take a while


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT (no trailing slash)
    docs: Path
    index_dir: Path
    log: Path  # the process's stdout and stderr

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals, timeout_s: float = 120) -> float:
        """Send ``sig`` and wait for the process to exit; returns the seconds that took. A process still running
        after ``timeout_s`` is killed (its exit code then says so)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started


def command_line(command: str, docs: Path, index_dir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """How a user starts ``command`` ("app.py" or "qa serve") for these folders and port: arguments, environment."""
    env = subprocess_env()
    if command == "app.py":
        env |= {"QA_SOURCE_DIR": str(docs), "QA_INDEX_DIR": str(index_dir), "QA_PORT": str(port)}
        return [sys.executable, str(REPO_ROOT / "app.py")], env
    if command == "qa serve":
        return [qa_command(), "serve", str(docs), "--index", str(index_dir), "--port", str(port)], env
    raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")


@contextlib.contextmanager
def server_process(command: str, root: Path, **env: str) -> Iterator[ServerProcess]:
    """Start ``command`` over ``root``/docs (a copy of the seeds unless it exists) and ``root``/index, with the
    extra environment ``env`` (e.g. QA_SHUTDOWN_GRACE_S); yields once /api/health answers. Killed at the end if
    it is still running."""
    docs = root / "docs" if (root / "docs").is_dir() else copy_seeds(root / "docs")
    port = free_port()
    args, environ = command_line(command, docs, root / "index", port)
    log = root / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=root, env=environ | env, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", docs, root / "index", log)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited ({server.process.returncode}) before serving:\n{server.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT_S} s:\n{server.output()}")
