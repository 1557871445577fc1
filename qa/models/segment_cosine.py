"""A cross-encoder score that starts from what the bundled model already knows: the question's and the sentence's
states, read together, compared by their cosine.

A new classification head on the [CLS] token starts from nothing and spends hundreds of training steps at the
base-rate loss (docs/ranker.md). The bundled all-MiniLM-L6-v2 was trained so that mean-pooled states of related
texts point the same way; encoding the question and the sentence as one pair lets each attend to the other, and
the cosine of the two segments' mean-pooled states already orders answering sentences above others. This module
turns that cosine into a logit (``scale`` x cosine + ``bias``, two numbers fitted on training pairs), so a
CrossEncoder built on it scores sensibly before any fine-tuning and learns from there.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from sentence_transformers.base.modules import Module

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder import CrossEncoder

TYPE = f"{__name__}.SegmentCosine"  # how modules.json names this module (``qa.models.loading`` looks for it)


class SegmentCosine(Module):
    """``scale`` x cos(mean of the question's token states, mean of the sentence's) + ``bias``, one score a pair.

    The segments are told apart by the token type ids of a BERT-style pair encoding; ``special_ids`` ([CLS], [SEP],
    padding) are left out of both means.
    """

    config_keys: ClassVar[list[str]] = ["scale", "bias", "special_ids"]

    def __init__(self, scale: float = 1.0, bias: float = 0.0, special_ids: list[int] | None = None) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)))
        self.bias = torch.nn.Parameter(torch.tensor(float(bias)))
        self.special_ids = list(special_ids or [])

    def get_config_dict(self) -> dict[str, Any]:
        # The two trained numbers live in the config: no weights file for this module.
        return {"scale": self.scale.item(), "bias": self.bias.item(), "special_ids": self.special_ids}

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        features["scores"] = self.scale * segment_cosine(features, self.special_ids) + self.bias
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)


def segment_cosine(features: dict[str, torch.Tensor], special_ids: list[int]) -> torch.Tensor:
    """The cosine between the mean-pooled states of each pair's first and second segment."""
    states = features["token_embeddings"]
    words = features["attention_mask"].bool()
    for token in special_ids:
        words &= features["input_ids"] != token
    second = features["token_type_ids"].bool()
    means = []
    for mask in (words & ~second, words & second):
        weights = mask.unsqueeze(-1).to(states.dtype)
        means.append((states * weights).sum(1) / weights.sum(1).clamp(min=1.0))
    return torch.nn.functional.cosine_similarity(means[0], means[1], dim=-1)


def cosine_cross_encoder(model_path: str, layers: int | None = None, max_length: int = 96) -> CrossEncoder:
    """A CrossEncoder made of the sentence-transformers model at ``model_path`` (its first ``layers``, all if None)
    and a ``SegmentCosine`` at scale 1, bias 0: its score is the joint encoding's cosine until trained."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.cross_encoder import CrossEncoder

    encoder = SentenceTransformer(model_path, device="cpu")[0]
    model = encoder.auto_model
    if layers is not None:  # the first layers, as in layer dropping: fewer to run for every candidate
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    model.config.num_labels = 1  # the CrossEncoder reads its number of scores from here
    encoder.max_seq_length = max_length
    tokenizer = encoder.tokenizer
    head = SegmentCosine(special_ids=[tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    return CrossEncoder(modules=[encoder, head], num_labels=1, max_length=max_length, device="cpu")
