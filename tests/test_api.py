"""The HTTP JSON API: a real server (the app `qa serve` builds) on loopback, driven with httpx."""
from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from helpers import (
    LIGHTHOUSE,
    MAN_PAGE,
    MAN_QUESTION,
    MAN_QUOTE,
    OFF_TOPIC_QUESTION,
    PENGUINS,
    SEED_DATE,
    SEED_ID,
    SEED_QUESTION,
    SEED_TITLE,
    URGE_QUESTION,
    URGED,
    copy_seeds,
)
from live_server import serving

import qa

pytestmark = pytest.mark.slow

UPLOAD_MAX_MB = 0.0625  # 64 kB: a small limit, so "too large" needs only a 74 kB file
PENGUIN_QUESTION = "Where do emperor penguins breed?"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    with serving(copy_seeds(root / "docs"), root / "index", upload_max_mb=UPLOAD_MAX_MB) as server:
        yield server


@pytest.fixture(scope="module")
def http(live):
    with httpx.Client(base_url=live.url, timeout=120) as client:
        yield client


def folder_state(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert all(word in body["message"] for word in words), body["message"]
    assert "Traceback" not in response.text


# --- ask -----------------------------------------------------------------------------------------------------

def test_ask_answers_with_quotes_whose_offsets_point_into_the_document(http, seed_index, seed_answer):
    response = http.post("/api/ask", json={"question": SEED_QUESTION})

    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is False
    assert body["answer"] == seed_answer.text
    assert body["quotes"] and len(body["quotes"]) == len(seed_answer.quotes)
    for quote in body["quotes"]:
        assert seed_index.documents[quote["doc_id"]].text[quote["start"]:quote["end"]] == quote["text"]
        assert f"\u201c{quote['shown']}\u201d [{quote['citation']}]" in body["answer"]
    [citation] = body["citations"]
    assert (citation["number"], citation["doc_id"], citation["title"], citation["date"]) == \
        (1, SEED_ID, SEED_TITLE, SEED_DATE)
    assert body["timing"]["total_ms"] > 0


def test_ask_off_topic_abstains_and_gives_the_closest_passages(http):
    body = http.post("/api/ask", json={"question": OFF_TOPIC_QUESTION}).json()

    assert body["abstained"] is True
    assert body["quotes"] == [] and body["citations"] == []
    assert "don't answer" in body["answer"]
    assert body["passages"] and body["passages"][0]["doc_id"] == SEED_ID


def test_ask_k_sets_the_number_of_passages(http):
    one = http.post("/api/ask", json={"question": SEED_QUESTION, "k": 1}).json()
    three = http.post("/api/ask", json={"question": SEED_QUESTION, "k": 3}).json()

    assert len(one["passages"]) == 1
    assert len(three["passages"]) == 3  # the seed index has 3 passages


@pytest.mark.parametrize(("body", "words"), [
    ({"question": ""}, ["empty"]),
    ({"question": "   \n "}, ["empty"]),
    ({"question": "Kosovo? " * 500}, ["limit"]),
    ({}, ["question", "required"]),
    ({"question": 42}, ["question"]),
    ({"question": SEED_QUESTION, "k": 0}, ["k"]),
    ({"question": SEED_QUESTION, "k": "many"}, ["k"]),
], ids=["empty", "blank", "too-long", "missing", "not-text", "k-zero", "k-not-a-number"])
def test_bad_question_gets_400_with_a_message(http, body, words):
    assert_error(http.post("/api/ask", json=body), 400, "bad_request", *words)


def test_body_that_is_not_json_gets_400(http):
    response = http.post("/api/ask", content=b"question=Kosovo", headers={"content-type": "application/json"})

    assert_error(response, 400, "bad_request", "JSON")


def test_a_follow_up_is_read_in_the_conversation_it_is_sent_with(http):
    first = http.post("/api/ask", json={"question": SEED_QUESTION}).json()
    history = [{"role": "user", "content": SEED_QUESTION}, {"role": "assistant", "content": first["answer"]}]

    alone = http.post("/api/ask", json={"question": URGE_QUESTION}).json()
    response = http.post("/api/ask", json={"question": URGE_QUESTION, "history": history})

    body = response.json()
    assert response.status_code == 200 and alone["interpretation"] is None
    assert not body["abstained"] and body["interpretation"]["turns_used"] == 1
    assert any(sentence in body["answer"] for sentence in URGED)


def test_empty_history_is_accepted(http):
    assert http.post("/api/ask", json={"question": SEED_QUESTION, "history": []}).status_code == 200


# --- search, documents, health, docs -------------------------------------------------------------------------

def test_search_returns_ranked_hits_with_offsets(http, seed_index):
    body = http.post("/api/search", json={"query": "Kosovo dialogue", "k": 2}).json()

    assert [h["rank"] for h in body["hits"]] == [1, 2]
    for hit in body["hits"]:
        assert seed_index.documents[hit["doc_id"]].text[hit["start"]:hit["end"]] == hit["text"]
    assert body["hits"][0]["score"] >= body["hits"][1]["score"]


def test_search_with_an_empty_query_gets_400(http):
    assert_error(http.post("/api/search", json={"query": " "}), 400, "bad_request")


def test_documents_lists_the_seed_document(http, live):
    documents = {d["name"]: d for d in http.get("/api/documents").json()["documents"]}

    assert documents[SEED_ID]["title"] == SEED_TITLE
    assert documents[SEED_ID]["date"] == SEED_DATE
    assert documents[SEED_ID]["size_bytes"] == (live.docs / SEED_ID).stat().st_size
    assert (documents[SEED_ID]["status"], documents[SEED_ID]["passages"]) == ("indexed", 3)


def test_health_says_ok_with_the_index_size(http):
    body = http.get("/api/health").json()

    assert body["status"] == "ok"
    assert body["documents"] >= 1 and body["passages"] >= 3
    assert (body["read_only"], body["uploads"]) == (False, True)


def test_openapi_docs_are_served_under_api(http):
    assert "swagger" in http.get("/api/docs").text.lower()
    schema = http.get("/api/openapi.json").json()
    assert {"/ask", "/search", "/documents", "/health"} <= set(schema["paths"])
    assert schema["servers"] == [{"url": "/api"}]


def test_unknown_api_route_gets_404_json(http):
    assert_error(http.get("/api/nothing-here"), 404, "not_found", "/api/nothing-here", "/api/docs")


def test_wrong_method_gets_405_json(http):
    assert_error(http.get("/api/ask"), 405, "method_not_allowed", "GET")


# --- uploads -------------------------------------------------------------------------------------------------

def test_uploaded_document_is_listed_and_answers_questions(http, live):
    response = http.post("/api/documents", files=[("files", ("penguins.txt", PENGUINS.encode(), "text/plain"))])

    assert response.status_code == 201, response.text
    [result] = response.json()["results"]
    assert (result["status"], result["saved_as"]) == ("added", "penguins.txt")
    assert (live.docs / "penguins.txt").read_text(encoding="utf-8") == PENGUINS
    assert "penguins.txt" in {d["name"] for d in http.get("/api/documents").json()["documents"]}
    answer = http.post("/api/ask", json={"question": PENGUIN_QUESTION}).json()
    assert answer["abstained"] is False
    assert answer["quotes"][0]["doc_id"] == "penguins.txt"


def test_quotes_from_a_man_page_are_shown_as_prose_with_exact_offsets(http, live):
    add(http, "gzip.1.txt", MAN_PAGE)

    body = http.post("/api/ask", json={"question": MAN_QUESTION}).json()

    quote = next(q for q in body["quotes"] if q["doc_id"] == "gzip.1.txt")
    assert MAN_PAGE[quote["start"]:quote["end"]] == quote["text"] and "\n" in quote["text"]
    assert MAN_QUOTE in quote["shown"] and MAN_QUOTE in body["answer"]
    assert not re.search(r"\n|  ", body["answer"])


def test_uploading_a_file_already_there_gets_200_and_adds_nothing(http, live):
    seed = (live.docs / SEED_ID).read_bytes()
    before = folder_state(live.docs)

    response = http.post("/api/documents", files=[("files", ("copy.txt", seed, "text/plain"))])

    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "duplicate"
    assert folder_state(live.docs) == before


def test_upload_of_only_unusable_files_gets_400_naming_each(http, live):
    before = folder_state(live.docs)

    response = http.post("/api/documents", files=[("files", ("run.exe", b"MZ\x90\x00", "application/octet-stream")),
                                                  ("files", ("empty.txt", b"   \n", "text/plain"))])

    assert_error(response, 400, "bad_request", "run.exe", "empty.txt")
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
    assert folder_state(live.docs) == before


def test_file_over_the_upload_limit_gets_413_and_nothing_is_written(http, live):
    before = folder_state(live.docs)
    big = ("The lighthouse keeper counted ships. " * 2000).encode()  # 74 kB, over 64 kB

    response = http.post("/api/documents", files=[("files", ("small.txt", PENGUINS.encode() + b"x", "text/plain")),
                                                  ("files", ("big.txt", big, "text/plain"))])

    assert_error(response, 413, "too_large", "big.txt", "0.0625 MB")
    assert folder_state(live.docs) == before


def test_upload_far_over_the_limit_is_refused_before_it_is_read(http, live):
    before = folder_state(live.docs)
    huge = b"a" * (3 * 1024 * 1024)  # more than 10 files of 64 kB plus the form's overhead

    response = http.post("/api/documents", files=[("files", ("huge.txt", huge, "text/plain"))])

    assert_error(response, 413, "too_large", "nothing was added")
    assert folder_state(live.docs) == before


def test_upload_without_files_gets_400(http):
    assert_error(http.post("/api/documents", data={"other": "x"}), 400, "bad_request", "files")


# --- removal -------------------------------------------------------------------------------------------------

def add(http, name: str, text: str) -> None:
    response = http.post("/api/documents", files=[("files", (name, text.encode(), "text/plain"))])
    assert response.json()["results"][0]["status"] == "added", response.text


def test_removed_document_goes_to_the_trash_and_out_of_the_answers(http, live):
    add(http, "lighthouse.md", LIGHTHOUSE)

    response = http.delete("/api/documents/lighthouse.md")

    assert response.status_code == 200, response.text
    assert response.json() == {"name": "lighthouse.md", "removed": True, "message": "moved to .trash/lighthouse.md",
                               "trash_path": ".trash/lighthouse.md"}
    assert not (live.docs / "lighthouse.md").exists()
    assert (live.docs / ".trash" / "lighthouse.md").read_text(encoding="utf-8") == LIGHTHOUSE
    assert "lighthouse.md" not in {d["name"] for d in http.get("/api/documents").json()["documents"]}
    hits = http.post("/api/search", json={"query": "lighthouse keeper ships", "k": 5}).json()["hits"]
    assert "lighthouse.md" not in {h["doc_id"] for h in hits}


def test_removal_with_delete_true_deletes_the_file(http, live):
    add(http, "sub dir note.txt", "The orchard keeper grafted seven apple varieties onto one old tree.\n")

    response = http.delete("/api/documents/sub dir note.txt", params={"delete": "true"})

    assert response.status_code == 200, response.text
    assert (response.json()["message"], response.json()["trash_path"]) == ("deleted", None)
    assert not (live.docs / "sub dir note.txt").exists()
    assert not (live.docs / ".trash" / "sub dir note.txt").exists()


@pytest.mark.parametrize("name", ["no-such-file.txt", "..%2Foutside.txt", ".trash/lighthouse.md"],
                         ids=["unknown", "outside", "in-the-trash"])
def test_removing_an_unknown_document_gets_404_and_changes_nothing(http, live, name):
    before = folder_state(live.docs)

    response = http.delete(f"/api/documents/{name}")

    assert_error(response, 404, "not_found", "no document named")
    assert folder_state(live.docs) == before


# --- an index that cannot be read ----------------------------------------------------------------------------

def test_index_damaged_on_disk_after_loading_gives_503(tmp_path):
    docs = copy_seeds(tmp_path / "docs")
    qa.build_index(docs, tmp_path / "index")  # built beforehand, so the server loads it from disk
    with serving(docs, tmp_path / "index") as server:
        for vectors in tmp_path.joinpath("index").rglob("vectors.npy"):
            # Cut short in place (a deleted file would still be read: the server holds it open), so the rows
            # the server re-scores are no longer there.
            os.truncate(vectors, 128)
        response = httpx.post(f"{server.url}/api/ask", json={"question": SEED_QUESTION}, timeout=120)

    assert_error(response, 503, "index_not_ready", "rebuild")


def test_a_ranker_that_cannot_be_loaded_gives_503_naming_the_setting_not_the_index(tmp_path):
    with serving(copy_seeds(tmp_path / "docs"), tmp_path / "index", ranker="/no/such/ranker") as server:
        response = httpx.post(f"{server.url}/api/ask", json={"question": SEED_QUESTION}, timeout=120)

    assert_error(response, 503, "model_not_loaded", "/no/such/ranker", "QA_RANKER")
    assert "index" not in response.json()["message"]


def test_without_a_library_requests_answer_from_the_followed_index(tmp_path):
    from qa.library.live import LiveAssistant
    from qa.serve.api import AppState

    docs = copy_seeds(tmp_path / "docs")
    started = qa.Assistant(qa.build_index(docs, tmp_path / "index"))
    follow = LiveAssistant(started)
    state = AppState(started, library=None, follow=follow)
    (docs / "penguins.txt").write_text(PENGUINS, encoding="utf-8")

    follow.use_index(qa.update_index(docs, tmp_path / "index"))

    assert state.live is follow.assistant and "penguins.txt" in state.live.index.documents
