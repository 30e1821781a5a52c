"""Mamba-1 mixer: in_proj -> x, z; causal conv over x; x_proj -> dt, B, C; dt_proj;
selective scan; ``y * SiLU(z)``; out_proj. mamba_ssm's ``selective_scan_fn`` on CUDA when it
imports, the pure-PyTorch scan elsewhere."""

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
from .selective_scan import selective_scan


class Mamba1Mixer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.d_inner = config.d_inner
        self.d_state = config.d_state
        self.d_conv = config.d_conv
        self.dt_rank = config.dt_rank
        self.in_proj = nn.Linear(config.d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            config.d_conv,
            groups=self.d_inner,
            padding=config.d_conv - 1,
            bias=config.conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, self.d_state))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        for p in (self.A_log, self.D):
            p._no_weight_decay = True
        self.out_proj = nn.Linear(self.d_inner, config.d_model, bias=False)
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self):
        """mamba_ssm's init: S4D-real A, dt_proj weight U(+-dt_rank^-0.5), softplus^-1 dt bias."""
        c = self.config
        device = self.A_log.device if self.A_log.device.type != "meta" else None
        std = self.dt_rank**-0.5
        self.dt_proj.weight.uniform_(-std, std)
        self.dt_proj.bias.copy_(inverse_softplus_dt(self.d_inner, c.dt_min, c.dt_max, c.dt_init_floor, device))
        A = torch.arange(1, self.d_state + 1, dtype=torch.float32, device=device).repeat(self.d_inner, 1)
        self.A_log.copy_(torch.log(A))
        self.D.fill_(1.0)

    def forward(self, hidden_states, attention_mask=None, state: MambaLayerState | None = None):
        if state is not None and state.filled and hidden_states.shape[1] == 1:
            return self._step(hidden_states, state)
        kernels = state is None and use_kernels(self.config, hidden_states, "selective_scan_fn")
        x, z = self.in_proj(apply_padding_mask(hidden_states, attention_mask)).chunk(2, dim=-1)
        if state is not None:
            state.conv_state = last_conv_inputs(x, self.d_conv)
        if kernels and "causal_conv1d_fn" in load_kernels():
            x = load_kernels()["causal_conv1d_fn"](
                x.transpose(1, 2).contiguous(), self.conv1d.weight.squeeze(1), self.conv1d.bias, activation="silu"
            ).transpose(1, 2)
        else:
            x = causal_conv(x, self.conv1d)
        x = apply_padding_mask(x, attention_mask)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = dt @ self.dt_proj.weight.t()  # bias is added inside the softplus, in fp32
        A = -torch.exp(self.A_log.float())
        if kernels:
            y = load_kernels()["selective_scan_fn"](
                x.transpose(1, 2).contiguous(),
                dt.transpose(1, 2).contiguous(),
                A,
                B.transpose(1, 2).contiguous(),
                C.transpose(1, 2).contiguous(),
                self.D.float(),
                z=z.transpose(1, 2).contiguous(),
                delta_bias=self.dt_proj.bias.float(),
                delta_softplus=True,
            )
            return self.out_proj(y.transpose(1, 2))
        with torch.autocast(device_type=hidden_states.device.type, enabled=False):
            delta = F.softplus(dt.float() + self.dt_proj.bias.float())
        y, final = selective_scan(
            x.transpose(1, 2),
            delta.transpose(1, 2),
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D,
            return_final_state=True,
        )
        if state is not None:
            state.ssm_state = final
        y = y.transpose(1, 2) * F.silu(z)
        return self.out_proj(y)

    def _step(self, hidden_states, state: MambaLayerState):
        x, z = self.in_proj(hidden_states[:, 0]).chunk(2, dim=-1)
        x, state.conv_state = causal_conv_step(x, state.conv_state, self.conv1d)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus((dt @ self.dt_proj.weight.t()).float() + self.dt_proj.bias.float())  # (b, d)
        A = -torch.exp(self.A_log.float())
        dA = torch.exp(delta[..., None] * A)  # (b, d, n)
        state.ssm_state = state.ssm_state * dA + (delta * x.float())[..., None] * B.float()[:, None, :]
        y = (state.ssm_state * C.float()[:, None, :]).sum(-1) + x.float() * self.D.float()
        y = y.to(x.dtype) * F.silu(z)
        return self.out_proj(y[:, None])
