"""Recurrent state of a BarcodeMamba model during generation (one entry per layer).

A state-space model needs no key/value cache: per layer it keeps the last ``d_conv`` conv inputs
and the SSM state. Prefill fills it from a full forward; each later one-token step updates it.
"""

from __future__ import annotations

import torch


class MambaLayerState:
    __slots__ = ("conv_state", "ssm_state")

    def __init__(self):
        self.conv_state: torch.Tensor | None = None  # (batch, conv channels, d_conv)
        self.ssm_state: torch.Tensor | None = None  # Mamba-2 (b, h, p, n) / Mamba-1 (b, d, n), fp32

    @property
    def filled(self) -> bool:
        return self.ssm_state is not None


class BarcodeMambaCache:
    """Holds one :class:`MambaLayerState` per layer and how many tokens have been consumed."""

    is_compileable = False

    def __init__(self, n_layer: int):
        self.layers = [MambaLayerState() for _ in range(n_layer)]
        self.seqlen_offset = 0

    def __getitem__(self, layer_idx: int) -> MambaLayerState:
        return self.layers[layer_idx]

    def __len__(self) -> int:
        return len(self.layers)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seqlen_offset

    def reorder_cache(self, beam_idx: torch.LongTensor):
        for layer in self.layers:
            if layer.filled:
                layer.conv_state = layer.conv_state.index_select(0, beam_idx.to(layer.conv_state.device))
                layer.ssm_state = layer.ssm_state.index_select(0, beam_idx.to(layer.ssm_state.device))
