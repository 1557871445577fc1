"""Sign-in and read-only: 401 on every surface without valid credentials, refusal to serve openly beyond
loopback, and a read-only server that refuses writes and writes nothing."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers import PENGUINS, REPO_ROOT, SEED_ID, SEED_QUESTION, copy_seeds, subprocess_env
from live_server import basic, serving

import qa
from qa.cli import main
from qa.errors import ConfigError
from qa.serve.auth import Users, check_exposure, is_loopback, parse_users, read_users_file

ALICE, ALICE_PASSWORD = "alice", "through the looking-glass"
BOB, BOB_PASSWORD = "bob", "pa:ss:word"  # a password may hold colons


# --- users and passwords ---------------------------------------------------------------------------------------

def test_users_come_from_the_setting_and_the_users_file(tmp_path):
    users_file = tmp_path / "users"
    users_file.write_text(f"# who may sign in\n\n{BOB}:{BOB_PASSWORD}\n", encoding="utf-8")

    users = Users.from_settings(qa.Settings(auth=f"{ALICE}:{ALICE_PASSWORD},carol:c", auth_file=str(users_file)))

    assert users.passwords == {ALICE: ALICE_PASSWORD, "carol": "c", BOB: BOB_PASSWORD}
    assert Users.from_settings(qa.Settings()) is None


@pytest.mark.parametrize("entry", ["alice", ":secret", "alice:"], ids=["no-colon", "no-user", "no-password"])
def test_malformed_user_entry_is_refused_without_showing_the_password(entry):
    with pytest.raises(ConfigError, match="USER:PASS") as caught:
        parse_users([entry])

    assert "secret" not in str(caught.value)


def test_unreadable_or_empty_users_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the users file"):
        read_users_file(tmp_path / "missing")
    (tmp_path / "empty").write_text("# nobody\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no USER:PASS"):
        read_users_file(tmp_path / "empty")


def test_only_the_right_password_for_the_user_is_accepted():
    users = Users({ALICE: ALICE_PASSWORD, BOB: BOB_PASSWORD})

    assert users.check(ALICE, ALICE_PASSWORD) and users.check(BOB, BOB_PASSWORD)
    assert not users.check(ALICE, BOB_PASSWORD)
    assert not users.check("mallory", ALICE_PASSWORD)
    assert not users.check(ALICE, ALICE_PASSWORD + " ")


@pytest.mark.parametrize("header", [None, "", "Basic", "Basic !!!", "Bearer abc", "Basic " + "YWxpY2U="],
                         ids=["none", "empty", "no-token", "not-base64", "bearer", "no-colon"])
def test_malformed_authorization_header_names_no_user(header):
    assert Users({ALICE: ALICE_PASSWORD}).check_header(header) is None


def test_password_is_not_in_the_settings_repr():
    assert ALICE_PASSWORD not in repr(qa.Settings(auth=f"{ALICE}:{ALICE_PASSWORD}"))


# --- serving beyond loopback -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True),
                                                ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.20", False), ("example.org", False)])
def test_loopback_addresses_are_told_apart(host, loopback):
    assert is_loopback(host) is loopback


def test_public_address_without_sign_in_is_refused_saying_how_to_allow_it():
    with pytest.raises(ConfigError, match="0.0.0.0") as caught:
        check_exposure("0.0.0.0", None, no_auth=False)

    assert "--auth" in str(caught.value) and "--no-auth" in str(caught.value)
    check_exposure("0.0.0.0", None, no_auth=True)  # explicitly open
    check_exposure("0.0.0.0", Users({ALICE: ALICE_PASSWORD}), no_auth=False)
    check_exposure("127.0.0.1", None, no_auth=False)


def test_qa_serve_on_a_public_address_without_auth_stops_before_any_work(tmp_path):
    index_dir = tmp_path / "index"

    result = CliRunner().invoke(main, ["serve", str(copy_seeds(tmp_path / "docs")), "--host", "0.0.0.0",
                                       "--port", "1", "--index", str(index_dir)])

    assert result.exit_code == 1
    assert "--auth USER:PASS" in result.output and "--no-auth" in result.output
    assert not index_dir.exists()


def test_app_py_on_a_public_address_without_auth_exits_with_one_line(tmp_path):
    env = {**subprocess_env(), "QA_HOST": "0.0.0.0", "QA_PORT": "1", "QA_INDEX_DIR": str(tmp_path / "index")}

    done = subprocess.run([sys.executable, str(REPO_ROOT / "app.py")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)

    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0 without sign-in" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "index").exists()


# --- a real server with sign-in, read-only ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("secured")
    users_file = root / "users.txt"
    users_file.write_text(f"{BOB}:{BOB_PASSWORD}\n", encoding="utf-8")
    docs = copy_seeds(root / "docs")
    with serving(docs, root / "index", auth=f"{ALICE}:{ALICE_PASSWORD}", auth_file=str(users_file),
                 read_only=True) as server:
        yield server


SURFACES = [("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/api/health"),
            ("GET", "/api/documents"), ("GET", "/api/docs"), ("POST", "/api/ask"), ("POST", "/api/search"),
            ("POST", "/api/documents"), ("DELETE", f"/api/documents/{SEED_ID}"), ("POST", "/mcp")]
BAD_CREDENTIALS = {"missing": {}, "wrong-password": basic(ALICE, BOB_PASSWORD), "unknown-user": basic("mallory", "x"),
                   "not-basic": {"Authorization": f"Bearer {ALICE_PASSWORD}"}}


@pytest.mark.slow
@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize(("method", "path"), SURFACES, ids=[f"{m} {p}" for m, p in SURFACES])
def test_every_surface_needs_valid_credentials(secured, method, path, headers):
    response = httpx.request(method, secured.url + path, headers=headers, json={"question": SEED_QUESTION},
                             timeout=30)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="qa", charset="UTF-8"'
    assert response.json()["error"] == "unauthorized"


@pytest.mark.slow
@pytest.mark.parametrize(("user", "password"), [(ALICE, ALICE_PASSWORD), (BOB, BOB_PASSWORD)])
def test_each_user_signs_in_to_the_page_and_the_api(secured, user, password):
    with httpx.Client(base_url=secured.url, headers=basic(user, password), timeout=120) as http:
        assert http.get("/").status_code == 200
        assert http.get("/config").status_code == 200
        answer = http.post("/api/ask", json={"question": SEED_QUESTION})
        assert answer.status_code == 200 and answer.json()["quotes"]


@pytest.mark.slow
def test_chat_answers_through_gradio_client_only_with_credentials(secured, seed_answer):
    from gradio_client import Client

    client = Client(secured.url + "/", headers=basic(ALICE, ALICE_PASSWORD), verbose=False, download_files=False)
    messages = client.predict(SEED_QUESTION, api_name="/chat")
    assert seed_answer.quotes[0].text in messages[0]["content"]
    with pytest.raises(Exception, match="credentials"):
        Client(secured.url + "/", verbose=False, download_files=False)


@pytest.mark.slow
def test_passwords_are_never_logged(secured, caplog):
    caplog.set_level(logging.DEBUG)

    httpx.get(secured.url + "/api/health", headers=basic(ALICE, "not-" + ALICE_PASSWORD), timeout=30)
    httpx.get(secured.url + "/api/health", headers=basic(ALICE, ALICE_PASSWORD), timeout=30)

    assert "refused http /api/health" in caplog.text
    assert ALICE_PASSWORD not in caplog.text


# --- read-only -------------------------------------------------------------------------------------------------

def folder_state(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_read_only_refuses_uploads_with_a_clear_message_and_writes_nothing(secured):
    docs_before, index_before = folder_state(secured.docs), folder_state(secured.index_dir)

    response = httpx.post(secured.url + "/api/documents", headers=basic(ALICE, ALICE_PASSWORD), timeout=60,
                          files=[("files", ("penguins.txt", PENGUINS.encode(), "text/plain"))])

    assert response.status_code == 403
    assert response.json() == {"error": "read_only", "message": "this server is read-only (--read-only or "
                               "QA_READ_ONLY): documents cannot be added or removed"}
    assert folder_state(secured.docs) == docs_before
    assert folder_state(secured.index_dir) == index_before


@pytest.mark.slow
def test_read_only_page_refuses_gradio_uploads_too(secured):
    response = httpx.post(secured.url + "/gradio_api/upload", headers=basic(ALICE, ALICE_PASSWORD), timeout=60,
                          files=[("files", ("penguins.txt", PENGUINS.encode(), "text/plain"))])

    assert response.status_code == 403
    assert response.json()["error"] == "read_only"


@pytest.mark.slow
def test_read_only_refuses_removal_and_writes_nothing(secured):
    docs_before, index_before = folder_state(secured.docs), folder_state(secured.index_dir)

    response = httpx.delete(f"{secured.url}/api/documents/{SEED_ID}", headers=basic(BOB, BOB_PASSWORD), timeout=60)

    assert response.status_code == 403
    assert response.json()["error"] == "read_only"
    assert folder_state(secured.docs) == docs_before
    assert folder_state(secured.index_dir) == index_before


@pytest.mark.slow
def test_read_only_still_lists_the_documents(secured):
    response = httpx.get(f"{secured.url}/api/documents", headers=basic(BOB, BOB_PASSWORD), timeout=60)

    assert [d["name"] for d in response.json()["documents"]] == [SEED_ID]


@pytest.mark.slow
def test_read_only_page_has_no_upload_and_health_says_so(secured):
    from gradio_client import Client

    client = Client(secured.url + "/", headers=basic(BOB, BOB_PASSWORD), verbose=False, download_files=False)
    assert "/upload" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    health = httpx.get(secured.url + "/api/health", headers=basic(BOB, BOB_PASSWORD), timeout=30).json()
    assert (health["read_only"], health["uploads"]) == (True, False)
