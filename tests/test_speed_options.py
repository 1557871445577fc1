"""Speed and scale options: int8 quantised embeddings, the FAISS structure chosen by size, memory-mapped vectors."""
from __future__ import annotations

import faiss
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import SEEDS_DIR, hit_keys

import qa
from qa.cli import main
from qa.errors import ConfigError, IndexMismatchError
from qa.retrieve.dense import auto_nlist, dense_kind, pq_subquantizers, read_ranges, read_rows
from qa.retrieve.embedding import pool_spans

DOCS = [
    qa.Document("bees", "Honey bees dance to tell the hive where flowers are. A queen lays up to two thousand eggs "
                        "a day. Drones do not sting.", title="Bees"),
    qa.Document("rivers", "The Danube flows through ten countries before the Black Sea. The Rhine rises in the "
                          "Swiss Alps. The Nile is the longest river in Africa.", title="Rivers"),
    qa.Document("bread", "Sourdough bread rises slowly because of wild yeast. Rye flour makes a dense loaf. "
                         "Bakers start before dawn.", title="Baking"),
    qa.Document("owls", "Owls hunt at night using their hearing. Their feathers make almost no sound. "
                        "A barn owl can swallow a mouse whole.", title="Owls"),
]
QUERIES = ["Which river reaches the Black Sea?", "How many eggs does a queen lay?", "silent feathers",
           "wild yeast", "longest river in Africa"]


def all_hits(index: qa.Index) -> list[list[tuple[str, int, int]]]:
    return [hit_keys(index.search(q, k=4)) for q in QUERIES]


@pytest.fixture(scope="module")
def flat_index() -> qa.Index:
    return qa.build_index(DOCS, settings=qa.Settings(retrieval="dense"))


# int8 quantised embeddings

@pytest.fixture(scope="module")
def quantized_dir(tmp_path_factory) -> object:
    index_dir = tmp_path_factory.mktemp("quantized")
    qa.build_index(DOCS, index_dir, qa.Settings(quantize=True))
    return index_dir


def test_quantized_index_builds_and_finds_the_matching_document(quantized_dir):
    index = qa.load_index(quantized_dir, qa.Settings(quantize=True))

    assert index.search("Which river reaches the Black Sea?", k=1)[0].doc_id == "rivers"
    assert index.manifest["settings"]["quantize"] is True


def test_quantized_index_embeds_queries_with_the_quantized_model(quantized_dir):
    index = qa.load_index(quantized_dir, qa.Settings(quantize=True))

    assert index.embedder.quantize is True
    assert any("quantized" in type(m).__module__ for m in index.embedder.model.modules())


def test_quantized_index_is_refused_without_the_option(quantized_dir):
    with pytest.raises(IndexMismatchError, match=r"quantize True \(now False\)"):
        qa.load_index(quantized_dir, qa.Settings())


def test_plain_index_is_refused_with_the_option(seed_index_dir):
    with pytest.raises(IndexMismatchError, match=r"quantize False \(now True\)"):
        qa.load_index(seed_index_dir, qa.Settings(quantize=True))


def test_quantized_vectors_stay_close_to_the_plain_ones(flat_index, quantized_dir):
    quantized = qa.load_index(quantized_dir, qa.Settings(quantize=True))

    cosines = np.sum(np.asarray(quantized.vectors) * flat_index.vectors, axis=1)
    assert cosines.min() > 0.9


def test_quantize_comes_from_the_environment_and_the_command_line(tmp_path):
    assert qa.Settings.from_env({"QA_QUANTIZE": "yes"}).quantize is True

    result = CliRunner().invoke(main, ["index", "build", str(SEEDS_DIR), "--index", str(tmp_path / "ix"),
                                       "--quantize"])

    assert result.exit_code == 0, result.output
    assert qa.load_index(tmp_path / "ix", qa.Settings(quantize=True)).manifest["settings"]["quantize"] is True


def test_an_index_saved_before_the_quantize_setting_loads_as_plain(tmp_path, monkeypatch):
    from qa.index import store

    qa.build_index(DOCS[:1], tmp_path / "ix")
    folder = store.current_generation(tmp_path / "ix")
    manifest = store.read_json(folder / store.MANIFEST)
    del manifest["settings"]["quantize"]
    store.write_json(folder / store.MANIFEST, manifest)

    assert len(qa.load_index(tmp_path / "ix")) == 1


