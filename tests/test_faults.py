"""Faults: a killed build, damaged index files, a missing model, a vanishing document, a full disk.

Whatever goes wrong, the previous index keeps loading and answering, and the user sees one clear
message (a qa.errors.QAError subclass) saying how to rebuild, never a traceback.
"""
from __future__ import annotations

import builtins
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import PENGUINS, SEED_QUESTION, gen_folders, make_corpus, qa_command, subprocess_env

import qa
import qa.index.index
import qa.ingest.documents
from qa.cli import main
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, ModelLoadError
from qa.index import store

# Every file of a generation; test_generation_files_are_the_ones_damaged_here keeps this list honest.
GENERATION_FILES = [
    "manifest.json", "documents.jsonl", "chunks.jsonl", "vectors.npy", "dense.faiss",
    "bm25/params.index.json", "bm25/vocab.index.json", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
]
MISSING_MODEL = "/nonexistent/model"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """An index of the seed article, penguins.txt and lighthouse.md, built once; tests damage copies of it."""
    root = tmp_path_factory.mktemp("faults")
    qa.build_index(make_corpus(root / "docs"), root / "index")
    return root / "index"


@pytest.fixture(scope="module")
def penguins_index(tmp_path_factory) -> Path:
    """A second, different index (one penguin note), saved once: what a build or kill may put in place."""
    index_dir = tmp_path_factory.mktemp("penguins") / "index"
    qa.build_index([qa.Document("penguins", PENGUINS, title="Penguins")], index_dir)
    return index_dir


@pytest.fixture
def index_dir(pristine, tmp_path) -> Path:
    """A private copy of the pristine index that a test may damage."""
    return Path(shutil.copytree(pristine, tmp_path / "index"))


