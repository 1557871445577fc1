"""Shutdown: how long `python app.py` and `qa serve` take to exit after SIGTERM and after Ctrl-C (SIGINT).

    python benchmarks/shutdown.py [--runs 1] [--no-browser]

Each run starts a real server process over a copy of the seed documents (indexed beforehand) on a free loopback
port, connects a client that asks the seed question (none; a gradio_client; a Chromium page, through playwright
and Debian's /usr/bin/chromium, when there is one), sends the signal and times the exit. docker stop and systemd
kill a process still running 10 s after SIGTERM. Writes benchmarks/results/shutdown.json.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import RESULTS, write_report  # noqa: E402
from helpers import SEED_QUESTION, copy_seeds  # noqa: E402
from server_process import COMMANDS, ServerProcess, server_process  # noqa: E402

import qa  # noqa: E402

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def no_client(server: ServerProcess) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


@contextlib.contextmanager
def gradio_client(server: ServerProcess) -> Iterator[None]:
    from gradio_client import Client

    client = Client(server.url + "/", verbose=False)
    client.predict(SEED_QUESTION, api_name="/chat")
    yield  # still connected (its heartbeat stream open) when the signal is sent


@contextlib.contextmanager
def browser_page(server: ServerProcess) -> Iterator[None]:
    from playwright.sync_api import expect, sync_playwright

    from test_browser import CHROMIUM, CHROMIUM_FLAGS, WAIT_MS, ask

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = chromium.new_page()
            page.goto(server.url + "/")
            ask(page, SEED_QUESTION)
            expect(page.locator("#chat")).to_contain_text("Sources", timeout=WAIT_MS)
            yield
        finally:
            chromium.close()


def measure(command: str, client: Callable[[ServerProcess], Any], sig: signal.Signals, root: Path) -> dict[str, Any]:
    """One run: serve, connect the client, send ``sig``; the seconds to exit and the exit code."""
    with server_process(command, root) as server, client(server):
        seconds = server.stop(sig)
    return {"seconds": round(seconds, 2), "exit_code": server.process.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each case (the table shows the median)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page")
    args = parser.parse_args()
    from test_browser import CHROMIUM

    clients: dict[str, Callable[[ServerProcess], Any]] = {"none": no_client, "gradio_client": gradio_client}
    if CHROMIUM and not args.no_browser:
        clients["browser page"] = browser_page
    rows = []
    print(f"{'command':<10}{'client':<15}{'signal':<9}{'exit (s)':>9}  exit code")
    with tempfile.TemporaryDirectory(prefix="qa-shutdown-") as tmp:
        qa.build_index(copy_seeds(Path(tmp) / "docs"), Path(tmp) / "index")
        for command in COMMANDS:
            for name, client in clients.items():
                for sig in SIGNALS:
                    runs = [measure(command, client, sig, Path(tmp)) for _ in range(args.runs)]
                    rows.append({"command": command, "client": name, "signal": sig.name, "runs": runs,
                                 "median_seconds": statistics.median(r["seconds"] for r in runs),
                                 "exit_codes": sorted({r["exit_code"] for r in runs})})
                    print_row(rows[-1])
    write_report({"benchmark": "shutdown", "runs_per_case": args.runs, "bound_seconds": 10, "rows": rows},
                 RESULTS / "shutdown.json")


def print_row(row: dict[str, Any]) -> None:
    print(f"{row['command']:<10}{row['client']:<15}{row['signal']:<9}{row['median_seconds']:>9.1f}  "
          f"{','.join(map(str, row['exit_codes']))}", flush=True)


if __name__ == "__main__":
    main()
