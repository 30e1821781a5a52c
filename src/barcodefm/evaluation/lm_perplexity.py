"""Perplexity of a barcode language model on sequences, padding excluded (SPEC 5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .metrics import perplexity


@torch.no_grad()
def sequence_perplexity(
    model, tokenizer, sequences, batch_size: int = 32, max_length: int | None = None, progress: bool = False
) -> dict[str, float]:
    """Next-token perplexity over every real token that has a real predecessor.

    The NLL is summed per token over all batches and divided once (not a mean of batch means),
    so batching and padding never change the result.
    """
    model.eval()
    device = next(model.parameters()).device
    total_nll, n_tokens = 0.0, 0
    for start in tqdm(range(0, len(sequences), batch_size), desc="perplexity", disable=not progress):
        enc = tokenizer(
            list(sequences[start : start + batch_size]),
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        logits = model(**enc).logits[:, :-1].float()
        targets = enc["input_ids"][:, 1:]
        real = (enc["attention_mask"][:, 1:] == 1) & (enc["attention_mask"][:, :-1] == 1)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        total_nll += float(nll[real.reshape(-1)].sum())
        n_tokens += int(real.sum())
    return {"perplexity": perplexity(total_nll, n_tokens), "nll_per_token": total_nll / n_tokens, "n_tokens": n_tokens}
