"""Starting the web chat: a busy port is one clear line saying how to choose another, never a traceback; a first run
says what it builds without warnings or library bars; a missing document folder names where it was looked for."""
from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import REPO_ROOT, copy_seeds, free_port, qa_command, subprocess_env
from server_process import server_process

from qa.errors import ConfigError, PortBusyError
from qa.serve.server import check_port, env_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a real listening socket, as another Gradio app would hold 7860."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_check_port_names_the_port_and_how_to_choose_another(busy_port):
    with pytest.raises(PortBusyError) as err:
        check_port("127.0.0.1", busy_port)

    message = str(err.value)
    assert f"127.0.0.1:{busy_port}" in message
    assert f"QA_PORT={busy_port + 1} make run" in message and f"qa serve --port {busy_port + 1}" in message


def test_a_free_port_passes_the_check():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check_port("127.0.0.1", port)  # released: nothing raised


@pytest.mark.parametrize(("environ", "port"), [
    ({}, 7860),
    ({"QA_PORT": "7999"}, 7999),
    ({"GRADIO_SERVER_PORT": "7870"}, 7870),
    ({"QA_PORT": "7999", "GRADIO_SERVER_PORT": "7870"}, 7999),
    ({"QA_PORT": " ", "GRADIO_SERVER_PORT": "7870"}, 7870),
])
def test_the_port_comes_from_qa_port_then_gradio_server_port(environ, port):
    assert env_port(environ) == port


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_bad_port_setting_names_the_variable_and_value(value):
    with pytest.raises(ConfigError, match=f"QA_PORT must be a port number.*{value!r}"):
        env_port({"QA_PORT": value})


def _one_line_error(result: subprocess.CompletedProcess[str], port: int) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert f":{port}" in errors[0] and f"QA_PORT={port + 1} make run" in errors[0]
    return errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["QA_PORT", "GRADIO_SERVER_PORT"])
def test_app_py_on_a_busy_port_prints_one_line_and_exits(busy_port, variable, tmp_path):
    env = subprocess_env() | {variable: str(busy_port), "QA_SOURCE_DIR": str(copy_seeds(tmp_path / "docs")),
                              "QA_INDEX_DIR": str(tmp_path / "index")}
    result = subprocess.run([sys.executable, str(REPO_ROOT / "app.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)

    _one_line_error(result, busy_port)
    assert not (tmp_path / "index").exists()  # refused before any work


@pytest.mark.slow
def test_qa_serve_on_a_busy_port_prints_one_line_and_exits(busy_port, tmp_path):
    docs = copy_seeds(tmp_path / "docs")
    result = subprocess.run([qa_command(), "serve", str(docs), "--port", str(busy_port), "--index",
                             str(tmp_path / "index")], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                            text=True, timeout=300)

    _one_line_error(result, busy_port)


# The first run, and a missing document folder

@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> str:
    """Everything `python app.py` printed on its first run (no index yet) over a copy of the seeds, until it served."""
    root = tmp_path_factory.mktemp("first-run")
    with server_process("app.py", root) as server:
        pass
    return server.output()


@pytest.mark.slow
def test_the_first_run_says_at_info_that_it_builds_the_index_from_the_documents(first_run):
    assert "INFO qa.index.build: no index at " in first_run
    assert "yet: building one from the documents in " in first_run and "(1 file)" in first_run


@pytest.mark.slow
def test_the_first_run_logs_no_warning(first_run):
    # It builds the index itself: nothing for the user to do.
    assert [line for line in first_run.splitlines() if "WARNING" in line] == []


@pytest.mark.slow
def test_the_first_run_shows_the_build_progress_but_no_loading_weights_bar(first_run):
    assert "Embedding: 100%" in first_run
    assert "Loading weights" not in first_run


@pytest.mark.slow
def test_qa_serve_without_a_document_folder_names_the_folder_it_looked_for_and_how_to_name_another(tmp_path):
    # Outside the repository there is no seeds/, the document folder by default.
    result = subprocess.run([qa_command(), "serve", "--index", str(tmp_path / "index"), "--port", str(free_port())],
                            cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300,
                            check=False)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "WARNING" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"{(tmp_path / 'seeds').resolve()} does not exist" in error
    assert "'seeds' is the default document folder" in error
    assert "`qa serve FOLDER`" in error and "QA_SOURCE_DIR=FOLDER" in error and "QA_INDEX_DIR" in error
