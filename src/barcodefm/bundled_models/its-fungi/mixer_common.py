"""Pieces both Mamba mixers share: padding masks, the causal depthwise conv (full and one-step,
torch or kernel, with or without a cache), dt initialisation, and the sizes and kernel choice
every mixer reads from its config."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .mamba_cache import MambaLayerState
from .mamba_kernels import kernel_for


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


def no_weight_decay(*params: nn.Parameter) -> None:
    """Mark the SSM parameters that mamba_ssm's optimiser groups keep out of weight decay."""
    for p in params:
        p._no_weight_decay = True


def use_kernels(config, tensor: torch.Tensor, *names: str) -> bool:
    """True when every mamba_ssm / causal_conv1d kernel named should run for this call."""
    return all(kernel_for(config, tensor, name, required=True) is not None for name in names)


class MambaMixerBase(nn.Module):
    """What both mixers share: sizes from the config, the kernel choice per op, and the causal
    conv over a whole sequence or one cached step.

    A call with a filled state and one token is a decode step: it continues the state. Any other
    call with a state is a prefill: it starts from zero and leaves the state of its last position.
    """

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.d_inner = config.d_inner
        self.d_state = config.d_state
        self.d_conv = config.d_conv

    @torch.no_grad()
    def reset_ssm_parameters(self):
        """mamba_ssm's own init of the SSM parameters (kept by the model's _init_weights)."""
        device = self.A_log.device if self.A_log.device.type != "meta" else None
        self.init_ssm_parameters(device)
        self.D.fill_(1.0)

    def init_ssm_parameters(self, device):
        """Each mixer's init of A and dt (called without gradients; device None while on meta)."""
        raise NotImplementedError

    def depthwise_conv(self, channels: int) -> nn.Conv1d:
        """The causal depthwise conv's weights (applied by :meth:`conv`, never by Conv1d itself)."""
        return nn.Conv1d(
            channels, channels, self.d_conv, groups=channels, padding=self.d_conv - 1, bias=self.config.conv_bias
        )

    def kernel(self, name: str, tensor: torch.Tensor, required: bool = False):
        """The CUDA kernel ``name`` when this call should use it, else None."""
        return kernel_for(self.config, tensor, name, required)

    @staticmethod
    def is_decode_step(state: MambaLayerState | None, length: int) -> bool:
        """One new token on a state that already holds the sequence before it."""
        return state is not None and state.filled and length == 1

    def conv(self, x: torch.Tensor, state: MambaLayerState | None) -> torch.Tensor:
        """Causal conv + SiLU of x (batch, length, channels); with a state, a prefill records the
        last d_conv inputs and a decode step advances them."""
        weight = self.conv1d.weight[:, 0]  # (channels, d_conv)
        if self.is_decode_step(state, x.shape[1]):
            update = self.kernel("causal_conv1d_update", x)
            if update is not None:  # updates state.conv_state in place
                return update(x[:, 0], state.conv_state, weight, self.conv1d.bias, activation="silu")[:, None]
            y, state.conv_state = causal_conv_step(x[:, 0], state.conv_state, self.conv1d)
            return y[:, None]
        if state is not None:
            state.conv_state = last_conv_inputs(x, self.d_conv)
        conv_fn = self.kernel("causal_conv1d_fn", x)
        if conv_fn is not None:
            return conv_fn(x.transpose(1, 2).contiguous(), weight, self.conv1d.bias, activation="silu").transpose(1, 2)
        return causal_conv(x, self.conv1d)
