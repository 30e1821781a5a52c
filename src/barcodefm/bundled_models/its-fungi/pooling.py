"""Sequence embeddings from token states, shared by every model family.

Poolings:
- ``mean``: average over real tokens (attention_mask == 1): padding never changes the result.
- ``mean_all``: the published BarcodeMamba probing recipe: the real tokens are left-padded with
  the ``N`` token to ``pad_to`` positions, the model runs with no mask, and all positions
  (pads included) are averaged. Rebuilt from the real tokens, so it too is batch-invariant.
- ``last``: the state of the last real token (a causal model's summary of the whole barcode).
"""

from __future__ import annotations

import torch

POOLINGS = ("mean", "mean_all", "last")


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return hidden_states.mean(dim=1)
    m = attention_mask[:, :, None].to(hidden_states.dtype)
    return (hidden_states * m).sum(1) / m.sum(1).clamp(min=1.0)


def last_real_token(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return hidden_states[:, -1]
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (positions[None, :] * attention_mask.long()).argmax(dim=1)
    return hidden_states[torch.arange(hidden_states.shape[0], device=hidden_states.device), last]


def pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    if pooling == "mean":
        return masked_mean(hidden_states, attention_mask)
    if pooling == "last":
        return last_real_token(hidden_states, attention_mask)
    if pooling == "mean_all":
        return hidden_states.mean(dim=1)
    raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")


def repad_left(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad_id: int, pad_to: int) -> torch.Tensor:
    """Real tokens of each row, left-padded with ``pad_id`` to ``max(pad_to, longest row)``
    (the published ``mean_all`` input; rows longer than ``pad_to`` are kept whole: truncation is
    the tokenizer's job)."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    lengths = attention_mask.sum(1)
    width = max(int(pad_to), int(lengths.max()) if len(lengths) else 0)
    out = torch.full((input_ids.shape[0], width), pad_id, dtype=input_ids.dtype, device=input_ids.device)
    for i in range(input_ids.shape[0]):
        real = input_ids[i][attention_mask[i].bool()]
        out[i, width - real.numel() :] = real
    return out


class EmbeddingMixin:
    """``embed`` / ``embed_sequences`` for any model that implements ``_token_states(ids, mask)``."""

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pooling: str | None = None,
        pad_to: int = 660,
        pad_with_id: int | None = None,
    ) -> torch.Tensor:
        """Pooled (batch, hidden) embeddings. ``pooling`` defaults to ``config.pooling``."""
        pooling = pooling or getattr(self.config, "pooling", "mean")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        if pooling == "mean_all":
            pad_id = pad_with_id if pad_with_id is not None else getattr(self.config, "n_token_id", None)
            if pad_id is None:
                raise ValueError("pooling='mean_all' needs pad_with_id (the id of the N token) or config.n_token_id")
            input_ids = repad_left(input_ids, attention_mask, pad_id, pad_to)
            attention_mask = None
        hidden = self._token_states(input_ids, attention_mask)
        return pool(hidden, attention_mask, pooling)

    @torch.no_grad()
    def embed_sequences(
        self,
        sequences,
        tokenizer,
        batch_size: int = 64,
        pooling: str | None = None,
        max_length: int | None = None,
        progress: bool = False,
        **embed_kwargs,
    ) -> torch.Tensor:
        """Embed raw barcode strings (normalised by the tokenizer; bad input raises naming it)."""
        from tqdm.auto import tqdm

        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        starts = range(0, len(sequences), batch_size)
        for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress):
            batch = list(sequences[start : start + batch_size])
            enc = tokenizer(
                batch,
                padding=True,
                truncation=max_length is not None,
                max_length=max_length,
                return_tensors="pt",
            )
            out.append(
                self.embed(
                    enc["input_ids"].to(device), enc["attention_mask"].to(device), pooling=pooling, **embed_kwargs
                )
                .float()
                .cpu()
            )
        self.train(was_training)
        hidden = getattr(self.config, "hidden_size", None)
        return torch.cat(out) if out else torch.empty(0, hidden or 0)
