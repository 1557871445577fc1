"""Serving replicas: servers over one index folder follow each newly published generation without a restart."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port, gen_folders, make_corpus, qa_command, subprocess_env

import qa
from qa.library.live import IndexFollower, LiveAssistant

OWLS = ("Barn owls hunt at night by hearing alone. Their soft feathers make their flight almost silent. "
        "A barn owl swallows a vole whole and coughs up the bones later.\n")
BEES = ("Honey bees dance to tell the hive where the flowers are. The waggle dance points toward the sun. "
        "A queen bee lays up to two thousand eggs a day.\n")
OWL_QUESTION, BEE_QUESTION = "How do barn owls hunt at night?", "How do honey bees tell the hive where flowers are?"
QUESTIONS = ["What is China's position on Kosovo?", "What did the lighthouse keeper count?",
             "Where do emperor penguins breed?"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "docs")


def test_follower_swaps_in_a_generation_published_by_another_writer(corpus, tmp_path):
    live = LiveAssistant(qa.Assistant(qa.build_index(corpus, tmp_path / "ix")))
    follower = IndexFollower(live, tmp_path / "ix", qa.Settings())
    assert not follower.check()  # nothing new

    (corpus / "owls.txt").write_text(OWLS, encoding="utf-8")
    qa.update_index(corpus, tmp_path / "ix")

    assert follower.check()
    assert live.assistant.index.generation == gen_folders(tmp_path / "ix")[-1]
    assert live.assistant.ask(OWL_QUESTION).citations[0].doc_id == "owls.txt"
    assert not follower.check()


def test_follower_keeps_answering_when_the_new_generation_cannot_be_loaded(corpus, tmp_path, caplog):
    live = LiveAssistant(qa.Assistant(qa.build_index(corpus, tmp_path / "ix")))
    before = live.assistant
    qa.build_index(corpus, tmp_path / "ix", qa.Settings(chunk_size=300))  # other settings: refused on load
    follower = IndexFollower(live, tmp_path / "ix", qa.Settings())

    assert not follower.check() and not follower.check()

    assert live.assistant is before
    assert live.assistant.ask(QUESTIONS[1]).citations[0].doc_id == "lighthouse.md"
    assert sum("cannot be loaded" in r.getMessage() for r in caplog.records) == 1  # said once, not every check


def test_replaced_generations_are_kept_for_the_grace_period_then_removed(corpus, tmp_path):
    index_dir = tmp_path / "ix"
    kept = qa.Settings(generation_grace_s=3600)
    qa.build_index(corpus, index_dir, kept)
    first = gen_folders(index_dir)
    qa.build_index(corpus, index_dir, kept)
    assert len(gen_folders(index_dir)) == 2 and first[0] in gen_folders(index_dir)

    # The second generation replaced the first two hours ago: past the grace, the first goes.
    second = next(name for name in gen_folders(index_dir) if name != first[0])
    old = time.time() - 7200
    for age, name in enumerate((second, first[0])):  # the first stays the older: two builds can share a second
        os.utime(index_dir / name, (old - age, old - age))
    qa.build_index(corpus, index_dir, kept)

    assert first[0] not in gen_folders(index_dir) and second in gen_folders(index_dir)
    assert len(gen_folders(index_dir)) == 2


def test_a_zero_grace_removes_every_replaced_generation_at_once(corpus, tmp_path):
    qa.build_index(corpus, tmp_path / "ix", qa.Settings(generation_grace_s=3600))
    qa.build_index(corpus, tmp_path / "ix", qa.Settings(generation_grace_s=3600))
    qa.build_index(corpus, tmp_path / "ix")
    assert len(gen_folders(tmp_path / "ix")) == 1


# Real replicas under load

class Users:
    """Threads that each ask the replicas questions in a loop through gradio_client, counting failures."""

    def __init__(self, urls: list[str], per_replica: int = 1) -> None:
        self.stop, self.asked, self.failures = threading.Event(), 0, []
        self.threads = [threading.Thread(target=self._ask, args=(url, n), daemon=True)
                        for url in urls for n in range(per_replica)]

    def _ask(self, url: str, n: int) -> None:
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False)
        i = n
        while not self.stop.is_set():
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            try:
                messages = client.predict(question, api_name="/chat")
                if "⚠️" in messages[0]["content"] or "[1]" not in messages[0]["content"]:
                    self.failures.append((url, question, messages[0]["content"][:200]))
            except Exception as exc:  # any failed request counts
                self.failures.append((url, question, repr(exc)))
            self.asked += 1

    def __enter__(self) -> Users:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)


# Default settings: on one machine a replaced generation is deleted at once, and a server still answering
# from it keeps its files open (qa.index.index.load_index); replicas on other machines need generation_grace_s.
REPLICA_ENV = subprocess_env()


def start_replica(corpus: Path, index_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([qa_command(), "-v", "serve", str(corpus), "--index", str(index_dir), "--port", str(port)],
                            env=REPLICA_ENV, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    return proc, f"http://127.0.0.1:{port}/"


def wait_until(predicate, what: str, procs: list[subprocess.Popen], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        dead = [p.args for p in procs if p.poll() is not None]
        assert not dead, f"a replica ended before {what}: {dead}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def cites(url: str, question: str, doc: str) -> bool:
    from gradio_client import Client

    try:
        messages = Client(url, verbose=False, download_files=False).predict(question, api_name="/chat")
    except Exception:  # not up yet
        return False
    return len(messages) == 2 and f"{doc}`" in messages[1]["content"]  # the source is shown as `path`


@pytest.mark.slow
def test_two_replicas_under_load_follow_an_update_and_an_upload_without_a_failed_request(corpus, tmp_path):
    from gradio_client import Client, handle_file

    index_dir = tmp_path / "ix"
    qa.build_index(corpus, index_dir)
    replicas = [start_replica(corpus, index_dir, tmp_path / f"replica{i}.log") for i in range(2)]
    procs, urls = [p for p, _ in replicas], [u for _, u in replicas]
    try:
        wait_until(lambda: all(cites(u, QUESTIONS[1], "lighthouse.md") for u in urls), "both replicas answer", procs)
        with Users(urls) as users:
            (corpus / "owls.txt").write_text(OWLS, encoding="utf-8")
            update = subprocess.run([qa_command(), "index", "update", str(corpus), "--index", str(index_dir)],
                                    env=REPLICA_ENV, capture_output=True, text=True, timeout=600)
            assert update.returncode == 0, update.stderr[-2000:]
            wait_until(lambda: all(cites(u, OWL_QUESTION, "owls.txt") for u in urls), "the update reached both",
                       procs, timeout=120)

            bees = tmp_path / "incoming" / "bees.txt"
            bees.parent.mkdir()
            bees.write_text(BEES, encoding="utf-8")
            Client(urls[0], verbose=False, download_files=False).predict([handle_file(str(bees))],
                                                                           api_name="/upload")
            wait_until(lambda: cites(urls[1], BEE_QUESTION, "bees.txt"), "the upload reached the other replica",
                       procs, timeout=120)
            time.sleep(2)  # a few more questions on the new generation
        assert users.asked > 0 and users.failures == []
        assert all(cites(u, QUESTIONS[1], "lighthouse.md") for u in urls)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
