"""Mamba-2 mixer with two execution paths over one set of weights: mamba_ssm's fused
CUDA kernels when they import and the input is on CUDA, the pure-PyTorch chunked SSD elsewhere."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mamba_cache import MambaLayerState
from .mamba_kernels import load_kernels
from .mixer_common import (
    apply_padding_mask,
    causal_conv,
    causal_conv_step,
    inverse_softplus_dt,
    last_conv_inputs,
    use_kernels,
)
from .ssd_chunk_scan import ssd_chunk_scan, ssd_step


class GatedRMSNorm(nn.Module):
    """``RMSNorm(y * SiLU(z))`` with the RMS taken per group of ``group_size`` channels
    (mamba_ssm's gated norm with ``norm_before_gate=False``)."""

    def __init__(self, hidden_size: int, group_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.group_size = group_size
        self.eps = eps

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        dtype = y.dtype
        y = y.float() * F.silu(z.float())
        shape = y.shape
        y = y.view(*shape[:-1], shape[-1] // self.group_size, self.group_size)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y.view(shape) * self.weight.float()).to(dtype)


class Mamba2Mixer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.d_inner = config.d_inner
        self.nheads = config.nheads
        self.headdim = config.headdim
        self.ngroups = config.ngroups
        self.d_state = config.d_state
        self.d_conv = config.d_conv
        self.conv_dim = self.d_inner + 2 * self.ngroups * self.d_state
        # in_proj layout [z | x | B | C | dt], no bias.
        self.in_proj = nn.Linear(
            config.d_model, 2 * self.d_inner + 2 * self.ngroups * self.d_state + self.nheads, bias=False
        )
        self.conv1d = nn.Conv1d(
            self.conv_dim,
            self.conv_dim,
            config.d_conv,
            groups=self.conv_dim,
            padding=config.d_conv - 1,
            bias=config.conv_bias,
        )
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.D = nn.Parameter(torch.ones(self.nheads))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True
        self.norm = GatedRMSNorm(self.d_inner, self.d_inner // self.ngroups, eps=config.layer_norm_epsilon)
        self.out_proj = nn.Linear(self.d_inner, config.d_model, bias=False)
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self):
        """mamba_ssm's own init of the SSM parameters (kept by the model's _init_weights)."""
        c = self.config
        device = self.A_log.device if self.A_log.device.type != "meta" else None
        self.dt_bias.copy_(inverse_softplus_dt(self.nheads, c.dt_min, c.dt_max, c.dt_init_floor, device))
        lo, hi = c.A_init_range
        self.A_log.copy_(torch.log(torch.empty(self.nheads, device=device).uniform_(lo, hi)))
        self.D.fill_(1.0)

    def forward(self, hidden_states, attention_mask=None, state: MambaLayerState | None = None):
        b, l, _ = hidden_states.shape
        if state is not None and state.filled and l == 1:
            return self._step(hidden_states, state)
        if state is None and use_kernels(self.config, hidden_states, "mamba_chunk_scan_combined"):
            return self._forward_kernels(hidden_states, attention_mask)
        return self._forward_torch(hidden_states, attention_mask, state)

    def _split_projection(self, zxbcdt):
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _split_xbc(self, xbc):
        gn = self.ngroups * self.d_state
        return torch.split(xbc, [self.d_inner, gn, gn], dim=-1)

    def _forward_torch(self, hidden_states, attention_mask, state):
        b, l, _ = hidden_states.shape
        z, xbc, dt = self._split_projection(self.in_proj(apply_padding_mask(hidden_states, attention_mask)))
        if state is not None:
            state.conv_state = last_conv_inputs(xbc, self.d_conv)
        xbc = apply_padding_mask(causal_conv(xbc, self.conv1d), attention_mask)
        x, B, C = self._split_xbc(xbc)
        with torch.autocast(device_type=hidden_states.device.type, enabled=False):
            dt = F.softplus(dt.float() + self.dt_bias.float())
            A = -torch.exp(self.A_log.float())
        y, final_state = ssd_chunk_scan(
            x.reshape(b, l, self.nheads, self.headdim),
            dt,
            A,
            B.reshape(b, l, self.ngroups, self.d_state),
            C.reshape(b, l, self.ngroups, self.d_state),
            chunk_size=self.config.torch_chunk_size,
            D=self.D,
            return_final_state=True,
        )
        if state is not None:
            state.ssm_state = final_state
        y = self.norm(y.reshape(b, l, self.d_inner), z)
        return self.out_proj(y)

    def _forward_kernels(self, hidden_states, attention_mask):
        k = load_kernels()
        b, l, _ = hidden_states.shape
        z, xbc, dt = self._split_projection(self.in_proj(apply_padding_mask(hidden_states, attention_mask)))
        if "causal_conv1d_fn" in k:
            xbc = k["causal_conv1d_fn"](
                xbc.transpose(1, 2).contiguous(), self.conv1d.weight.squeeze(1), self.conv1d.bias, activation="silu"
            ).transpose(1, 2)
        else:
            xbc = causal_conv(xbc, self.conv1d)
        xbc = apply_padding_mask(xbc, attention_mask)
        x, B, C = self._split_xbc(xbc)
        y = k["mamba_chunk_scan_combined"](
            x.reshape(b, l, self.nheads, self.headdim),
            dt,
            -torch.exp(self.A_log.float()),
            B.reshape(b, l, self.ngroups, self.d_state),
            C.reshape(b, l, self.ngroups, self.d_state),
            chunk_size=self.config.chunk_size,
            D=self.D,
            z=None,
            dt_bias=self.dt_bias,
            dt_softplus=True,
        ).reshape(b, l, self.d_inner)
        if "rmsnorm_fn" in k:
            y = k["rmsnorm_fn"](
                y,
                self.norm.weight,
                None,
                z=z,
                eps=self.norm.eps,
                group_size=self.norm.group_size,
                norm_before_gate=False,
            )
        else:
            y = self.norm(y, z)
        return self.out_proj(y)

    def _step(self, hidden_states, state: MambaLayerState):
        b = hidden_states.shape[0]
        z, xbc, dt = self._split_projection(self.in_proj(hidden_states[:, 0]))
        xbc, state.conv_state = causal_conv_step(xbc, state.conv_state, self.conv1d)
        x, B, C = self._split_xbc(xbc)
        dt = F.softplus(dt.float() + self.dt_bias.float())
        y, state.ssm_state = ssd_step(
            state.ssm_state,
            x.reshape(b, self.nheads, self.headdim),
            dt,
            -torch.exp(self.A_log.float()),
            B.reshape(b, self.ngroups, self.d_state),
            C.reshape(b, self.ngroups, self.d_state),
            self.D,
        )
        y = self.norm(y.reshape(b, 1, self.d_inner), z[:, None])
        return self.out_proj(y)


__all__ = ["Mamba2Mixer", "GatedRMSNorm"]