# The FAISS structure

def test_small_indexes_search_exactly(flat_index):
    assert flat_index.manifest["faiss"]["kind"] == "flat"
    assert isinstance(flat_index.dense, faiss.IndexFlatIP)


@pytest.mark.parametrize(("n", "kind"), [(1, "flat"), (10, "flat"), (11, "ivf"), (20, "ivf"), (21, "ivfpq")])
def test_auto_picks_exact_then_8bit_then_product_quantised_codes_by_size(n, kind):
    assert dense_kind(n, qa.Settings(faiss_flat_max=10, faiss_sq8_max=20)) == kind


@pytest.mark.parametrize(("dim", "wanted", "m"), [(384, 64, 64), (768, 64, 64), (100, 64, 50), (7, 64, 7), (384, 5, 4)])
def test_product_quantisation_splits_the_dimension_evenly(dim, wanted, m):
    assert pq_subquantizers(dim, wanted) == m


def test_an_index_above_both_thresholds_gets_ivfpq_recorded_in_the_manifest(tmp_path):
    settings = qa.Settings(faiss_flat_max=5, faiss_sq8_max=6, retrieval="dense")
    qa.build_index(DOCS, tmp_path / "ix", settings)

    index = qa.load_index(tmp_path / "ix", settings)

    assert isinstance(index.dense, faiss.IndexIVFPQ)
    info = index.manifest["faiss"]
    assert (info["kind"], info["type"], info["count"]) == ("ivfpq", "IndexIVFPQ", len(index.vectors))
    assert info["quantizer"] == f"PQ64x{index.dense.pq.nbits}"


def test_an_index_above_the_threshold_gets_ivf_recorded_in_the_manifest(tmp_path):
    settings = qa.Settings(faiss_flat_max=5, retrieval="dense")
    qa.build_index(DOCS, tmp_path / "ix", settings)

    index = qa.load_index(tmp_path / "ix", settings)

    assert isinstance(index.dense, faiss.IndexIVFScalarQuantizer)
    info = index.manifest["faiss"]
    assert (info["kind"], info["type"], info["count"]) == ("ivf", "IndexIVFScalarQuantizer", len(index.vectors))
    assert info["nlist"] == index.dense.nlist == auto_nlist(len(index.vectors))
    assert info["nprobe"] == settings.faiss_nprobe


@pytest.mark.parametrize("kind", ["ivf", "ivfpq", "hnsw"])
def test_an_approximate_index_searching_everything_ranks_like_exact_search(flat_index, kind):
    settings = qa.Settings(faiss_index=kind, faiss_nlist=3, faiss_nprobe=3, retrieval="dense")

    index = qa.build_index(DOCS, settings=settings)

    assert index.manifest["faiss"]["kind"] == kind
    assert all_hits(index) == all_hits(flat_index)
    for q in QUERIES:  # candidates are re-scored with the exact vectors
        assert [h.dense_score for h in index.search(q, k=4)] == \
            pytest.approx([h.dense_score for h in flat_index.search(q, k=4)], abs=1e-6)


def test_hnsw_parameters_are_recorded_in_the_manifest():
    settings = qa.Settings(faiss_index="hnsw", faiss_hnsw_m=8, faiss_ef_construction=20, faiss_ef_search=16)

    info = qa.build_index(DOCS, settings=settings).manifest["faiss"]

    assert (info["type"], info["M"], info["efConstruction"], info["efSearch"]) == ("IndexHNSWSQ", 8, 20, 16)


def test_the_override_survives_saving_and_loading(tmp_path):
    settings = qa.Settings(faiss_index="hnsw")
    qa.build_index(DOCS, tmp_path / "ix", settings)

    assert isinstance(qa.load_index(tmp_path / "ix").dense, faiss.IndexHNSWSQ)


def test_unknown_faiss_index_raises_config_error():
    with pytest.raises(ConfigError, match="faiss_index must be one of"):
        qa.Settings.from_env({"QA_FAISS_INDEX": "annoy"})


# Memory-mapped vectors

