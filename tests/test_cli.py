"""The `qa` command: the real console script in a few subprocesses, click's CliRunner for the rest."""
from __future__ import annotations

import json
import subprocess

import click
import pytest
from click.testing import CliRunner
from helpers import (
    MAN_PAGE,
    MAN_QUESTION,
    MAN_QUOTE,
    SEED_DATE,
    SEED_ID,
    SEED_QUESTION,
    SEED_TITLE,
    copy_seeds,
    qa_command,
    subprocess_env,
)

import qa
from qa.cli import main


def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[list[str], bool]]:
    """Every group and command of the CLI as the words that invoke it, with whether it is a group."""
    paths = [(list(prefix), True)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append(([*prefix, name], False))
    return paths


COMMANDS = [words for words, _ in command_paths()]
LEAF_COMMANDS = [words for words, is_group in command_paths() if not is_group]


def run_qa(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([qa_command(), *map(str, args)], cwd=cwd, env=subprocess_env(), capture_output=True,
                          text=True, encoding="utf-8", timeout=240)


# Subprocesses through the installed console script

@pytest.mark.slow
def test_index_build_prints_a_summary(tmp_path):
    source = copy_seeds(tmp_path / "docs")

    result = run_qa("index", "build", source, "--index", tmp_path / "index", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Indexed 1 documents, 3 chunks in " in result.stdout
    assert " s (3 chunks embedded, 0 reused)" in result.stdout
    assert qa.load_index(tmp_path / "index").manifest["counts"] == {"documents": 1, "chunks": 3}


@pytest.mark.slow
def test_index_info_says_up_to_date(seed_index_dir, tmp_path):
    result = run_qa("index", "info", "--index", seed_index_dir, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "status:     up to date" in result.stdout
    assert "documents:  1   chunks: 3" in result.stdout


@pytest.mark.slow
def test_index_info_names_a_file_added_since_the_build(tmp_path):
    source = copy_seeds(tmp_path / "docs")
    qa.build_index(source, tmp_path / "index")
    (source / "late-news.txt").write_text("A note added after the build about the harbour.", encoding="utf-8")

    result = run_qa("index", "info", "--index", tmp_path / "index", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "stale" in result.stdout
    assert "added: late-news.txt" in result.stdout


@pytest.mark.slow
def test_search_json_returns_hits(seed_index_dir, tmp_path):
    result = run_qa("search", "Kosovo dialogue", "--index", seed_index_dir, "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert hits and all(h["doc_id"] == SEED_ID and h["title"] == SEED_TITLE for h in hits)
    assert "Kosovo" in hits[0]["text"]


@pytest.mark.slow
def test_ask_prints_the_quoted_answer_and_its_source(seed_index_dir, seed_answer, tmp_path):
    result = run_qa("ask", SEED_QUESTION, "--index", seed_index_dir, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == seed_answer.text
    assert "Sources:" in result.stdout
    assert f"[1] {SEED_TITLE} ({SEED_DATE})" in result.stdout


@pytest.mark.slow
def test_ask_shows_a_quote_from_a_man_page_as_one_line(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "gzip.1.txt").write_text(MAN_PAGE, encoding="utf-8")
    assert run_qa("index", "build", tmp_path / "docs", "--index", tmp_path / "index", cwd=tmp_path).returncode == 0

    result = run_qa("ask", MAN_QUESTION, "--index", tmp_path / "index", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    answer = result.stdout.splitlines()[0]
    assert MAN_QUOTE in answer and "  " not in answer


@pytest.mark.slow
def test_ask_without_an_index_fails_with_a_one_line_error(tmp_path):
    result = run_qa("ask", SEED_QUESTION, "--index", tmp_path / "missing", cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: no index at")
    assert "qa index build" in lines[0]


@pytest.mark.slow
def test_ask_prints_nothing_on_stderr_by_default(seed_index_dir, tmp_path):
    # No "Loading weights" bar, no library warnings or log lines: only the answer, on stdout.
    result = run_qa("ask", SEED_QUESTION, "--index", seed_index_dir, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.slow
def test_ask_with_v_shows_log_messages(seed_index_dir, tmp_path):
    result = run_qa("-v", "ask", SEED_QUESTION, "--index", seed_index_dir, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "INFO qa.models.loading: loading embedding model" in result.stderr


@pytest.mark.slow
def test_index_build_shows_its_own_progress_bar_and_no_library_one(tmp_path):
    result = run_qa("index", "build", copy_seeds(tmp_path / "docs"), "--index", tmp_path / "index", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Embedding: 100%" in result.stderr and "chunk/s" in result.stderr  # ours, with throughput
    assert "Loading weights" not in result.stderr


@pytest.mark.slow
def test_console_script_help_lists_the_commands(tmp_path):
    result = run_qa("--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for command in ("index", "search", "ask", "serve"):
        assert command in result.stdout


# In-process through click

@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "qa")
def test_help_works_on_every_command(command):
    result = CliRunner().invoke(main, [*command, "--help"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_the_cli_has_the_documented_commands():
    assert {" ".join(c) for c in COMMANDS} >= {"", "index", "index build", "index update", "index info", "search",
                                               "ask", "serve"}


@pytest.mark.parametrize("command", LEAF_COMMANDS, ids=" ".join)
def test_every_command_accepts_the_settings_options(command):
    result = CliRunner().invoke(main, [*command, "--help"])

    for option in ("--index", "--model", "--chunk-size", "--chunk-overlap", "-k", "--min-score"):
        assert option in result.output


def test_search_prints_ranked_passages(seed_index_dir):
    result = CliRunner().invoke(main, ["search", "Kosovo dialogue", "--index", str(seed_index_dir), "-k", "2"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("[1] ")
    assert f"{SEED_TITLE} ({SEED_DATE}) {SEED_ID}" in result.output
    assert "[3]" not in result.output


def test_ask_json_gives_the_answer_as_data(seed_index_dir, seed_answer):
    result = CliRunner().invoke(main, ["ask", SEED_QUESTION, "--index", str(seed_index_dir), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["text"] == seed_answer.text
    assert data["abstained"] is False
    assert data["citations"][0]["title"] == SEED_TITLE


def test_ask_off_topic_lists_the_closest_passages(seed_index_dir):
    result = CliRunner().invoke(main, ["ask", "Who won the 2018 World Cup?", "--index", str(seed_index_dir)])

    assert result.exit_code == 0, result.output
    assert "documents don't answer" in result.output
    assert "Closest passages (they do not answer the question):" in result.output


def test_ask_with_other_chunk_size_fails_saying_how_to_rebuild(seed_index_dir):
    result = CliRunner().invoke(main, ["ask", SEED_QUESTION, "--index", str(seed_index_dir), "--chunk-size", "500"])

    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "qa index build" in result.output


def test_ask_empty_question_fails_with_a_message(seed_index_dir):
    result = CliRunner().invoke(main, ["ask", "   ", "--index", str(seed_index_dir)])

    assert result.exit_code == 1
    assert "Error: the question is empty" in result.output


def test_index_update_reports_reused_chunks(tmp_path):
    source = copy_seeds(tmp_path / "docs")
    qa.build_index(source, tmp_path / "index")
    (source / "bees.txt").write_text("Honey bees dance to show the hive where the flowers are.", encoding="utf-8")

    result = CliRunner().invoke(main, ["index", "update", str(source), "--index", str(tmp_path / "index")])

    assert result.exit_code == 0, result.output
    assert "Updated 2 documents, 4 chunks" in result.output
    assert "(1 chunks embedded, 3 reused)" in result.output


def test_build_from_empty_folder_fails_with_a_message(tmp_path):
    (tmp_path / "empty").mkdir()

    result = CliRunner().invoke(main, ["index", "build", str(tmp_path / "empty"), "--index", str(tmp_path / "i")])

    assert result.exit_code == 1
    assert "Error: no usable documents" in result.output
