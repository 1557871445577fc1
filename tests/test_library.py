"""The document library: listing what is indexed and removing documents, on real files and a real index."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from helpers import PENGUINS, SEED_DATE, SEED_ID, SEED_QUESTION, SEED_TITLE, make_corpus, subprocess_env

import qa
from qa.errors import QAError
from qa.ingest.documents import list_files
from qa.library.manager import INDEXED, MISSING, NOT_INDEXED, TRASH, UNREADABLE, DocumentLibrary

PENGUIN_QUESTION = "Where do emperor penguins breed?"


@pytest.fixture
def docs(tmp_path) -> Path:
    return make_corpus(tmp_path / "docs")  # the seed article, penguins.txt, lighthouse.md


@pytest.fixture
def library(docs, tmp_path) -> DocumentLibrary:
    return DocumentLibrary(qa.Assistant(qa.build_index(docs, tmp_path / "index")), docs)


def by_name(library: DocumentLibrary) -> dict[str, qa.library.manager.DocumentInfo]:
    return {info.name: info for info in library.list_documents()}


# --- listing -------------------------------------------------------------------------------------------------

def test_list_shows_each_indexed_document_with_its_details(library, docs):
    infos = library.list_documents()

    assert [i.name for i in infos] == sorted([SEED_ID, "lighthouse.md", "penguins.txt"])
    seed = by_name(library)[SEED_ID]
    assert (seed.doc_id, seed.title, seed.date, seed.status, seed.message) == (SEED_ID, SEED_TITLE, SEED_DATE,
                                                                             INDEXED, "")
    assert seed.size_bytes == (docs / SEED_ID).stat().st_size
    index = library.assistant.index
    assert seed.passages == sum(c.doc_id == SEED_ID for c in index.chunks) == 3
    assert all(i.added == index.manifest["created"] for i in infos)
    datetime.fromisoformat(seed.added)


def test_list_is_plain_json(library):
    data = json.loads(json.dumps([i.to_dict() for i in library.list_documents()]))

    assert data[0] == {"name": SEED_ID, "doc_id": SEED_ID, "title": SEED_TITLE, "date": SEED_DATE,
                       "size_bytes": data[0]["size_bytes"], "passages": 3, "added": data[0]["added"],
                       "status": INDEXED, "message": ""}


def test_when_added_is_kept_across_updates_and_rebuilds(docs, tmp_path):
    first = qa.build_index(docs, tmp_path / "index").manifest["added"]
    (docs / "rivers.txt").write_text("The Danube flows into the Black Sea.", encoding="utf-8")
    (docs / "penguins.txt").write_text(PENGUINS + "They eat fish and krill.", encoding="utf-8")  # changed

    updated = qa.update_index(docs, tmp_path / "index").manifest
    rebuilt = qa.build_index(docs, tmp_path / "index").manifest["added"]

    assert {k: updated["added"][k] for k in first} == first
    assert updated["added"]["rivers.txt"] == updated["created"]
    assert rebuilt == updated["added"]


def test_a_missing_file_is_reported_not_fatal(library, docs):
    (docs / "penguins.txt").unlink()

    info = by_name(library)["penguins.txt"]

    assert (info.status, info.size_bytes, info.passages) == (MISSING, None, 1)
    assert "no longer in the document folder" in info.message
    assert by_name(library)[SEED_ID].status == INDEXED


def test_an_unreadable_file_is_reported_with_the_reason(docs, tmp_path):
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02 binary")
    library = DocumentLibrary(qa.Assistant(qa.build_index(docs, tmp_path / "index")), docs)

    info = by_name(library)["broken.txt"]

    assert (info.status, info.passages, info.size_bytes) == (UNREADABLE, 0, 10)
    assert info.message.startswith("not indexed: broken.txt: ") and "binary" in info.message


def test_a_file_added_after_the_index_is_reported_as_not_indexed(library, docs):
    (docs / "rivers.txt").write_text("The Danube flows into the Black Sea.", encoding="utf-8")

    info = by_name(library)["rivers.txt"]

    assert (info.status, info.passages, info.title) == (NOT_INDEXED, 0, "rivers")
    assert "qa index update" in info.message and info.added is not None


def test_a_vanished_document_folder_lists_every_document_as_missing(library, docs):
    for path in list_files(docs):
        path.unlink()
    docs.rmdir()

    assert {i.status for i in library.list_documents()} == {MISSING}


# --- removing ------------------------------------------------------------------------------------------------

def test_removed_document_goes_to_the_trash_and_is_no_longer_answered(library, docs):
    before = library.assistant
    assert not before.ask(PENGUIN_QUESTION).abstained

    [result] = library.remove(["penguins.txt"])

    assert (result.removed, result.message, result.trash_path) == (True, f"moved to {TRASH}/penguins.txt",
                                                                    f"{TRASH}/penguins.txt")
    assert (docs / TRASH / "penguins.txt").read_text(encoding="utf-8") == PENGUINS
    assert not (docs / "penguins.txt").exists()
    assert "penguins.txt" not in by_name(library)
    assert library.assistant.ask(PENGUIN_QUESTION).abstained
    assert "penguins.txt" in before.index.documents  # a question in flight keeps the index it started on
    assert set(qa.load_index(library.index_dir).documents) == {SEED_ID, "lighthouse.md"}


def test_removal_embeds_nothing(library):
    library.remove(["penguins.txt"])

    report = library.assistant.index.report
    assert report.embedded == 0 and report.reused == len(library.assistant.index.chunks)


def test_delete_removes_the_file_for_good(library, docs):
    [result] = library.remove(["penguins.txt"], delete=True)

    assert (result.removed, result.message, result.trash_path) == (True, "deleted", None)
    assert not (docs / "penguins.txt").exists() and not (docs / TRASH / "penguins.txt").exists()


def test_several_documents_are_removed_in_one_update(library, docs):
    results = library.remove(["penguins.txt", "lighthouse.md", "penguins.txt"])

    assert [(r.name, r.removed) for r in results] == [("penguins.txt", True), ("lighthouse.md", True)]
    assert [i.name for i in library.list_documents()] == [SEED_ID]


@pytest.mark.parametrize("name", ["nothing.txt", "../docs/penguins.txt", "/etc/passwd", f"{TRASH}/penguins.txt",
                                  "", "./penguins.txt"])
def test_an_unknown_name_is_reported_and_nothing_changes(library, docs, name):
    before = library.assistant

    [result] = library.remove([name])

    assert (result.removed, result.message) == (False, f"no document named {name!r}")
    assert library.assistant is before and (docs / "penguins.txt").exists()


def test_a_single_name_may_be_given_alone(library):
    [result] = library.remove("penguins.txt")

    assert result.removed and result.name == "penguins.txt"


def test_a_second_removal_of_the_same_name_keeps_both_copies_in_the_trash(library, docs):
    library.remove(["penguins.txt"])
    (docs / "penguins.txt").write_text("Penguins again, a second text about them.", encoding="utf-8")

    [result] = library.remove(["penguins.txt"])

    assert result.message == f"moved to {TRASH}/penguins (2).txt"
    assert (docs / TRASH / "penguins.txt").read_text(encoding="utf-8") == PENGUINS


def test_a_document_whose_file_is_gone_is_taken_out_of_the_index(library, docs):
    (docs / "penguins.txt").unlink()

    [result] = library.remove(["penguins.txt"])

    assert (result.removed, result.message) == (True, "the file was already gone; taken out of the index")
    assert "penguins.txt" not in library.assistant.index.documents


def test_a_file_in_a_subfolder_keeps_its_place_in_the_trash(docs, tmp_path):
    (docs / "birds").mkdir()
    (docs / "birds" / "penguins.txt").write_text(PENGUINS, encoding="utf-8")
    library = DocumentLibrary(qa.Assistant(qa.build_index(docs, tmp_path / "index")), docs)

    [result] = library.remove(["birds/penguins.txt"])

    assert result.trash_path == f"{TRASH}/birds/penguins.txt"
    assert (docs / TRASH / "birds" / "penguins.txt").is_file()


def test_a_failed_index_update_puts_the_files_back(library, docs, monkeypatch):
    def broken(*args, **kwargs):
        raise QAError("the disk is full")

    monkeypatch.setattr("qa.library.manager.update_index", broken)
    before = library.assistant

    [result] = library.remove(["penguins.txt"], delete=True)

    assert (result.removed, result.message) == (False, "not removed: the index could not be updated "
                                                       "(the disk is full)")
    assert (docs / "penguins.txt").read_text(encoding="utf-8") == PENGUINS and library.assistant is before
    assert not any((docs / TRASH).iterdir())


def test_the_last_document_cannot_be_removed(library, docs):
    library.remove(["penguins.txt", "lighthouse.md"])

    [result] = library.remove([SEED_ID])

    assert not result.removed and "no usable documents" in result.message
    assert (docs / SEED_ID).is_file() and not library.assistant.ask(SEED_QUESTION).abstained


def test_the_trash_is_never_indexed(library, docs):
    library.remove(["penguins.txt"])

    assert [p.name for p in list_files(docs)] == sorted([SEED_ID, "lighthouse.md"])
    assert not qa.load_index(library.index_dir).changes(docs).stale


def test_progress_is_reported_while_removing(library):
    seen = []

    library.remove(["penguins.txt"], progress=lambda fraction, text: seen.append(text))

    assert seen == ["Removing penguins.txt", "Updating the index"]


def test_the_library_is_still_importable_from_uploads():
    from qa.library.manager import DocumentLibrary as FromUploads

    assert FromUploads is DocumentLibrary


def test_open_finds_the_folder_the_index_was_built_from(library, docs):
    opened = DocumentLibrary.open(qa.Settings(index_dir=library.index_dir))

    assert opened.source_dir.resolve() == docs.resolve()
    assert [i.name for i in opened.list_documents()] == [i.name for i in library.list_documents()]


def test_lighthouse_is_answered_until_removed(library):
    question = "How often was the lighthouse lamp cleaned in winter?"
    assert "cleaned twice every night" in library.assistant.ask(question).text

    library.remove(["lighthouse.md"])

    assert library.assistant.ask(question).abstained


@pytest.mark.slow
def test_removal_does_not_load_the_model(library):
    script = ("import sys, qa, qa.models.loading; from qa.library.manager import DocumentLibrary; "
              "lib = DocumentLibrary.open(qa.Settings(index_dir=sys.argv[1])); "
              "[r] = lib.remove(['penguins.txt']); "
              "print(r.removed, qa.models.loading._load_model.cache_info().currsize)")

    result = subprocess.run([sys.executable, "-c", script, str(library.index_dir)], env=subprocess_env(),
                            capture_output=True, text=True, timeout=240)

    assert result.stdout.split() == ["True", "0"], result.stderr
