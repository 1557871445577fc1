"""Train the quote ranker: a cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2, on public data.

    pip install -e '.[train]'
    python training/train_ranker.py [--domain dmv] [--out qa/models/ranker] [--seed 0] [--head cls|cosine]

The pairs (training/ranker_data.py) come from SQuAD v1.1 dev's "train" articles, one doc2dial-dev domain
(``--domain``; the other stays unseen) and that domain's headings. The model keeps the first ``--layers`` of
MiniLM's six layers: a quote is chosen while the user waits, and four layers score a question's candidates
in about half the time of six (docs/ranker.md has the measurements; two or three layers under a new [CLS] head
did not learn, under the cosine head three do). Training is
sentence-transformers' ``CrossEncoderTrainer`` with binary cross-entropy, one epoch, a fixed seed, on a new [CLS]
head or (``--head cosine``) on the joint encoding's segment cosine (``qa.models.segment_cosine``); about
15 to 30 minutes on 2 CPU cores (3 to 6 layers), a minute or two of it making the pairs (retrieval over SQuAD and
doc2dial). The weights are saved in fp16 safetensors with the tokenizer.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

import torch  # noqa: E402
from ranker_data import SQUAD_STEP, Pair, doc2dial_pairs, heading_pairs, squad_pairs  # noqa: E402
from tqdm import tqdm  # noqa: E402

from qa.eval.conversations import load_conversations  # noqa: E402
from qa.eval.evaluation import load_squad, prepare_index  # noqa: E402
from qa.models.loading import bundled_model_path  # noqa: E402
from qa.models.segment_cosine import cosine_cross_encoder  # noqa: E402
from qa.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder

EVAL = ROOT.parent / "shared" / "eval"
MAX_LENGTH = 96  # tokens of question and sentence together; longer sentences are cut at the end
PAIRS_PER_QUESTION = 8  # about: a positive, 6 hard and 2 easy negatives (training/ranker_data.py)
HEAD = r"\.(pooler|classifier)\."  # the parameters of the classification head on the [CLS] token
COSINE_HEAD = r"(^|\.)1\.(scale|bias)$"  # SegmentCosine's two, module 1 of the CrossEncoder (not the encoder's biases)
FIT_PAIRS = 4096  # training pairs the cosine head's starting scale and bias are fitted on

log = logging.getLogger("train_ranker")


def make_pairs(squad: Path, doc2dial: Path, domain: str, cache: Path, seed: int, squad_step: int) -> list[Pair]:
    """Every training pair, shuffled with ``seed``; the indexes are built once under ``cache``."""
    rng = random.Random(seed)
    squad_docs, _ = load_squad(squad)
    squad_index, _, _ = prepare_index(squad_docs, Settings(), cache / "squad", show_progress=True)
    pairs = list(squad_pairs(squad_index, squad, rng, squad_step))
    dial_docs, _ = load_conversations(doc2dial)
    dial_index, _, _ = prepare_index(dial_docs, Settings(), cache / "doc2dial", show_progress=True)
    turns = [json.loads(line) for line in (doc2dial / "turns.jsonl").open(encoding="utf-8")]
    pairs += doc2dial_pairs(dial_index, turns, domain, rng)
    domain_docs = sorted({t["doc_id"] for t in turns if t["domain"] == domain})
    pairs += heading_pairs(dial_index, domain_docs, domain, rng)
    rng.shuffle(pairs)
    return pairs


def pair_rows(pairs: list[Pair]) -> Dataset:
    """One row a pair, for binary cross-entropy."""
    from datasets import Dataset

    return Dataset.from_dict({"query": [p.query for p in pairs], "sentence": [p.sentence for p in pairs],
                              "label": [p.label for p in pairs]})


def listwise_rows(pairs: list[Pair]) -> Dataset:
    """One row a question: its sentences and their labels (questions with no positive or no negative left out).
    ListNet learns which of them answers, the choice the ranker makes at run time, rather than each pair's
    probability against the positives' base rate."""
    from datasets import Dataset

    groups: dict[str, tuple[list[str], list[float]]] = {}
    for p in pairs:
        docs, labels = groups.setdefault(p.query, ([], []))
        docs.append(p.sentence)
        labels.append(p.label)
    rows = [(q, d, lab) for q, (d, lab) in groups.items() if 0 < sum(lab) < len(lab)]
    return Dataset.from_dict({"query": [q for q, _, _ in rows], "docs": [d for _, d, _ in rows],
                              "labels": [lab for _, _, lab in rows]})