def test_loaded_vectors_are_memory_mapped_and_give_the_same_hits(tmp_path, flat_index):
    qa.build_index(DOCS, tmp_path / "ix", flat_index.settings)

    loaded = qa.load_index(tmp_path / "ix", flat_index.settings)

    assert isinstance(loaded.vectors, np.memmap)
    assert all_hits(loaded) == all_hits(flat_index)
    assert loaded.sentence_similarities(loaded.chunks[0].id, flat_index.vectors[0]) == \
        pytest.approx(flat_index.sentence_similarities(flat_index.chunks[0].id, flat_index.vectors[0]))


def test_rows_of_a_memory_mapped_file_are_read_exactly(tmp_path, flat_index):
    qa.build_index(DOCS, tmp_path / "ix", flat_index.settings)
    mapped = qa.load_index(tmp_path / "ix", flat_index.settings).vectors
    rows = np.array([0, 3, 4, len(mapped) - 1])

    assert np.array_equal(read_rows(mapped, rows), flat_index.vectors[rows])
    assert [b.tolist() for b in read_ranges(mapped, [(2, 5), (1, 1), (0, len(mapped))])] == \
        [flat_index.vectors[2:5].tolist(), [], flat_index.vectors.tolist()]
    assert read_rows(mapped, np.array([], dtype=np.int64)).shape == (0, mapped.shape[1])


def test_update_of_a_memory_mapped_index_equals_a_full_build(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc in DOCS:
        (folder / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")
    qa.build_index(folder, tmp_path / "ix")
    (folder / "owls.txt").write_text(DOCS[3].text + " Snowy owls hunt by day.", encoding="utf-8")

    updated = qa.update_index(folder, tmp_path / "ix")

    assert updated.report.reused > 0
    assert all_hits(updated) == all_hits(qa.build_index(folder))


# Sentence pooling

def test_pool_spans_averages_the_tokens_inside_each_span_and_falls_back_when_none():
    tokens = np.array([[[0, 0], [1, 0], [0, 1], [5, 5]]], dtype=np.float32)  # [CLS], "ab", "cd", [SEP]
    offsets = np.array([[[0, 0], [0, 2], [3, 5], [0, 0]]])
    mask = np.ones((1, 4), dtype=np.int64)
    fallback = np.array([[0.6, 0.8]], dtype=np.float32)

    pooled = pool_spans(tokens, offsets, mask, [[(0, 2), (0, 5), (9, 12)]], fallback)

    np.testing.assert_allclose(pooled, [[1, 0], [2 ** -0.5, 2 ** -0.5], [0.6, 0.8]], rtol=1e-6)


# One thread for one query

def test_one_thread_runs_torch_and_faiss_on_one_thread_and_restores_the_counts():
    import torch

    from qa.retrieve.threads import one_thread

    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    with one_thread():
        with one_thread():
            assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (1, 1)
        assert torch.get_num_threads() == 1  # the outer block still runs

    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (2, 2)


# Loading the model from two threads at once (the web app warms it up while a question may arrive)

def test_two_threads_loading_the_model_at_once_share_one_copy():
    import threading

    from qa.models import loading

    loading._load_model.cache_clear()  # as in a fresh process
    loaded: list[object] = []
    threads = [threading.Thread(target=lambda: loaded.append(loading.load_model(qa.Settings().model)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(loaded) == 2 and loaded[0] is loaded[1]


# Batches ordered by token count

def test_passage_vectors_equal_the_models_own_encode_whatever_the_batching():
    embedder = qa.retrieve.embedding.Embedder(batch_size=3)
    texts = [d.text * n for d in DOCS for n in (1, 3)] + ["Pi is 3.14159265358979323846 2718281828 1.41421356."]
    spans = [[(0, len(t))] for t in texts]

    passages, sentences = embedder.encode_passages(texts, spans)

    expected = embedder.model.encode(texts, batch_size=32, normalize_embeddings=True)
    assert np.allclose(passages, expected, atol=1e-5)
    alone = np.concatenate([embedder.encode_passages([t], [s])[1] for t, s in zip(texts, spans, strict=True)])
    assert np.allclose(sentences, alone, atol=1e-5)


def test_batches_go_longest_first_by_tokens_not_characters():
    embedder = qa.retrieve.embedding.Embedder()
    digits = "3.14159 2.71828 1.41421 1.73205"  # few characters, many tokens
    words = "The quiet harbour town slept all night long."  # more characters, fewer tokens

    assert embedder.batch_order([words, digits]) == [1, 0]
    assert embedder.batch_order([]) == []
