"""Building, saving, loading, checking and updating an index."""
from __future__ import annotations

import errno
import logging
from pathlib import Path

import faiss
import pytest
from helpers import PENGUINS, SEED_ID, gen_folders, hit_keys, make_corpus

import qa
from qa.errors import DocumentError, EmptyCorpusError, IndexCorruptError, IndexMismatchError, IndexNotFoundError

QUERIES = ["Kosovo dialogue", "Who balances the penguin egg?", "lighthouse lamp storms"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A private folder: the seed article, penguins.txt and lighthouse.md."""
    return make_corpus(tmp_path / "docs")


@pytest.fixture
def built(corpus, tmp_path) -> Path:
    """An index of ``corpus`` saved in tmp_path/index."""
    index_dir = tmp_path / "index"
    qa.build_index(corpus, index_dir)
    return index_dir


def search_all(index: qa.Index) -> list[list[tuple[str, int, int]]]:
    return [hit_keys(index.search(q, k=3)) for q in QUERIES]


# Manifest checks

def test_loading_with_another_chunk_size_raises_mismatch(seed_index_dir):
    with pytest.raises(IndexMismatchError, match="chunk_size 1000 \\(now 500\\)"):
        qa.load_index(seed_index_dir, qa.Settings(chunk_size=500))


def test_mismatch_message_says_how_to_rebuild(seed_index_dir):
    with pytest.raises(IndexMismatchError) as info:
        qa.load_index(seed_index_dir, qa.Settings(chunk_size=500))

    assert "qa index build" in str(info.value)
    assert str(seed_index_dir) in str(info.value)


def test_loading_with_another_model_raises_mismatch(seed_index_dir):
    with pytest.raises(IndexMismatchError, match="model") as info:
        qa.load_index(seed_index_dir, qa.Settings(model="sentence-transformers/all-mpnet-base-v2"))

    assert "qa index build" in str(info.value)


def test_missing_index_raises_not_found_saying_how_to_build(tmp_path):
    with pytest.raises(IndexNotFoundError) as info:
        qa.load_index(tmp_path / "nowhere")

    assert "qa index build" in str(info.value)


@pytest.mark.parametrize("name", ["chunks.jsonl", "vectors.npy"])
@pytest.mark.parametrize("keep", [0.5, 0.0], ids=["half", "empty"])
def test_truncated_index_file_raises_index_corrupt(built, name, keep):
    path = next(built.glob("gen-*")) / name
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(built)


# Atomic saves

def failing_generator(docs: list[qa.Document]):
    yield from docs
    raise RuntimeError("the document source broke off")


def test_build_failing_midway_keeps_the_old_index(built):
    before = search_all(qa.load_index(built))
    folders = gen_folders(built)
    docs = [qa.Document(f"note{i}", f"Note {i} about gardening and tomatoes.") for i in range(3)]

    with pytest.raises(RuntimeError, match="broke off"):
        qa.build_index(failing_generator(docs), built)

    assert search_all(qa.load_index(built)) == before
    assert gen_folders(built) == folders


@pytest.mark.parametrize("target", ["faiss.write_index", "Path.write_text"])
def test_failing_write_keeps_the_old_index(built, corpus, monkeypatch, target):
    before = search_all(qa.load_index(built))
    folders = gen_folders(built)
    (corpus / "penguins.txt").write_text(PENGUINS + "A new sentence about krill.\n", encoding="utf-8")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    owner, attr = target.split(".")
    monkeypatch.setattr({"faiss": faiss, "Path": Path}[owner], attr, disk_full)
    with pytest.raises(OSError, match="No space left"):
        qa.build_index(corpus, built)
    monkeypatch.undo()

    assert search_all(qa.load_index(built)) == before
    assert gen_folders(built) == folders
    assert sorted(p.name for p in built.iterdir()) == sorted([".lock", "CURRENT", *folders])


def test_rebuild_replaces_the_previous_generation(built, corpus):
    old = gen_folders(built)

    qa.build_index(corpus, built)

    assert len(gen_folders(built)) == 1
    assert gen_folders(built) != old


# Stale detection

def test_changes_lists_added_changed_and_removed_files(built, corpus):
    (corpus / "added.txt").write_text("A brand new note about bees and honey.", encoding="utf-8")
    (corpus / "penguins.txt").write_text(PENGUINS + "Chicks hatch after about two months.\n", encoding="utf-8")
    (corpus / "lighthouse.md").unlink()

    changes = qa.load_index(built).changes()

    assert changes == qa.Changes(added=("added.txt",), changed=("penguins.txt",), removed=("lighthouse.md",))
    assert changes.stale


def test_fresh_index_is_not_stale(built):
    assert not qa.load_index(built).changes().stale


def test_touching_a_file_without_changing_it_is_not_a_change(built, corpus):
    path = corpus / "penguins.txt"
    path.write_bytes(path.read_bytes())

    assert not qa.load_index(built).changes().stale


# Unusable files

@pytest.fixture
def messy(corpus) -> Path:
    (corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    (corpus / "report.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (corpus / "sheet.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    return corpus


def test_unusable_files_are_skipped_by_name_with_a_reason(messy, tmp_path):
    report = qa.build_index(messy, tmp_path / "index").report

    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"image.txt", "empty.txt", "report.docx", "sheet.xlsx"}
    assert "binary" in reasons["image.txt"]
    assert "no text" in reasons["empty.txt"]
    assert "not a readable Word document" in reasons["report.docx"]
    assert "unsupported file type '.xlsx'" in reasons["sheet.xlsx"]
    assert report.documents == 3


def test_folder_with_skipped_files_is_not_stale_after_build(messy, tmp_path):
    qa.build_index(messy, tmp_path / "index")

    assert not qa.load_index(tmp_path / "index").changes().stale


def test_changed_skipped_file_makes_the_index_stale(messy, tmp_path):
    qa.build_index(messy, tmp_path / "index")
    (messy / "empty.txt").write_text("Now the file has text about owls.", encoding="utf-8")

    assert qa.load_index(tmp_path / "index").changes().changed == ("empty.txt",)


def test_empty_folder_raises_empty_corpus_error(tmp_path):
    folder = tmp_path / "nothing"
    folder.mkdir()

    with pytest.raises(EmptyCorpusError, match="no usable documents") as info:
        qa.build_index(folder, tmp_path / "index")

    assert str(folder) in str(info.value)
    assert ".txt" in str(info.value)
    assert not (tmp_path / "index").exists()


def test_documents_of_only_whitespace_raise_empty_corpus_error(tmp_path):
    blank = [qa.Document("spaces", "   \n\t  "), qa.Document("breaks", "\u2028\u3000\n\n", title="Blank")]

    with pytest.raises(EmptyCorpusError, match="only whitespace"):
        qa.build_index(blank, tmp_path / "index")

    assert not (tmp_path / "index").exists()


# In-memory documents

@pytest.fixture(scope="module")
def memory_index() -> qa.Index:
    return qa.build_index([
        qa.Document("bees", "Honey bees dance to tell the hive where flowers are.", title="Bees"),
        qa.Document("rivers", "The Danube flows through ten countries before the Black Sea.", title="Rivers"),
        qa.Document("bread", "Sourdough bread rises slowly because of wild yeast.", title="Baking",
                    metadata={"date": "2020-01-02"}),
    ])


def test_in_memory_documents_are_searchable(memory_index):
    best = memory_index.search("Which river reaches the Black Sea?", k=1)[0]

    assert best.doc_id == "rivers"
    assert best.title == "Rivers"


def test_in_memory_document_metadata_reaches_hits(memory_index):
    best = memory_index.search("wild yeast sourdough", k=1)[0]

    assert (best.doc_id, best.date) == ("bread", "2020-01-02")


def test_in_memory_build_without_index_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    index = qa.build_index([qa.Document("a", "Owls hunt at night using their hearing.")])

    assert index.path is None
    assert list(tmp_path.iterdir()) == []


def test_build_report_counts_documents_and_chunks(memory_index):
    report = memory_index.report

    assert (report.documents, report.chunks, report.embedded, report.reused) == (3, 3, 3, 0)
    assert report.seconds > 0


# Incremental updates

def test_update_embeds_only_the_changed_document(built, corpus):
    (corpus / "penguins.txt").write_text(PENGUINS + "Chicks hatch after about two months.\n", encoding="utf-8")

    index = qa.update_index(corpus, built)

    changed = [c for c in index.chunks if c.doc_id == "penguins.txt"]
    assert index.report.embedded == len(changed)
    assert index.report.reused == len(index.chunks) - len(changed)
    assert index.report.reused > 0


def test_update_gives_the_same_hits_as_a_full_rebuild(built, corpus):
    (corpus / "penguins.txt").write_text(PENGUINS + "Chicks hatch after about two months.\n", encoding="utf-8")

    updated = qa.update_index(corpus, built)
    rebuilt = qa.build_index(corpus)

    for query in [*QUERIES, "When do the chicks hatch?"]:
        got, want = updated.search(query, k=4), rebuilt.search(query, k=4)
        assert hit_keys(got) == hit_keys(want)
        assert [h.dense_score for h in got] == pytest.approx([h.dense_score for h in want], abs=1e-5)


def test_update_drops_removed_documents(built, corpus):
    (corpus / "lighthouse.md").unlink()

    index = qa.update_index(corpus, built)

    assert sorted(index.documents) == sorted([SEED_ID, "penguins.txt"])
    assert not qa.load_index(built).changes().stale


def test_open_index_updates_a_stale_index(built, corpus):
    (corpus / "bees.txt").write_text("Honey bees dance to show where the flowers are.", encoding="utf-8")

    index = qa.open_index(corpus, built)

    assert "bees.txt" in index.documents
    assert index.report.embedded == 1
    assert not qa.load_index(built).changes().stale


def test_open_index_builds_a_missing_index(corpus, tmp_path):
    index = qa.open_index(corpus, tmp_path / "new-index")

    assert len(index.documents) == 3
    assert qa.load_index(tmp_path / "new-index").manifest["counts"]["documents"] == 3


def test_open_index_answers_from_an_index_whose_document_folder_is_gone(seed_index_dir, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="qa.index.build")

    index = qa.open_index(tmp_path / "gone", seed_index_dir)

    assert sorted(index.documents) == [SEED_ID]
    assert f"document folder {str(tmp_path / 'gone')!r}" in caplog.text and "does not exist" in caplog.text


def test_open_index_without_index_or_document_folder_names_the_folder_looked_for(tmp_path):
    with pytest.raises(DocumentError, match="no index at .* yet, and no document folder to build one from") as err:
        qa.open_index(tmp_path / "gone", tmp_path / "index")

    assert f"{(tmp_path / 'gone').resolve()} does not exist (the document folder given was" in str(err.value)
    assert not (tmp_path / "index").exists()
