"""Uploads: safe names, limits, duplicates, atomic copies into the folder, and an index that answers from them."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers import (
    LIGHTHOUSE,
    PENGUINS,
    RENDERER,
    SEED_FILE,
    SEED_ID,
    SEED_QUESTION,
    copy_seeds,
    launched,
    rendered_text,
)

import qa
from qa.errors import DocumentError, QAError
from qa.library.manager import DocumentLibrary
from qa.library.uploads import ADDED, DUPLICATE, MB, REJECTED, UploadLimits, sanitise_name, save_uploads
from qa.serve.formatting import format_upload_results
from qa.serve.webapp import upload_messages

PENGUIN_QUESTION = "Where do emperor penguins breed?"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    """A file as a browser would hand it over: somewhere outside the document folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture
def docs(tmp_path) -> Path:
    return copy_seeds(tmp_path / "docs")


@pytest.fixture
def incoming(tmp_path) -> Path:
    return tmp_path / "incoming"


@pytest.fixture
def library(docs, tmp_path) -> DocumentLibrary:
    index = qa.build_index(docs, tmp_path / "index")
    return DocumentLibrary(qa.Assistant(index), docs)


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "safe"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\notes.md", "notes.md"),
    ("/absolute/path/report.pdf", "report.pdf"),
    ("sub/dir/page.html", "page.html"),
])
def test_path_components_are_dropped_keeping_the_base_name(given, safe):
    assert sanitise_name(given) == safe


def test_control_and_direction_characters_are_removed():
    assert sanitise_name("no\x00tes\n\t.txt") == "notes.txt"
    assert sanitise_name("invoice\u202etxt.exe.md") == "invoicetxt.exe.md"


def test_characters_unsafe_in_names_or_markup_become_underscores():
    assert sanitise_name('a<b>:c|d?"`.txt') == "a_b__c_d___.txt"


@pytest.mark.parametrize("given", ["", "   ", ".", "..", "../..", "/", "\x00\x01"])
def test_empty_names_are_refused(given):
    with pytest.raises(DocumentError, match="no usable name"):
        sanitise_name(given)


@pytest.mark.parametrize("given", [".bashrc", ".hidden.txt", "../.env.md"])
def test_hidden_names_are_refused(given):
    with pytest.raises(DocumentError, match="hidden"):
        sanitise_name(given)


def test_very_long_names_are_shortened_keeping_the_suffix():
    safe = sanitise_name("é" * 300 + ".txt")

    assert safe.endswith("é.txt") and len(safe.encode()) <= 200


# --- saving into the folder (no indexing) --------------------------------------------------------------------

def test_path_traversal_name_is_saved_inside_the_folder(docs, incoming, tmp_path):
    upload = write(incoming, "penguins.txt", PENGUINS)

    [result] = save_uploads([("../../etc/passwd.txt", upload)], docs, UploadLimits())

    assert (result.status, result.saved_as) == (ADDED, "passwd.txt")
    assert (docs / "passwd.txt").read_text(encoding="utf-8") == PENGUINS
    assert not (tmp_path / "etc").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["docs", "incoming"]


def test_file_over_the_size_limit_is_refused_naming_the_limit(docs, incoming):
    upload = write(incoming, "big.txt", "words and more words. " * 50_000)  # about 1.1 MB

    [result] = save_uploads([upload], docs, UploadLimits(max_bytes=1 * MB))

    assert result.status == REJECTED
    assert "too large (1.0 MB)" in result.message and "limit is 1 MB per file" in result.message
    assert folder_names(docs) == [SEED_ID]


def test_files_over_the_count_limit_are_refused_and_the_first_ones_kept(docs, incoming):
    uploads = [write(incoming, f"note{i}.txt", f"Note number {i} about the harbour.") for i in range(3)]

    results = save_uploads(uploads, docs, UploadLimits(max_files=2))

    assert [r.status for r in results] == [ADDED, ADDED, REJECTED]
    assert results[2].message == "not added: at most 2 files per upload"
    assert folder_names(docs) == sorted([SEED_ID, "note0.txt", "note1.txt"])


@pytest.mark.parametrize("name", ["program.exe", "sheet.xlsx", "README"])
def test_unsupported_types_are_refused_listing_the_allowed_ones(docs, incoming, name):
    [result] = save_uploads([write(incoming, name, "Some text.")], docs, UploadLimits())

    assert result.status == REJECTED
    assert "unsupported file type" in result.message and ".txt, .md, .html, .htm, .pdf" in result.message


