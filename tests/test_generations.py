"""A loaded index keeps answering from its own generation while updates publish new ones."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from helpers import PENGUINS, SEED_QUESTION, copy_seeds, gen_folders, hit_keys, launched

import qa
from qa.library.manager import DocumentLibrary

T = TypeVar("T")
FERRY = "The ferry to the island leaves the harbour every 40 minutes in summer.\n"


@pytest.fixture
def docs(tmp_path) -> Path:
    return copy_seeds(tmp_path / "docs")


@pytest.fixture
def index_dir(docs, tmp_path) -> Path:
    qa.build_index(docs, tmp_path / "index")
    return tmp_path / "index"


def test_a_loaded_index_still_searches_after_an_update_removes_its_generation(docs, index_dir):
    old = qa.load_index(index_dir)
    before = old.search("Kosovo dialogue")
    old_generation = gen_folders(index_dir)
    (docs / "new.txt").write_text(FERRY, encoding="utf-8")

    qa.update_index(docs, index_dir)

    assert gen_folders(index_dir) != old_generation  # the folder it was loaded from is gone
    assert hit_keys(old.search("Kosovo dialogue")) == hit_keys(before)
    assert qa.Assistant(old).ask(SEED_QUESTION).quotes
    new = qa.load_index(index_dir)
    assert "new.txt" in new.documents and "new.txt" not in old.documents
    assert new.search("How often does the ferry leave?")[0].doc_id == "new.txt"


def repeat_while_updating(action: Callable[[], T], docs: Path, index_dir: Path, updates: int = 4
                          ) -> tuple[list[T], list[BaseException]]:
    """Run ``action`` in a loop on another thread while ``updates`` documents are added and published here;
    its results and every exception it raised."""
    def add_and_publish(i: int) -> None:
        (docs / f"note{i}.txt").write_text(f"Note {i}. {PENGUINS}", encoding="utf-8")
        qa.update_index(docs, index_dir)

    return repeat_while(action, add_and_publish, updates)


def repeat_while(action: Callable[[], T], step: Callable[[int], None], steps: int
                 ) -> tuple[list[T], list[BaseException]]:
    """Run ``action`` in a loop on another thread while ``step(0)``...``step(steps - 1)`` run here."""
    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                results.append(action())
            except BaseException as exc:  # noqa: BLE001 - any failure fails the calling test
                errors.append(exc)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        for i in range(steps):
            step(i)
    finally:
        done.set()
        worker.join()
    return results, errors


@pytest.mark.slow
def test_questions_in_a_loop_never_fail_while_updates_publish(docs, index_dir):
    assistant = qa.Assistant(qa.load_index(index_dir))

    answered, errors = repeat_while_updating(lambda: assistant.ask(SEED_QUESTION), docs, index_dir)

    assert not errors, errors[:3]
    assert answered and all(a.quotes for a in answered)
    assert len(qa.load_index(index_dir).documents) == 5


@pytest.mark.slow
def test_loading_while_updates_publish_never_reports_a_damaged_index(docs, index_dir):
    loaded, errors = repeat_while_updating(lambda: len(qa.load_index(index_dir).documents), docs, index_dir)

    assert not errors, errors[:3]
    assert loaded and loaded == sorted(loaded)  # each load saw a whole generation, never an older one after


@pytest.mark.slow
def test_the_web_chat_answers_while_uploads_and_outside_updates_publish(docs, index_dir, tmp_path):
    """Uploads through the page swap the chat's index; an outside writer (a cron `qa index update`) does not,
    so the chat must keep answering from the generation it loaded."""
    from gradio_client import Client, handle_file

    from qa.serve.webapp import create_demo

    replies: list[list[dict]] = []
    with launched(create_demo(qa.Assistant(qa.load_index(index_dir)), docs)) as url:
        uploader = Client(url, verbose=False, download_files=False)

        def outside_update_then_upload(i: int) -> None:
            (docs / f"outside{i}.txt").write_text(f"Outside {i}. {FERRY}", encoding="utf-8")
            qa.update_index(docs, index_dir)
            replies.append(uploader.predict(SEED_QUESTION, api_name="/chat"))
            note = tmp_path / "incoming" / f"note{i}.txt"
            note.parent.mkdir(exist_ok=True)
            note.write_text(f"Note {i}. {PENGUINS}", encoding="utf-8")
            uploader.predict([handle_file(str(note))], api_name="/upload")

        asker = Client(url, verbose=False, download_files=False)
        answered, errors = repeat_while(lambda: asker.predict(SEED_QUESTION, api_name="/chat"),
                                        outside_update_then_upload, 2)
    replies += answered

    assert not errors, errors[:3]

    failed = [r[0]["content"] for r in replies if r[0]["content"].startswith("⚠️")]
    assert not failed, failed[:3]
    assert len(replies) > 2 and all("[1]" in r[0]["content"] for r in replies)


def test_a_library_keeps_answering_from_the_old_index_it_handed_out(docs, index_dir, tmp_path):
    library = DocumentLibrary(qa.Assistant(qa.load_index(index_dir)), docs)
    old_assistant = library.assistant
    note = tmp_path / "incoming" / "penguins.txt"
    note.parent.mkdir()
    note.write_text(PENGUINS, encoding="utf-8")

    library.add_files([note])

    assert library.assistant is not old_assistant
    assert old_assistant.ask(SEED_QUESTION).quotes  # a question that started before the swap still finishes
