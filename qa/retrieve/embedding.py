"""Sentence-transformers embeddings: the bundled model by default, any model by name or path."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ConfigError, ModelLoadError
from qa.models.loading import load_model
from qa.retrieve.threads import one_thread
from qa.settings import BUNDLED_MODEL, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto", quantize: bool = False) -> str:
    """The torch device to embed on: ``auto`` is CUDA, then Apple MPS, then the CPU, as torch reports them.

    int8 quantisation (``quantize``) is a CPU technique: ``auto`` then means the CPU, and an explicit GPU is
    refused. An explicit device torch does not have is refused too, naming what it has.
    """
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if device == "auto":
        return "cpu" if quantize else "cuda" if cuda else "mps" if mps else "cpu"
    if quantize and device != "cpu":
        raise ConfigError(f"quantize (int8 weights) runs on the CPU only, but device is {device!r}: use --device cpu "
                          "(or auto), or turn quantize off to embed on the GPU")
    have = "cpu" + (f", cuda:0..{torch.cuda.device_count() - 1}" if cuda else "") + (", mps" if mps else "")
    if device.startswith("cuda") and (not cuda or int(device.partition(":")[2] or 0) >= torch.cuda.device_count()) \
            or device == "mps" and not mps:
        raise ConfigError(f"device {device!r} is not available to torch {torch.__version__} here (it has: {have}): "
                          "use --device auto or one of those")
    return device


class Embedder:
    """Turns texts into L2-normalised float32 vectors, on ``device`` (a torch device name, see ``resolve_device``).

    An index's own Embedder, which encodes queries, stays on the CPU: for one short query a GPU's transfers and
    kernel launches cost about what the CPU's forward pass does, and a server then needs no GPU at all.
    """

    def __init__(self, model_name: str = BUNDLED_MODEL, batch_size: int = 32, quantize: bool = False,
                 device: str = "cpu") -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.quantize = quantize
        self.device = device

    @property
    def model(self) -> SentenceTransformer:
        return load_model(self.model_name, self.quantize, self.device)

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method; 5.x only has the old name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelLoadError(f"model {self.model_name!r} does not report an embedding dimension")
        return int(dim)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector: ``encode([text])[0]`` on one thread (see ``qa.retrieve.threads.one_thread``), calling the
        model directly, which skips ``SentenceTransformer.encode``'s per-call set-up (a sixth of a query's time)."""
        import torch

        model = self.model
        with one_thread(), torch.inference_mode():
            out = model(model.preprocess([text]))
            vector = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=1)[0]
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]],
                        show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Passage vectors, and a vector for each span of each passage from the same forward pass.

        A span's vector is the mean of the passage's contextual token embeddings inside the span: the
        model's own mean pooling restricted to one sentence. On SQuAD this finds the right paragraph as
        well as encoding every sentence on its own (R@5 0.903 either way, 0.864 for whole paragraphs)
        at no extra model cost. Spans cut off by the model's length limit get the passage vector.
        """
        dim = self.dimension
        passages = np.zeros((len(texts), dim), dtype=np.float32)
        starts = np.cumsum([0] + [len(s) for s in spans])
        sentences = np.zeros((int(starts[-1]), dim), dtype=np.float32)
        order = self.batch_order(texts)
        with progress_bar(len(texts), show_progress) as bar:
            for b in range(0, len(order), self.batch_size):
                batch = order[b:b + self.batch_size]
                pvecs, svecs = self._forward([texts[i] for i in batch], [spans[i] for i in batch])
                passages[batch] = pvecs
                rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
                sentences[rows] = svecs
                bar.update(len(batch))
        return passages, sentences

    def batch_order(self, texts: list[str]) -> list[int]:
        """Texts longest first by token count, so each batch pads to a length close to all of its texts.

        SentenceTransformer.encode sorts by characters, which follow tokens loosely: on SQuAD dev chunks its
        batches of 32 pad to 449k token positions for 349k real tokens, token-sorted ones to 352k (attention,
        quadratic in length: 89M against 55M). Counting tokens costs one extra tokenisation without offsets,
        under 1% of the model's time.
        """
        if not texts:
            return []
        lengths = [len(ids) for ids in self.model.tokenizer(texts, truncation=True,
                                                             max_length=self.model.max_seq_length)["input_ids"]]
        return sorted(range(len(texts)), key=lambda i: -lengths[i])

    def _forward(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: the texts' vectors, and their spans' vectors pooled from its token embeddings."""
        import torch

        features = self._tokenize(texts)
        offsets = features.pop("offset_mapping").numpy()
        mask = features["attention_mask"].numpy()
        if self.device != "cpu":
            features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        with torch.inference_mode():
            out = self.model(features)
            pvecs = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=1).cpu().numpy()
            tokens = out["token_embeddings"].float().cpu().numpy()
        return pvecs, pool_spans(tokens, offsets, mask, spans, pvecs)

    def _tokenize(self, texts: list[str]) -> dict:
        """The model's own features for ``texts``, with each token's character offsets: one tokenisation."""
        model = self.model
        if not getattr(model.tokenizer, "is_fast", False):
            raise ModelLoadError(f"model {self.model_name!r} has no fast tokenizer, which sentence offsets need")
        features = model.preprocess(texts, processing_kwargs={"text": {"return_offsets_mapping": True}})
        if "offset_mapping" not in features:
            raise ModelLoadError(f"model {self.model_name!r} does not return token offsets; sentence vectors "
                                 "cannot be aligned")
        return features


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: list[list[tuple[int, int]]],
               fallback: np.ndarray) -> np.ndarray:
    """Normalised mean token embedding inside each character span of each text, for a whole batch at once.

    ``tokens`` is (batch, length, dim), ``offsets`` (batch, length, 2), ``mask`` (batch, length); ``spans[t]``
    are text t's spans. A span without any token (cut off by the model's length limit) gets its text's
    ``fallback`` row. Returns (number of spans, dim), in text then span order. NumPy rather than torch:
    these are small arrays, and torch's thread pool makes small operations slow on a busy machine.
    """
    owner = np.fromiter((t for t, text_spans in enumerate(spans) for _ in text_spans), dtype=np.int64)
    slot = np.fromiter((j for text_spans in spans for j in range(len(text_spans))), dtype=np.int64)
    bounds = np.array([s for text_spans in spans for s in text_spans], dtype=np.int64).reshape(-1, 2)
    real = (mask > 0) & (offsets[..., 1] > offsets[..., 0])  # special and padding tokens have empty offsets
    off = offsets[owner]  # (spans, length, 2)
    inside = real[owner] & (off[..., 0] >= bounds[:, :1]) & (off[..., 1] <= bounds[:, 1:])
    # Row ``slot`` of weights[t] selects the tokens of text t's span: one batched product sums every span.
    weights = np.zeros((tokens.shape[0], max(map(len, spans), default=0), tokens.shape[1]), dtype=np.float32)
    weights[owner, slot] = inside
    pooled = np.matmul(weights, tokens)[owner, slot]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    empty = ~inside.any(axis=1, keepdims=True)
    return np.where(empty, fallback[owner], pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def progress_bar(total: int, show: bool):  # noqa: ANN202 - a tqdm bar or a no-op stand-in
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not show, unit="chunk", desc="Embedding", dynamic_ncols=True)


def build_embedder(settings: Settings) -> Embedder:
    """The Embedder a build uses: the index's model on the device ``settings.device`` resolves to."""
    return Embedder(settings.model, settings.batch_size, settings.quantize,
                    resolve_device(settings.device, settings.quantize))
