"""Sentence-aware chunking: exact offsets, the size limit, overlap, and setting checks."""
from __future__ import annotations

import pytest

import qa
from qa.errors import ConfigError
from qa.ingest.chunking import chunk_document, split_sentences

SIZES = [(1000, 200), (300, 100), (120, 0)]


def unicode_text() -> str:
    """Several paragraphs mixing accents, CJK (no spaces), emoji and odd whitespace."""
    paragraphs = []
    for i in range(12):
        paragraphs.append(
            f"Paragraph {i}: the café on the Île de la Cité served crème brûlée to {i} naïve tourists. "
            f"Zoë and Ångström argued über Gödel’s theorem — “why?” — until dawn 🌅. "
            f"東京の天気は晴れです。明日は雨が降るでしょう。北京欢迎你！ "
            f"Emoji run: 😀🎉👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 then a tab\tand a non-breaking\u00a0space."
        )
    return "\n\n".join(paragraphs) + "\n"


@pytest.fixture(scope="module")
def unicode_doc() -> qa.Document:
    return qa.Document("unicode.txt", unicode_text(), title="Unicode")


def test_seed_chunks_are_exact_slices_of_the_document(seed_index):
    assert seed_index.chunks
    for chunk in seed_index.chunks:
        assert chunk.text == seed_index.documents[chunk.doc_id].text[chunk.start:chunk.end]


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_unicode_chunks_are_exact_slices_of_the_document(unicode_doc, size, overlap):
    chunks = chunk_document(unicode_doc, size, overlap)

    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text == unicode_doc.text[chunk.start:chunk.end]


def test_sentence_offsets_survive_unicode(unicode_doc):
    spans = split_sentences(unicode_doc.text)

    texts = [unicode_doc.text[s.start:s.end] for s in spans]
    assert "東京の天気は晴れです。" in texts
    assert any(t.startswith("Zoë and Ångström") and t.endswith("dawn 🌅.") for t in texts)


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_chunk_sentences_are_ordered_spans_inside_the_chunk(unicode_doc, size, overlap):
    sentence_spans = {(s.start, s.end) for s in split_sentences(unicode_doc.text)}

    for chunk in chunk_document(unicode_doc, size, overlap):
        assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
        assert list(chunk.sentences) == sorted(chunk.sentences)
        for start, end in chunk.sentences:
            assert (start, end) in sentence_spans or end - start <= size  # pieces of a cut sentence


def test_saved_chunks_keep_their_sentence_offsets(seed_index):
    doc = seed_index.documents[seed_index.chunks[0].doc_id]

    assert [c.sentences for c in seed_index.chunks] == [c.sentences for c in chunk_document(doc, 1000, 200)]


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_chunks_never_exceed_chunk_size(unicode_doc, size, overlap):
    chunks = chunk_document(unicode_doc, size, overlap)

    assert max(len(c.text) for c in chunks) <= size


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_chunks_cover_every_sentence(unicode_doc, size, overlap):
    chunks = chunk_document(unicode_doc, size, overlap)

    for span in split_sentences(unicode_doc.text):
        assert any(c.start <= span.start and span.end <= c.end for c in chunks), unicode_doc.text[span.start:span.end]


def test_chunks_end_on_sentence_boundaries(unicode_doc):
    ends = {s.end for s in split_sentences(unicode_doc.text)}

    for chunk in chunk_document(unicode_doc, 300, 100):
        assert chunk.end in ends


def test_overlong_sentence_is_cut_to_chunk_size():
    words = " ".join(f"word{i}" for i in range(600))  # one sentence of about 4,000 characters
    doc = qa.Document("long.txt", f"A short opening line. {words} ends here. A short closing line.")

    chunks = chunk_document(doc, 500, 100)

    assert len(chunks) >= 8
    assert max(len(c.text) for c in chunks) <= 500
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start:chunk.end]
    assert all(f"word{i}" in " ".join(c.text for c in chunks).split() for i in range(600))


def test_overlong_text_without_spaces_is_cut_to_chunk_size():
    doc = qa.Document("cjk.txt", "東" * 1234)

    chunks = chunk_document(doc, 100, 20)

    assert max(len(c.text) for c in chunks) <= 100
    assert sum(len(c.text) for c in chunks) >= 1234


def test_consecutive_chunks_repeat_sentences_as_overlap():
    text = " ".join(f"Sentence number {i} is about the weather today." for i in range(40))
    doc = qa.Document("short-sentences.txt", text)
    sentences = split_sentences(doc.text)

    chunks = chunk_document(doc, 300, 120)

    assert len(chunks) > 3
    for before, after in zip(chunks, chunks[1:]):
        repeated = [s for s in sentences if after.start <= s.start and s.end <= before.end]
        assert repeated, f"chunk {after.position} repeats no sentence of chunk {before.position}"
        assert before.end - after.start <= 120


def test_zero_overlap_repeats_nothing(unicode_doc):
    chunks = chunk_document(unicode_doc, 300, 0)

    for before, after in zip(chunks, chunks[1:]):
        assert after.start >= before.end


def test_chunk_ids_are_deterministic(unicode_doc):
    first = [c.id for c in chunk_document(unicode_doc, 300, 100)]
    second = [c.id for c in chunk_document(unicode_doc, 300, 100)]

    assert first == second
    assert len(set(first)) == len(first)


@pytest.mark.parametrize(("size", "overlap"), [(500, 500), (500, 800), (500, -1)])
def test_invalid_overlap_raises_config_error(size, overlap):
    with pytest.raises(ConfigError, match="chunk_overlap"):
        qa.Settings(chunk_size=size, chunk_overlap=overlap)


def test_tiny_chunk_size_raises_config_error():
    with pytest.raises(ConfigError, match="chunk_size must be at least"):
        qa.Settings(chunk_size=10, chunk_overlap=0)


def test_config_error_is_a_qa_error():
    with pytest.raises(qa.QAError):
        qa.Settings().replace(chunk_overlap=5000)