def train(pairs: list[Pair], out: Path, layers: int, seed: int, epochs: float, batch_size: int,
          listwise: bool = False, head: str = "cls") -> None:
    """Fine-tune the cross-encoder on ``pairs`` and save it to ``out`` in fp16."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, ListNetLoss

    torch.manual_seed(seed)
    model = cosine_model(layers, pairs, seed) if head == "cosine" else cls_model(layers)
    data = listwise_rows(pairs) if listwise else pair_rows(pairs)
    if listwise:
        loss = ListNetLoss(model, mini_batch_size=batch_size)
        batch_size = max(1, batch_size // PAIRS_PER_QUESTION)  # about as many pairs a step as with BCE
    else:
        loss = BinaryCrossEntropyLoss(model)
    # A new head barely moves at the encoder's learning rate in a thousand steps (the loss stays at the base rate),
    # so it learns faster (docs/ranker.md, "Training"); the cosine head's encoder starts useful and moves gently.
    rates = {"cls": (5e-5, HEAD, 1e-3), "cosine": (2e-5, COSINE_HEAD, 1e-2)}[head]
    args = CrossEncoderTrainingArguments(
        output_dir=str(out.parent / f".{out.name}-checkpoints"), num_train_epochs=epochs,
        per_device_train_batch_size=batch_size, learning_rate=rates[0], learning_rate_mapping={rates[1]: rates[2]},
        warmup_ratio=0.1, weight_decay=0.01, seed=seed, data_seed=seed, save_strategy="no", logging_steps=50,
        report_to="none", use_cpu=True, dataloader_num_workers=0)
    if epochs > 0:  # --epochs 0 saves the starting point: for the cosine head, the fitted untrained cosine
        CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    model[0].auto_model.half()
    model.save_pretrained(str(out), safe_serialization=True)


def cls_model(layers: int) -> CrossEncoder:
    """The bundled MiniLM's first ``layers`` with a new classification head on the [CLS] token."""
    from sentence_transformers.cross_encoder import CrossEncoder

    model = CrossEncoder(str(bundled_model_path()), num_labels=1, max_length=MAX_LENGTH, device="cpu")
    bert = model[0].auto_model
    bert.bert.encoder.layer = bert.bert.encoder.layer[:layers]  # the first layers of MiniLM, as in layer dropping
    bert.config.num_hidden_layers = layers
    return model


def cosine_model(layers: int, pairs: list[Pair], seed: int) -> CrossEncoder:
    """The bundled MiniLM's first ``layers`` scored by ``SegmentCosine``, its scale and bias a logistic fit of the
    untrained cosine to the labels of (a sample of) the training pairs: it starts where the joint encoding is."""
    from sklearn.linear_model import LogisticRegression

    model = cosine_cross_encoder(str(bundled_model_path()), layers, MAX_LENGTH)
    head = model[1]
    sample = random.Random(seed).sample(pairs, min(FIT_PAIRS, len(pairs)))
    cosines = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(sample), 64), desc="fitting the head's start", unit="batch"):
            features = model.preprocess([[p.query, p.sentence] for p in sample[start:start + 64]])
            cosines += model(features)["scores"].reshape(-1).tolist()  # scale 1, bias 0: the cosine itself
    fit = LogisticRegression(C=1e6).fit(  # C: next to no regularisation, two numbers
        [[c] for c in cosines], [int(p.label) for p in sample])
    head.scale.data.fill_(float(fit.coef_[0][0]))
    head.bias.data.fill_(float(fit.intercept_[0]))
    log.info("head starts at %.2f x cosine %+.2f", head.scale.item(), head.bias.item())
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=EVAL / "squad-v1.1" / "dev-v1.1.json")
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--domain", default="dmv", help="the doc2dial-dev domain trained on (the other stays unseen)")
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "models" / "ranker")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"),
                        help="folder for the SQuAD and doc2dial indexes (shared with the benchmarks)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--squad-step", type=int, default=SQUAD_STEP,
                        help="every N-th question of SQuAD's train articles goes in (fewer: less of SQuAD's habits)")
    parser.add_argument("--loss", choices=("bce", "listnet"), default="bce",
                        help="bce: each pair on its own; listnet: a question's sentences against each other")
    parser.add_argument("--head", choices=("cls", "cosine"), default="cls",
                        help="cls: a new classification head on [CLS]; cosine: the joint encoding's segment cosine "
                             "(qa.models.segment_cosine), scale and bias fitted on the pairs before training")
    parser.add_argument("--pairs", type=Path, help="write the pairs to this JSON-lines file too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(2)
    started = time.perf_counter()
    pairs = make_pairs(args.squad, args.doc2dial, args.domain, args.cache, args.seed, args.squad_step)
    counts: dict[str, list[int]] = {}
    for p in pairs:
        counts.setdefault(p.source, [0, 0])[int(p.label)] += 1
    log.info("%d pairs in %.0f s: %s", len(pairs), time.perf_counter() - started,
             ", ".join(f"{s} {n + q} ({q} positive)" for s, (n, q) in sorted(counts.items())))
    if args.pairs:
        args.pairs.write_text("".join(json.dumps(p.__dict__) + "\n" for p in pairs))
    train(pairs, args.out, args.layers, args.seed, args.epochs, args.batch_size, args.loss == "listnet",
          args.head)
    log.info("saved %s after %.0f s", args.out, time.perf_counter() - started)


if __name__ == "__main__":
    main()
