"""Questions in other languages: the bundled model reads English only, so the assistant cannot tell whether the
documents answer a question in French, Chinese or Russian, and its abstention says so and what to do."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from helpers import OFF_TOPIC_QUESTION, REPO_ROOT, SEED_QUESTION, subprocess_env

from qa.answer.answers import MULTILINGUAL_MODEL, NO_ANSWER, abstention
from qa.answer.language import question_language
from qa.cli import main
from qa.serve.api import AppState, create_api

SQUAD_DEV = REPO_ROOT.parent / "shared" / "eval" / "squad-v1.1" / "dev-v1.1.json"

# The seed question in the three languages of the issue, and the language each must be named as.
SEED_TRANSLATIONS = [
    ("French", "Quelle est la position de la Chine sur le Kosovo ?"),
    ("Chinese", "中国对科索沃的立场是什么？"),
    ("Russian", "Какова позиция Китая по Косово?"),
]

ENGLISH = [
    SEED_QUESTION, OFF_TOPIC_QUESTION, "What does gzip do?", "Who said so?", "And who won the 2018 World Cup?",
    "What did it urge Belgrade and Pristina to do?", "Where is the Eiffel Tower?", "Why is the sky blue?",
    "What is EULEX?", "Is Kosovo recognised by Serbia?", "Define entropy.", "How do I install numpy?",
    "Who is Wu Haitao?", "Name the Denver Broncos quarterback.", "Who wrote Le Petit Prince?",
    "What is the Schrödinger equation?", "What does Pristina want?", "Tell me about the EU mission.",
    # From SQuAD v1.1 dev: the ones py3langid finds least English (foreign names and words), then a few others.
    "How are ergänzungsschulen funded?", "Who designed Salamanca?", "When did Mongke Khan die?",
    "Who was Frédéric Chopin?", "When did Luther write Wir glauben all an einen Gott?", "When was Beyoncé born?",
    "What is retrograde signaling?", "What has a Lama determined to do?", "Who conducted the 2011 online vote?",
    "Taking evidence from witnesses is one of committees' what?", "What was one of the Norman's major exports?",
    "How many Panthers players were chosen for the 2015 season's Pro Bowl?",
]

OTHER_LANGUAGES = [
    *SEED_TRANSLATIONS,
    ("French", "Qui a gagné la Coupe du monde 2018 ?"),
    ("French", "Combien d'habitants compte Paris ?"),
    ("German", "Was ist die Position Chinas zum Kosovo?"),
    ("German", "Wer hat das gesagt?"),
    ("German", "Was macht gzip?"),
    ("Spanish", "¿Cuál es la posición de China sobre Kosovo?"),
    ("Spanish", "¿Dónde está la Torre Eiffel?"),
    ("Spanish", "¿Quién dijo eso?"),
    ("Chinese", "谁赢得了2018年世界杯？"),
    ("Chinese", "gzip 是做什么的？"),
    ("Russian", "Кто выиграл чемпионат мира 2018 года?"),
    ("Russian", "Кто это сказал?"),
    ("Arabic", "ما هو موقف الصين من كوسوفو؟"),
    ("Arabic", "من فاز بكأس العالم 2018؟"),
    ("Arabic", "من قال ذلك؟"),
]


# Telling the language

@pytest.mark.parametrize("question", ENGLISH)
def test_an_english_question_is_in_no_other_language(question):
    assert question_language(question) is None


@pytest.mark.parametrize(("language", "question"), OTHER_LANGUAGES)
def test_a_question_in_another_language_is_named(language, question):
    # Closely related languages may both be named ("Bulgarian or Russian"): the right one must be among them.
    assert language in (question_language(question) or "").split(" or ")


@pytest.mark.parametrize("question", ["Kosovo?", "Pourquoi pas ?", "Warum?", "Косово?", "Quién?"])
def test_too_few_words_name_no_language(question):
    assert question_language(question) is None


@pytest.mark.slow
@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason=f"{SQUAD_DEV} is not here (shared evaluation data)")
def test_every_squad_dev_question_reads_as_english():
    articles = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]
    questions = [q["question"] for a in articles for p in a["paragraphs"] for q in p["qas"]]

    named = {q: question_language(q) for q in questions}

    assert len(questions) == 10_570
    assert {q: name for q, name in named.items() if name is not None} == {}


def test_telling_the_language_never_touches_the_network():
    # A fresh process in which opening any socket fails: the identifier's model must load from its wheel.
    code = ("import socket\n"
            "def refuse(*args, **kwargs): raise OSError('no network in this test')\n"
            "socket.socket = socket.create_connection = socket.getaddrinfo = refuse\n"
            "from qa.answer.language import question_language\n"
            "print(question_language('Quelle est la position de la Chine sur le Kosovo ?'))\n")
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "French"


# What the assistant says

@pytest.fixture(scope="module")
def translated_answers(assistant):
    return {language: assistant.ask(question) for language, question in SEED_TRANSLATIONS}


@pytest.mark.parametrize("language", [language for language, _ in SEED_TRANSLATIONS])
def test_the_seed_question_in_another_language_abstains_naming_the_language(translated_answers, language):
    answer = translated_answers[language]

    assert answer.abstained and not answer.quotes
    assert language in answer.text.split(", but")[0]
    assert "reads English only" in answer.text


@pytest.mark.parametrize("language", [language for language, _ in SEED_TRANSLATIONS])
def test_the_language_abstention_says_how_to_ask_in_another_language(translated_answers, language):
    text = translated_answers[language].text

    assert "Ask in English" in text
    assert "QA_MODEL" in text and "--model" in text and MULTILINGUAL_MODEL in text
    assert "rebuild the index" in text


@pytest.mark.parametrize("language", [language for language, _ in SEED_TRANSLATIONS])
def test_the_language_abstention_does_not_say_the_documents_do_not_answer(translated_answers, language):
    # They do answer, in English: only the model cannot tell.
    assert not translated_answers[language].text.startswith(NO_ANSWER[:-1])


def test_the_english_seed_question_is_still_answered(seed_answer):
    assert not seed_answer.abstained
    assert seed_answer.text.startswith("\u201c")


def test_an_off_topic_english_question_still_gets_no_answer(assistant):
    answer = assistant.ask(OFF_TOPIC_QUESTION)

    assert answer.abstained
    assert answer.text == NO_ANSWER


def test_another_model_than_the_bundled_one_gets_the_plain_abstention():
    # A model the user chose may read French: if it still found nothing, the documents do not answer.
    assert abstention(SEED_TRANSLATIONS[0][1], MULTILINGUAL_MODEL) == NO_ANSWER


# Where it is shown

def test_the_http_api_returns_the_language_abstention_as_the_answer(assistant, translated_answers):
    client = TestClient(create_api(AppState(assistant)))

    body = client.post("/ask", json={"question": SEED_TRANSLATIONS[0][1]}).json()

    assert body["abstained"] is True
    assert body["answer"] == translated_answers["French"].text


def test_qa_ask_prints_the_language_abstention(seed_index_dir, translated_answers):
    result = CliRunner().invoke(main, ["ask", SEED_TRANSLATIONS[1][1], "--index", str(seed_index_dir)])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == translated_answers["Chinese"].text
