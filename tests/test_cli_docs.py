"""`qa docs list|add|remove`: the real console script once, click's CliRunner for the rest."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from helpers import PENGUINS, SEED_ID, SEED_TITLE, copy_seeds, make_corpus, qa_command, subprocess_env

import qa
from qa.cli import main


@pytest.fixture
def corpus(tmp_path):
    """A folder of three documents and its index; returns (folder, index folder)."""
    docs = make_corpus(tmp_path / "docs")
    qa.build_index(docs, tmp_path / "index")
    return docs, tmp_path / "index"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.slow
def test_console_script_adds_lists_and_removes(tmp_path):
    docs = copy_seeds(tmp_path / "docs")
    index = tmp_path / "index"
    (tmp_path / "penguins.txt").write_text(PENGUINS, encoding="utf-8")

    def run(*args):
        return subprocess.run([qa_command(), *map(str, args), "--index", index], cwd=tmp_path, env=subprocess_env(),
                              capture_output=True, text=True, encoding="utf-8", timeout=240)

    built = run("index", "build", docs)
    added = run("docs", "add", tmp_path / "penguins.txt")
    listed = run("docs", "list", "--json")
    removed = run("docs", "remove", "penguins.txt")

    assert built.returncode == added.returncode == listed.returncode == removed.returncode == 0, removed.stderr
    assert "penguins.txt: added" in added.stdout and "Index: 2 documents" in added.stdout
    assert [d["name"] for d in json.loads(listed.stdout)] == [SEED_ID, "penguins.txt"]
    assert "penguins.txt: moved to .trash/penguins.txt" in removed.stdout
    assert (docs / ".trash" / "penguins.txt").is_file()
    assert list(qa.load_index(index).documents) == [SEED_ID]


def test_list_shows_one_line_a_document_and_a_summary(corpus):
    _, index = corpus

    result = invoke("docs", "list", "--index", index)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{SEED_ID}  '{SEED_TITLE}' 2017-08-17  2.2 kB  3 passages  added 20")
    assert lines[2].startswith(f"penguins.txt  'penguins' no date  {len(PENGUINS.encode())} B  1 passage  added ")
    assert lines[-1] == "Index: 3 documents, 5 passages."


def test_list_json_gives_every_field(corpus):
    _, index = corpus

    result = invoke("docs", "list", "--index", index, "--json")

    data = json.loads(result.output)
    assert [d["name"] for d in data] == [SEED_ID, "lighthouse.md", "penguins.txt"]
    assert set(data[0]) == {"name", "doc_id", "title", "date", "size_bytes", "passages", "added", "status", "message"}


def test_list_reports_a_missing_file_under_its_line(corpus):
    docs, index = corpus
    (docs / "penguins.txt").unlink()

    result = invoke("docs", "list", "--index", index)

    assert result.exit_code == 0
    assert "penguins.txt  'penguins' no date  size unknown  1 passage" in result.output
    assert "    missing: the file is no longer in the document folder" in result.output


def test_add_gives_the_upload_messages_and_fails_if_a_file_is_refused(corpus, tmp_path):
    _, index = corpus
    (tmp_path / "rivers.txt").write_text("The Danube flows into the Black Sea.", encoding="utf-8")
    (tmp_path / "tool.exe").write_bytes(b"MZ")

    result = invoke("docs", "add", tmp_path / "rivers.txt", tmp_path / "tool.exe", "--index", index)

    assert result.exit_code == 1
    assert "rivers.txt: added\n" in result.output
    assert "tool.exe: not added: unsupported file type '.exe'" in result.output
    assert "rivers.txt" in qa.load_index(index).documents


def test_remove_moves_to_the_trash_and_updates_the_index(corpus):
    docs, index = corpus

    result = invoke("docs", "remove", "penguins.txt", "lighthouse.md", "--index", index)

    assert result.exit_code == 0, result.output
    assert "penguins.txt: moved to .trash/penguins.txt\nlighthouse.md: moved to .trash/lighthouse.md\n" in result.output
    assert result.stdout.endswith("Index: 1 documents, 3 passages.\n")
    assert sorted(p.name for p in (docs / ".trash").iterdir()) == ["lighthouse.md", "penguins.txt"]


def test_remove_delete_says_deleted(corpus):
    docs, index = corpus

    result = invoke("docs", "remove", "penguins.txt", "--delete", "--index", index)

    assert "penguins.txt: deleted" in result.output
    assert not (docs / "penguins.txt").exists() and not (docs / ".trash" / "penguins.txt").exists()


def test_remove_an_unknown_name_fails_saying_so(corpus):
    _, index = corpus

    result = invoke("docs", "remove", "nothing.txt", "--index", index)

    assert result.exit_code == 1
    assert "nothing.txt: no document named 'nothing.txt'" in result.output


def test_source_option_names_the_folder(corpus, tmp_path):
    docs, index = corpus
    moved = docs.rename(tmp_path / "moved")

    gone = invoke("docs", "add", tmp_path / "x.txt", "--index", index)
    result = invoke("docs", "list", "--index", index, "--source", moved)

    assert gone.exit_code == 1 and "does not exist" in gone.output and "Traceback" not in gone.output
    assert result.exit_code == 0 and "missing" not in result.output


def test_without_an_index_it_says_how_to_build_one(tmp_path):
    result = invoke("docs", "list", "--index", tmp_path / "none")

    assert result.exit_code == 1
    assert "no index at" in result.output and "qa index build" in result.output


@pytest.mark.parametrize("command", [["add", "PENGUINS"], ["remove", "penguins.txt"]])
def test_read_only_refuses_adding_and_removing_and_changes_nothing(corpus, tmp_path, command):
    docs, index = corpus
    (tmp_path / "PENGUINS").write_text(PENGUINS, encoding="utf-8")
    args = [str(tmp_path / "PENGUINS") if a == "PENGUINS" else a for a in command]
    before = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*"))
    generation = (index / "CURRENT").read_text()

    result = CliRunner(env={"QA_READ_ONLY": "1"}).invoke(main, ["docs", *args, "--index", str(index)])

    assert result.exit_code == 1
    assert "QA_READ_ONLY is set" in result.output and "Traceback" not in result.output
    assert sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*")) == before
    assert (index / "CURRENT").read_text() == generation
