"""A bidirectional BERT encoder layer, written out here so that BarcodeMAE depends on no
transformers internals (``BertLayer``'s signature, cache and attention plumbing change between
minor releases; this file does not).

Parameter names match transformers' ``BertLayer`` exactly (``attention.self.query``,
``attention.output.LayerNorm``, ``intermediate.dense``, ``output.dense``, ...), so published
BarcodeMAE / BarcodeBERT weights load unchanged, and the arithmetic is the same: post-norm
residual blocks, scaled dot-product attention over the real tokens only.

Hub module: imports torch only.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

# The activations BERT configurations name (transformers' ACT2FN spellings).
ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unsupported hidden_act {name!r}: one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class _Projections(nn.Module):
    """``attention.self``: the query, key and value projections."""

    def __init__(self, hidden: int):
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)


class _DenseNorm(nn.Module):
    """``attention.output`` / ``output``: Linear, dropout, then LayerNorm of (result + residual)."""

    def __init__(self, d_in: int, d_out: int, eps: float, dropout: float):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float, dropout: float, attention_dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of the number of attention heads {heads}")
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.self = _Projections(hidden)
        self.output = _DenseNorm(hidden, hidden, eps, dropout)

    def forward(self, x, keep):
        b, n, d = x.shape
        q, k, v = (
            p(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)
            for p in (self.self.query, self.self.key, self.self.value)
        )
        # keep: (b, 1, 1, n) booleans, True where a key is a real token.
        context = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=keep,
            dropout_p=self.attention_dropout if self.training else 0.0,
            scale=1.0 / math.sqrt(d // self.heads),
        )
        return self.output(context.transpose(1, 2).reshape(b, n, d), x)


class _Intermediate(nn.Module):
    def __init__(self, hidden: int, intermediate: int, act: str):
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)
        self.act = activation(act)

    def forward(self, x):
        return self.act(self.dense(x))


class BertEncoderLayer(nn.Module):
    """One post-norm BERT layer: self-attention block, then the feed-forward block."""

    def __init__(
        self,
        hidden: int,
        heads: int,
        intermediate: int,
        act: str = "gelu",
        eps: float = 1e-12,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
    ):
        super().__init__()
        self.attention = _Attention(hidden, heads, eps, dropout, attention_dropout)
        self.intermediate = _Intermediate(hidden, intermediate, act)
        self.output = _DenseNorm(intermediate, hidden, eps, dropout)

    def forward(self, x, keep):
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


def run_bert_layers(layers, hidden, attention_mask, output_hidden_states=False):
    """Bidirectional layers over ``hidden`` with a (batch, length) padding mask (1 = real token)."""
    if attention_mask is None:
        keep = None
    else:
        keep = attention_mask.bool()
        # A row without any real token attends to its filler, so it stays finite (never read).
        keep = keep | ~keep.any(dim=1, keepdim=True)
        keep = keep[:, None, None, :]
    all_hidden = (hidden,) if output_hidden_states else None
    for layer in layers:
        hidden = layer(hidden, keep)
        if output_hidden_states:
            all_hidden += (hidden,)
    return hidden, all_hidden
