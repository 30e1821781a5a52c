"""Pieces both Mamba mixers share: padding masks, the causal depthwise conv (full and one-step),
dt initialisation, and the choice between the CUDA kernels and the pure-PyTorch path."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .mamba_kernels import load_kernels


def apply_padding_mask(x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded positions of (batch, length, channels) so they feed nothing into the scan."""
    if attention_mask is None or attention_mask.shape[1] != x.shape[1]:
        return x
    return x * attention_mask[:, :, None].to(x.dtype)


def causal_conv(x: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    """Depthwise causal conv + SiLU over (batch, length, channels).

    A d_conv-tap depthwise conv is d_conv shifted multiply-adds; done in place in the
    channels-last layout the projections produce, it makes one output tensor and no transposes
    (~4x faster on CPU than Conv1d). The in-place updates are autograd-safe: addcmul's backward
    never reads its output.
    """
    length, k = x.shape[1], conv.weight.shape[-1]
    w = conv.weight[:, 0, :].to(x.dtype)  # (channels, k)
    bias = conv.bias.to(x.dtype) if conv.bias is not None else x.new_zeros(())
    y = torch.addcmul(bias, x, w[:, k - 1])  # tap k-1 reads the current step
    for i in range(k - 1):
        shift = k - 1 - i  # tap i reads `shift` steps back; zeros before the sequence start
        if shift < length:
            y[:, shift:].addcmul_(x[:, : length - shift], w[:, i])
    # SiLU's backward needs its input, so it may overwrite y only when no graph is recorded.
    return F.silu(y, inplace=not (torch.is_grad_enabled() and y.requires_grad))


def causal_conv_step(x: torch.Tensor, conv_state: torch.Tensor, conv: torch.nn.Conv1d):
    """One step of the causal conv: x (batch, channels); conv_state (batch, channels, d_conv)."""
    conv_state = torch.cat([conv_state[:, :, 1:], x[:, :, None].to(conv_state.dtype)], dim=-1)
    y = (conv_state * conv.weight[:, 0, :]).sum(-1)
    if conv.bias is not None:
        y = y + conv.bias
    return F.silu(y).to(x.dtype), conv_state


def last_conv_inputs(x: torch.Tensor, d_conv: int) -> torch.Tensor:
    """The conv state after a prefill: the last d_conv inputs (zeros before the sequence start)."""
    x = x.transpose(1, 2)  # (b, channels, l)
    if x.shape[-1] >= d_conv:
        return x[..., -d_conv:].contiguous()
    return F.pad(x, (d_conv - x.shape[-1], 0))


def inverse_softplus_dt(n: int, dt_min: float, dt_max: float, dt_floor: float, device=None) -> torch.Tensor:
    """dt biases such that softplus(bias) is log-uniform in [dt_min, dt_max] (mamba_ssm init)."""
    dt = torch.exp(torch.rand(n, device=device) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=dt_floor)
    return dt + torch.log(-torch.expm1(-dt))


def use_kernels(config, tensor: torch.Tensor, *names: str) -> bool:
    """True when the mamba_ssm kernels named should run for this call."""
    mode = getattr(config, "use_kernels", "auto")
    if mode == "never":
        return False
    available = tensor.is_cuda and all(name in load_kernels() for name in names)
    if mode == "always" and not available:
        raise RuntimeError(
            "use_kernels='always' but the mamba_ssm/causal_conv1d CUDA kernels "
            f"({', '.join(names)}) are not importable or the input is not on a CUDA device; "
            "install barcodefm[cuda] on a CUDA machine or set use_kernels='auto'"
        )
    return available
