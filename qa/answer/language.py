"""The language a question is written in, when it is confidently not English.

The bundled embedding model (all-MiniLM-L6-v2) reads English only: a question in another language finds
nothing close enough and the assistant abstains, although the documents may answer it in English. Naming the
language lets the abstention say why (``qa.answer.answers.abstention``). py3langid (a maintained fork of
langid.py) classifies; its model ships inside its wheel, loads from there, and nothing touches the network.
"""
from __future__ import annotations

import functools
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

# The languages a question is classified among: those sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2
# (the model the abstention suggests) was trained on, plus Bengali, Swahili, Tamil and Telugu. Leaving out
# py3langid's regional varieties (Egyptian Arabic, Wu Chinese, Extremaduran, Nigerian Pidgin...) keeps a
# question's probability on one language instead of spreading it over its neighbours.
LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "gl": "Galician", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi",
    "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ka": "Georgian", "ko": "Korean", "ku": "Kurdish", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian",
    "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian",
    "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}

# Measured with py3langid 0.4 over LANGUAGES: the 10,570 English questions of SQuAD v1.1 dev give English at
# least 0.047 (short ones with foreign names: "How are ergänzungsschulen funded?"), sixty questions written in
# French, German, Spanish, Chinese, Russian and Arabic at most 0.006. 0.02 lies between, with room on both sides.
MAX_ENGLISH = 0.02
MIN_WORDS = 3  # fewer words say too little: "Kosovo?" is no language in particular
# A second language is named too ("Bulgarian or Russian") when it has at least this share of the first one's
# probability: closely related languages are told apart unreliably from a few words.
RUNNER_UP = 0.5
MIN_NAMED = 0.5  # the language(s) named must hold at least this probability, else the language is not named

# Scripts written without spaces between words: each character counts as a word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]")


def question_language(question: str) -> str | None:
    """The English name of the language ``question`` is in ("French", or "Bulgarian or Russian" when two are
    about as likely), or None when it is English, could be, or is too short to tell."""
    if _word_count(question) < MIN_WORDS:
        return None
    # Probabilities among LANGUAGES: py3langid's over all its languages, renormalised (the same as restricting its
    # model with set_languages, without the copy of its tables that would take).
    ranked = [(code, p) for code, p in _identifier().rank(question) if code in LANGUAGES]
    total = sum(p for _, p in ranked) or 1.0
    ranked = [(code, p / total) for code, p in ranked]
    if dict(ranked)["en"] > MAX_ENGLISH:
        return None
    (first, p_first), (second, p_second) = [(code, p) for code, p in ranked if code != "en"][:2]
    named = [first] + ([second] if p_second >= RUNNER_UP * p_first else [])
    if p_first + (p_second if len(named) == 2 else 0.0) < MIN_NAMED:
        return None
    return " or ".join(LANGUAGES[code] for code in named)


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+", _UNSPACED.sub(" ", text))) + len(_UNSPACED.findall(text))


_loading = threading.Lock()  # questions answered at once would otherwise each load the model the first time


def _identifier() -> LanguageIdentifier:
    with _loading:
        return _load_identifier()


@functools.lru_cache(maxsize=1)
def _load_identifier() -> LanguageIdentifier:
    """py3langid's model, with probabilities: loaded the first time a question needs it (under a second, about 75 MB).
    A private instance: py3langid's module-level one stays as other code set it."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