def live(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def entries(index_dir: Path) -> list[str]:
    """Everything at the top of an index folder, hidden temporary files included."""
    return sorted(p.name for p in index_dir.iterdir())


def answers_the_seed_question(index_dir: Path) -> bool:
    answer = qa.Assistant(qa.load_index(index_dir)).ask(SEED_QUESTION)
    return not answer.abstained and "Kosovo" in answer.text


def ask_cli(index_dir: Path, *options: str):
    return CliRunner().invoke(main, ["ask", SEED_QUESTION, "--index", str(index_dir), *options])


def assert_one_line_error(result, *needles: str) -> None:
    """The CLI failed with exit code 1 and a single "Error: ..." line (besides a progress bar), not an
    uncaught exception."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("Embedding:")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0]


# Damaged index files

def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garbage(path: Path) -> None:
    size = max(path.stat().st_size, 64)
    path.write_bytes(random.Random(size).randbytes(size))


def delete(path: Path) -> None:
    path.unlink()


def drop_last_line(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")


DAMAGES = [truncate, empty, garbage, delete]


def test_generation_files_are_the_ones_damaged_here(pristine):
    folder = live(pristine)

    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(
        GENERATION_FILES)


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", GENERATION_FILES)
def test_damaged_index_file_raises_index_corrupt_saying_how_to_rebuild(index_dir, name, damage):
    damage(live(index_dir) / name)

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", GENERATION_FILES)
def test_ask_on_a_damaged_index_file_prints_a_one_line_error(index_dir, name, damage):
    damage(live(index_dir) / name)

    assert_one_line_error(ask_cli(index_dir), "qa index build")


@pytest.mark.parametrize("name", ["documents.jsonl", "chunks.jsonl"])
def test_index_file_missing_its_last_row_raises_index_corrupt(index_dir, name):
    drop_last_line(live(index_dir) / name)

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


@pytest.mark.parametrize("name", ["documents.jsonl", "chunks.jsonl"])
@pytest.mark.parametrize("row", ["[1, 2]", '{"id": 7}', "{}", "null"])
def test_index_row_of_the_wrong_shape_raises_index_corrupt(index_dir, name, row):
    path = live(index_dir) / name
    path.write_text(row + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


def test_bm25_parameters_without_a_document_count_raise_index_corrupt(index_dir):
    path = live(index_dir) / "bm25" / "params.index.json"
    params = json.loads(path.read_text(encoding="utf-8"))
    del params["num_docs"]
    path.write_text(json.dumps(params), encoding="utf-8")

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


def test_bm25_arrays_that_do_not_fit_together_raise_index_corrupt(index_dir):
    folder = live(index_dir) / "bm25"
    shutil.copy(folder / "indptr.csc.index.npy", folder / "indices.csc.index.npy")

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


def test_chunk_whose_text_is_not_its_document_slice_raises_index_corrupt(index_dir):
    path = live(index_dir) / "chunks.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0]["start"] += 1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


@pytest.mark.parametrize("manifest", ["[]", "null", '"text"', '{"format_version": 2, "settings": []}'])
def test_manifest_of_the_wrong_shape_raises_a_clear_error(index_dir, manifest):
    (live(index_dir) / "manifest.json").write_text(manifest, encoding="utf-8")

    with pytest.raises((IndexCorruptError, IndexMismatchError), match="qa index build"):
        qa.load_index(index_dir)


def set_format_version(index_dir: Path, version) -> None:
    path = live(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = version
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("version", [1, 3, None, "2"])
def test_manifest_from_another_format_version_raises_mismatch_saying_how_to_rebuild(index_dir, version):
    set_format_version(index_dir, version)

    with pytest.raises(IndexMismatchError, match="format version") as info:
        qa.load_index(index_dir)

    assert "qa index build" in str(info.value)


def test_ask_on_an_index_of_another_format_version_prints_a_one_line_error(index_dir):
    set_format_version(index_dir, 1)

    assert_one_line_error(ask_cli(index_dir), "format version 1", "qa index build")


# The CURRENT pointer

def point_at_a_missing_folder(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_text("gen-20000101-000000-deadbeef\n", encoding="utf-8")


def remove_live_generation(index_dir: Path) -> None:
    shutil.rmtree(live(index_dir))


def garbage_pointer(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00gen-\x9c\x80 \xc3(")


def empty_pointer(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_bytes(b"")


def pointer_outside_the_index(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_text(f"gen-x/../../{index_dir.name}/{live(index_dir).name}\n", encoding="utf-8")


def pointer_is_a_folder(index_dir: Path) -> None:
    (index_dir / "CURRENT").unlink()
    (index_dir / "CURRENT").mkdir()


POINTER_DAMAGES = [point_at_a_missing_folder, remove_live_generation, garbage_pointer, empty_pointer,
                   pointer_outside_the_index, pointer_is_a_folder]


@pytest.mark.parametrize("damage", POINTER_DAMAGES, ids=lambda f: f.__name__)
def test_damaged_pointer_raises_index_corrupt_saying_how_to_rebuild(index_dir, damage):
    damage(index_dir)

    with pytest.raises(IndexCorruptError, match="qa index build"):
        qa.load_index(index_dir)


@pytest.mark.parametrize("damage", POINTER_DAMAGES, ids=lambda f: f.__name__)
def test_ask_with_a_damaged_pointer_prints_a_one_line_error(index_dir, damage):
    damage(index_dir)

    assert_one_line_error(ask_cli(index_dir), "qa index build")


def test_index_folder_without_a_pointer_raises_not_found_saying_how_to_build(index_dir):
    (index_dir / "CURRENT").unlink()

    with pytest.raises(IndexNotFoundError, match="qa index build"):
        qa.load_index(index_dir)


def test_a_rebuild_repairs_a_damaged_index(index_dir, tmp_path):
    garbage(live(index_dir) / "dense.faiss")

    qa.build_index(make_corpus(tmp_path / "docs"), index_dir)

    assert answers_the_seed_question(index_dir)
    assert len(gen_folders(index_dir)) == 1


# A missing model

def test_loading_with_a_missing_model_raises_mismatch_saying_how_to_rebuild(pristine):
    with pytest.raises(IndexMismatchError, match="qa index build") as info:
        qa.load_index(pristine, qa.Settings(model=MISSING_MODEL))

    assert MISSING_MODEL in str(info.value)


def test_ask_with_a_missing_model_prints_a_one_line_error(pristine):
    assert_one_line_error(ask_cli(pristine, "--model", MISSING_MODEL), MISSING_MODEL, "qa index build")


@pytest.fixture
def built_with_missing_model(index_dir) -> Path:
    """The index as if it had been built with a model that has since been removed."""
    path = live(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["settings"]["model"] = MISSING_MODEL
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return index_dir


def test_asking_an_index_whose_model_is_gone_raises_model_load_error(built_with_missing_model):
    index = qa.load_index(built_with_missing_model, qa.Settings(model=MISSING_MODEL))

    with pytest.raises(ModelLoadError, match="--model") as info:
        qa.Assistant(index).ask(SEED_QUESTION)

    assert MISSING_MODEL in str(info.value)
    assert "qa index build" in str(info.value)


def test_ask_on_an_index_whose_model_is_gone_prints_a_one_line_error(built_with_missing_model):
    result = ask_cli(built_with_missing_model, "--model", MISSING_MODEL)

    assert_one_line_error(result, MISSING_MODEL, "qa index build")


def test_build_with_a_missing_model_keeps_the_old_index(index_dir, tmp_path):
    before = entries(index_dir)

    with pytest.raises(ModelLoadError, match=MISSING_MODEL):
        qa.build_index(make_corpus(tmp_path / "docs"), index_dir, qa.Settings(model=MISSING_MODEL))

    assert entries(index_dir) == before
    assert answers_the_seed_question(index_dir)


# A document that disappears between listing and reading

def test_document_vanishing_before_it_is_read_is_skipped_and_reported(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "docs")
    listed = qa.ingest.documents.list_files(corpus)
    monkeypatch.setattr(qa.ingest.documents, "list_files", lambda folder: sorted([*listed, corpus / "vanished.txt"]))

    index = qa.build_index(corpus, tmp_path / "index")

    assert [(s.path, "No such file" in s.reason) for s in index.report.skipped] == [("vanished.txt", True)]
    assert index.report.documents == 3
    monkeypatch.undo()
    assert answers_the_seed_question(tmp_path / "index")
    assert not qa.load_index(tmp_path / "index").changes().stale


def test_build_command_names_the_vanished_document(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "docs")
    listed = qa.ingest.documents.list_files(corpus)
    monkeypatch.setattr(qa.ingest.documents, "list_files", lambda folder: sorted([*listed, corpus / "vanished.txt"]))

    result = CliRunner().invoke(main, ["index", "build", str(corpus), "--index", str(tmp_path / "index")])

    assert result.exit_code == 0, result.output
    assert "Indexed 3 documents" in result.output
    assert "skipped vanished.txt: cannot be read (No such file or directory)" in result.output


def test_a_document_vanishing_while_the_index_is_checked_counts_as_removed(index_dir, tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "docs")
    qa.build_index(corpus, index_dir)
    listed = qa.index.index.list_files(corpus)
    (corpus / "penguins.txt").unlink()  # after the listing, before the hashing
    monkeypatch.setattr(qa.index.index, "list_files", lambda folder: listed)

    changes = qa.load_index(index_dir).changes()

    assert changes.removed == ("penguins.txt",)
    assert not changes.added and not changes.changed


# Two builds into one folder

def test_a_second_build_waits_while_another_writes_the_index(index_dir, changed_corpus, caplog):
    built: list[qa.Index] = []
    with store._writer_lock(index_dir):  # what a build holds while it writes and publishes
        before = entries(index_dir)
        writer = threading.Thread(target=lambda: built.append(qa.build_index(changed_corpus, index_dir)))
        writer.start()
        deadline = time.monotonic() + 300
        while "waiting for it to finish" not in caplog.text and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "waiting for it to finish" in caplog.text
        time.sleep(0.5)
        assert entries(index_dir) == before  # it neither wrote a generation nor removed one
    writer.join(300)

    assert built and not writer.is_alive()
    assert "krill" in live(index_dir).joinpath("documents.jsonl").read_text(encoding="utf-8")
    assert gen_folders(index_dir) == [live(index_dir).name]


def test_two_builds_at_once_leave_one_whole_index(index_dir, changed_corpus):
    commands = [[qa_command(), "index", "build", str(changed_corpus), "--index", str(index_dir)]] * 2
    builds = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=subprocess_env())
              for cmd in commands]
    outputs = [b.communicate(timeout=600)[0].decode() for b in builds]

    assert [b.returncode for b in builds] == [0, 0], outputs
    assert gen_folders(index_dir) == [live(index_dir).name]
    assert answers_the_seed_question(index_dir)
    assert "krill" in live(index_dir).joinpath("documents.jsonl").read_text(encoding="utf-8")


# A full disk while saving

def fail_writes_to(monkeypatch, name: str) -> None:
    """Opening ``name`` (or, for a name ending in '*', any name starting with it) for writing fails: disk full."""
    real_open = builtins.open

    def matches(file) -> bool:
        base = Path(os.fsdecode(file)).name if isinstance(file, (str, bytes, os.PathLike)) else ""
        return base.startswith(name[:-1]) if name.endswith("*") else base == name

    def full_disk_open(file, mode="r", *args, **kwargs):
        if matches(file) and any(flag in mode for flag in "wax+"):
            raise OSError(errno.ENOSPC, "No space left on device", os.fsdecode(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full_disk_open)
    monkeypatch.setattr(io, "open", full_disk_open)  # pathlib's write_text opens through io.open


def raise_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


WRITES = ["documents.jsonl", "chunks.jsonl", "vectors.npy", "params.index.json", "vocab.index.json",
          "data.csc.index.npy", "indptr.csc.index.npy", "manifest.json", ".CURRENT.*"]


@pytest.fixture
def changed_corpus(tmp_path) -> Path:
    corpus = make_corpus(tmp_path / "docs")
    (corpus / "penguins.txt").write_text(PENGUINS + "A new sentence about krill.\n", encoding="utf-8")
    return corpus


def assert_untouched(index_dir: Path, before: list[str]) -> None:
    assert entries(index_dir) == before  # no new generation, no temporary pointer left behind
    assert answers_the_seed_question(index_dir)
    assert "krill" not in live(index_dir).joinpath("documents.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", WRITES)
def test_disk_full_while_writing_a_file_keeps_the_old_index(index_dir, changed_corpus, monkeypatch, name):
    before = entries(index_dir)
    fail_writes_to(monkeypatch, name)

    with pytest.raises(OSError, match="No space left"):
        qa.build_index(changed_corpus, index_dir)
    monkeypatch.undo()

    assert_untouched(index_dir, before)


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_disk_full_while_publishing_keeps_the_old_index(index_dir, changed_corpus, monkeypatch, call):
    before = entries(index_dir)
    monkeypatch.setattr(os, call, raise_enospc)

    with pytest.raises(OSError, match="No space left"):
        qa.build_index(changed_corpus, index_dir)
    monkeypatch.undo()

    assert_untouched(index_dir, before)


def test_interrupt_right_after_the_switch_keeps_the_new_index(index_dir, changed_corpus, monkeypatch):
    """Ctrl-C once CURRENT names the new generation must not delete that generation."""
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        qa.build_index(changed_corpus, index_dir)
    monkeypatch.undo()

    assert answers_the_seed_question(index_dir)
    assert "krill" in live(index_dir).joinpath("documents.jsonl").read_text(encoding="utf-8")


def test_build_command_on_a_full_disk_prints_a_one_line_error(index_dir, changed_corpus, monkeypatch):
    fail_writes_to(monkeypatch, "vectors.npy")

    result = CliRunner().invoke(main, ["index", "build", str(changed_corpus), "--index", str(index_dir)])
    monkeypatch.undo()

    assert_one_line_error(result, "No space left on device", "nothing was changed")
    assert answers_the_seed_question(index_dir)


# A build killed with SIGKILL

def write_big_corpus(folder: Path, files: int = 300) -> Path:
    """``files`` notes of four paragraphs each: enough chunks that embedding takes several seconds."""
    rng = random.Random(7)
    words = ("harbour lantern orchard glacier meadow copper violin archive ferry quarry pigeon cedar "
             "tunnel comet saddle walnut beacon canyon marble kettle").split()
    folder.mkdir()
    for i in range(files):
        paragraphs = [" ".join(f"The {rng.choice(words)} near the {rng.choice(words)} was {rng.choice(words)}"
                               f"-coloured in note {i}." for _ in range(8)) for _ in range(4)]
        (folder / f"note-{i:04d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, "the process finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.slow
def test_build_killed_while_embedding_leaves_the_previous_index_answering(index_dir, tmp_path):
    source = write_big_corpus(tmp_path / "big")
    before = entries(index_dir)
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([qa_command(), "index", "build", str(source), "--index", str(index_dir)],
                                cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: b"Embedding" in stderr.read_bytes(), proc, "the embedding progress bar")
        kill(proc)

    assert b"100%" not in stderr.read_bytes().split(b"Embedding", 1)[1]  # killed midway, not at the end
    assert entries(index_dir) == before
    assert answers_the_seed_question(index_dir)


# Where a save can be stopped: the subprocess prints "stalled" and sleeps there until it is killed.
STALL_SCRIPT = """
import os, sys, time
import qa
from qa.index import store

def stall(*args, **kwargs):
    print("stalled", flush=True)
    time.sleep(600)

point = sys.argv[3]
if point == "writing":  # data files written, the manifest not yet
    write_json = store.write_json
    store.write_json = lambda path, data: stall() if path.name == store.MANIFEST else write_json(path, data)
elif point == "publishing":  # the new pointer written to its temporary file, not yet renamed over CURRENT
    os.replace = stall
elif point == "cleaning":  # CURRENT switched, older generations not yet removed
    store.remove_stale_generations = stall
qa.load_index(sys.argv[1]).save(sys.argv[2])
"""


@pytest.mark.slow
@pytest.mark.parametrize("point, switched", [("writing", False), ("publishing", False), ("cleaning", True)])
def test_save_killed_at_any_step_leaves_a_loadable_index_and_the_next_build_cleans_up(
        pristine, index_dir, penguins_index, tmp_path, point, switched):
    before = entries(index_dir)
    proc = subprocess.Popen([sys.executable, "-c", STALL_SCRIPT, str(penguins_index), str(index_dir), point],
                            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "stalled\n"
    kill(proc)

    assert len(entries(index_dir)) > len(before)  # the killed save left something behind
    expected = penguins_index if switched else pristine
    assert sorted(qa.load_index(index_dir).documents) == sorted(qa.load_index(expected).documents)
    if not switched:
        assert answers_the_seed_question(index_dir)

    qa.build_index(make_corpus(tmp_path / "docs"), index_dir)

    assert entries(index_dir) == [".lock", "CURRENT", *gen_folders(index_dir)]
    assert len(gen_folders(index_dir)) == 1
    assert answers_the_seed_question(index_dir)
