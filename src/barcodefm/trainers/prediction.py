"""Inference helpers used at the end of runs and by the demo: species calls for raw barcodes and
the exact perplexity of a language model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..evaluation.metrics import perplexity
from ..models.taxonomy import IGNORE_INDEX
from .options import MAX_BASES


def _batches(sequences: Sequence[str], batch_size: int):
    for start in range(0, len(sequences), batch_size):
        yield list(sequences[start : start + batch_size])


@torch.no_grad()
def class_probabilities(
    model, tokenizer, sequences: Sequence[str], max_bases: int = MAX_BASES, batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """Softmax over the classifier's labels, one row per sequence (cut to ``max_bases``)."""
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for chunk in tqdm(
        list(_batches(sequences, batch_size)), desc="classifying", unit="batch", disable=not progress, leave=False
    ):
        batch = tokenizer(
            [s[:max_bases] for s in chunk], padding=True, return_tensors="pt", return_token_type_ids=False
        )
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        rows.append(logits.float().softmax(-1).cpu())
    return torch.cat(rows) if rows else torch.zeros(0, model.config.num_labels)


def classify_sequences(
    model, tokenizer, sequences: Sequence[str], max_bases: int = MAX_BASES, batch_size: int = 64, progress: bool = True
) -> list[tuple[str, float]]:
    """``(label, probability)`` of the most likely class of each sequence, by the model's
    ``config.id2label``."""
    probabilities = class_probabilities(model, tokenizer, sequences, max_bases, batch_size, progress)
    best, index = (
        probabilities.max(dim=-1) if len(probabilities) else (torch.zeros(0), torch.zeros(0, dtype=torch.long))
    )
    id2label = model.config.id2label
    return [(id2label[int(i)], float(p)) for p, i in zip(best.tolist(), index.tolist())]


@torch.no_grad()
def lm_perplexity(
    model, tokenizer, sequences: Sequence[str], max_bases: int = MAX_BASES, batch_size: int = 32, progress: bool = True
) -> float:
    """Next-token perplexity over the real tokens of ``sequences`` (padding excluded): the NLL
    is summed over every predicted token and divided by their count, not averaged per batch."""
    model.eval()
    device = next(model.parameters()).device
    total_nll, n_tokens = 0.0, 0
    for chunk in tqdm(
        list(_batches(sequences, batch_size)), desc="perplexity", unit="batch", disable=not progress, leave=False
    ):
        batch = tokenizer(
            [s[:max_bases] for s in chunk], padding=True, return_tensors="pt", return_token_type_ids=False
        )
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        # Token t+1 is predicted from tokens <= t; both must be real (left padding).
        targets = ids[:, 1:].masked_fill((mask[:, 1:] == 0) | (mask[:, :-1] == 0), IGNORE_INDEX)
        total_nll += float(
            F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
        )
        n_tokens += int((targets != IGNORE_INDEX).sum())
    return perplexity(total_nll, n_tokens)