def test_allowed_types_can_be_narrowed(docs, incoming):
    limits = UploadLimits.from_settings(qa.Settings(), suffixes=["txt", ".PDF"])

    results = save_uploads([write(incoming, "a.md", LIGHTHOUSE), write(incoming, "b.txt", PENGUINS)], docs, limits)

    assert limits.suffixes == (".txt", ".pdf")
    assert [r.status for r in results] == [REJECTED, ADDED]
    assert "allowed: .txt, .pdf" in results[0].message


def test_limits_come_from_settings_and_environment():
    limits = UploadLimits.from_settings(qa.Settings.from_env({"QA_UPLOAD_MAX_MB": "0.5", "QA_UPLOAD_MAX_FILES": "3"}))

    assert (limits.max_bytes, limits.max_files) == (MB // 2, 3)


@pytest.mark.parametrize(("field", "value"), [("upload_max_mb", 0), ("upload_max_files", 0)])
def test_limits_must_be_positive(field, value):
    with pytest.raises(qa.errors.ConfigError, match=field):
        qa.Settings(**{field: value})


def test_content_already_in_the_folder_is_reported_and_not_copied(docs, incoming):
    upload = write(incoming, "same-article.txt", SEED_FILE.read_bytes())

    [result] = save_uploads([upload], docs, UploadLimits())

    assert (result.status, result.saved_as) == (DUPLICATE, SEED_ID)
    assert result.message == f"already present as {SEED_ID}; not added again"
    assert folder_names(docs) == [SEED_ID]


def test_the_same_content_twice_in_one_upload_is_added_once(docs, incoming):
    uploads = [write(incoming / "a", "penguins.txt", PENGUINS), write(incoming / "b", "birds.txt", PENGUINS)]

    results = save_uploads(uploads, docs, UploadLimits())

    assert [r.status for r in results] == [ADDED, DUPLICATE]
    assert results[1].saved_as == "penguins.txt"


def test_same_name_with_other_content_gets_a_new_name_and_keeps_the_old_file(docs, incoming):
    (docs / "notes.txt").write_text(PENGUINS, encoding="utf-8")

    results = save_uploads([write(incoming / "1", "notes.txt", LIGHTHOUSE),
                            write(incoming / "2", "notes.txt", "A third text about rivers.")], docs, UploadLimits())

    assert [r.saved_as for r in results] == ["notes (2).txt", "notes (3).txt"]
    assert "a different notes.txt is already there" in results[0].message
    assert (docs / "notes.txt").read_text(encoding="utf-8") == PENGUINS
    assert (docs / "notes (2).txt").read_text(encoding="utf-8") == LIGHTHOUSE


@pytest.mark.parametrize(("content", "reason"), [(b"", "holds no text"), (b"\x00\x01binary", "binary"),
                                                 (b"caf\xe9 au lait", "not valid UTF-8")])
def test_unreadable_files_are_refused_and_leave_nothing_behind(docs, incoming, content, reason):
    [result] = save_uploads([write(incoming, "bad.txt", content)], docs, UploadLimits())

    assert result.status == REJECTED and reason in result.message
    assert folder_names(docs) == [SEED_ID]  # neither the file nor a hidden staging folder


def test_a_missing_upload_is_refused_by_name(docs, incoming):
    [result] = save_uploads([incoming / "gone.txt"], docs, UploadLimits())

    assert (result.name, result.status) == ("gone.txt", REJECTED)
    assert "could not be saved" in result.message


# --- the library: upload, index, answer ----------------------------------------------------------------------

def test_uploaded_document_answers_right_after(library, incoming):
    before = library.assistant

    [result] = library.add_files([write(incoming, "penguins.txt", PENGUINS)])
    answer = library.assistant.ask(PENGUIN_QUESTION)

    assert result.status == ADDED
    assert not answer.abstained and answer.citations[0].doc_id == "penguins.txt"
    assert "penguins.txt" not in before.index.documents  # questions in flight keep the index they started on


def test_upload_embeds_only_the_new_document_and_saves_the_index(library, incoming, tmp_path):
    library.add_files([write(incoming, "penguins.txt", PENGUINS)])

    report = library.assistant.index.report
    assert report.reused > 0 and report.embedded == 1
    assert set(qa.load_index(tmp_path / "index").documents) == {SEED_ID, "penguins.txt"}


def test_failures_are_reported_per_file_while_the_others_are_added(library, incoming):
    uploads = [write(incoming, "penguins.txt", PENGUINS), write(incoming, "empty.md", ""),
               write(incoming, "tool.exe", "MZ"), write(incoming, "copy.txt", SEED_FILE.read_bytes()),
               ("../lighthouse.md", write(incoming, "x.md", LIGHTHOUSE))]

    results = library.add_files(uploads)

    assert [(r.name, r.status) for r in results] == [
        ("penguins.txt", ADDED), ("empty.md", REJECTED), ("tool.exe", REJECTED), ("copy.txt", DUPLICATE),
        ("../lighthouse.md", ADDED)]
    assert set(library.assistant.index.documents) == {SEED_ID, "penguins.txt", "lighthouse.md"}


def test_upload_with_nothing_acceptable_keeps_the_same_assistant(library, incoming):
    before = library.assistant

    [result] = library.add_files([write(incoming, "copy.txt", SEED_FILE.read_bytes())])

    assert result.status == DUPLICATE and library.assistant is before


def test_failed_indexing_removes_the_new_files_and_says_so(library, incoming, docs, monkeypatch):
    def broken(*args, **kwargs):
        raise QAError("the disk is full")

    monkeypatch.setattr("qa.library.manager.update_index", broken)
    before = library.assistant

    [result] = library.add_files([write(incoming, "penguins.txt", PENGUINS)])

    assert result.status == REJECTED and result.message == "not added: could not be indexed (the disk is full)"
    assert folder_names(docs) == [SEED_ID] and library.assistant is before


def test_progress_is_reported_while_checking_and_indexing(library, incoming):
    seen = []

    library.add_files([write(incoming, "penguins.txt", PENGUINS)], progress=lambda f, desc: seen.append(desc))

    assert seen == ["Checking penguins.txt", "Indexing"]


@pytest.mark.slow
def test_questions_during_an_upload_are_answered(library, incoming):
    errors, answers, done = [], [], threading.Event()

    def ask_repeatedly() -> None:
        while not done.is_set():
            try:
                answers.append(library.assistant.ask(SEED_QUESTION))
            except Exception as exc:  # noqa: BLE001 - any failure fails the test below
                errors.append(exc)

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    try:
        library.add_files([write(incoming, f"note{i}.txt", f"Note {i}: {PENGUINS}") for i in range(3)])
    finally:
        done.set()
        asker.join()

    assert not errors and answers and all(not a.abstained for a in answers)


# --- the web page's side -------------------------------------------------------------------------------------

def test_upload_status_shows_names_and_messages_as_text():
    results = [qa.library.uploads.UploadResult("<img src=x onerror=alert(1)>.txt", REJECTED, "not added: *bad*")]

    text = format_upload_results(results)

    assert "<img" not in RENDERER.render(text) and "<em>" not in RENDERER.render(text)  # no element made
    assert rendered_text(text) == "<img src=x onerror=alert(1)>.txt: not added: *bad*"  # the characters, as text


def test_upload_messages_say_what_is_happening_then_each_file(library, incoming):
    updates = list(upload_messages(library, [str(write(incoming, "penguins.txt", PENGUINS))]))

    assert updates[0] == "⏳ Adding 1 file…"
    assert "**penguins.txt**: added" in updates[-1]
    assert "Index: 2 documents" in updates[-1]


def test_upload_messages_turn_errors_into_one_warning(library, incoming, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(library, "add_files", broken)

    updates = list(upload_messages(library, [str(write(incoming, "penguins.txt", PENGUINS))]))

    assert updates[-1].startswith("⚠️ Something went wrong") and "Traceback" not in updates[-1]


@pytest.mark.slow
def test_upload_endpoint_adds_files_then_chat_answers_from_them(docs, tmp_path, incoming):
    from gradio_client import Client, handle_file

    from qa.serve.webapp import create_demo

    with launched(create_demo(qa.Assistant(qa.build_index(docs, tmp_path / "index")))) as url:
        client = Client(url, verbose=False, download_files=False)
        _, status = client.predict([handle_file(str(write(incoming, "penguins.txt", PENGUINS)))],
                                   api_name="/upload")
        messages = client.predict(PENGUIN_QUESTION, api_name="/chat")

    assert "**penguins.txt**: added" in status
    assert "Emperor penguins breed" in messages[0]["content"] and "penguins.txt" in messages[1]["content"]
