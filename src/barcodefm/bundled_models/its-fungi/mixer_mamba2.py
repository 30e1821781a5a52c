"""Mamba-2 mixer: in_proj -> z, xBC, dt; causal conv over xBC; chunked SSD scan (one recurrent
step when decoding); ``RMSNorm(y * SiLU(z))``; out_proj. One PyTorch forward; each op runs as a
mamba_ssm / causal_conv1d CUDA kernel when that kernel imports and the input is on CUDA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mamba_cache import MambaLayerState
from .mixer_common import MambaMixerBase, apply_padding_mask, inverse_softplus_dt, no_weight_decay
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


class Mamba2Mixer(MambaMixerBase):
    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx)
        self.nheads = config.nheads
        self.headdim = config.headdim
        self.ngroups = config.ngroups
        self.conv_dim = self.d_inner + 2 * self.ngroups * self.d_state
        # in_proj layout [z | x | B | C | dt], no bias.
        self.in_proj = nn.Linear(
            config.d_model, 2 * self.d_inner + 2 * self.ngroups * self.d_state + self.nheads, bias=False
        )
        self.conv1d = self.depthwise_conv(self.conv_dim)
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.D = nn.Parameter(torch.ones(self.nheads))
        no_weight_decay(self.dt_bias, self.A_log, self.D)
        self.norm = GatedRMSNorm(self.d_inner, self.d_inner // self.ngroups, eps=config.layer_norm_epsilon)
        self.out_proj = nn.Linear(self.d_inner, config.d_model, bias=False)
        self.reset_ssm_parameters()

    def init_ssm_parameters(self, device):
        """softplus^-1 dt bias, A uniform in ``A_init_range`` (mamba_ssm's init)."""
        c = self.config
        self.dt_bias.copy_(inverse_softplus_dt(self.nheads, c.dt_min, c.dt_max, c.dt_init_floor, device))
        lo, hi = c.A_init_range
        self.A_log.copy_(torch.log(torch.empty(self.nheads, device=device).uniform_(lo, hi)))

    def forward(self, hidden_states, attention_mask=None, state: MambaLayerState | None = None):
        """hidden_states (batch, length, d_model) -> (batch, length, d_model). ``state``: the layer's
        recurrent state (prefill or one-token decode step, see :class:`MambaMixerBase`)."""
        if self.is_decode_step(state, hidden_states.shape[1]):
            attention_mask = None  # the state already holds the prompt; the new token is real
        zxbcdt = self.in_proj(apply_padding_mask(hidden_states, attention_mask))
        z, xbc, dt = torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)
        xbc = apply_padding_mask(self.conv(xbc, state), attention_mask)
        gn = self.ngroups * self.d_state
        x, B, C = torch.split(xbc, [self.d_inner, gn, gn], dim=-1)
        y = self.scan(x, dt, B, C, state)
        return self.out_proj(self.gated_norm(y, z))

    def scan(self, x, dt, B, C, state: MambaLayerState | None):
        """The SSD scan: x (b, l, d_inner), dt (b, l, heads) before softplus and bias, B, C
        (b, l, groups * d_state) -> y (b, l, d_inner), D skip included."""
        b, l, _ = x.shape
        x = x.reshape(b, l, self.nheads, self.headdim)
        B = B.reshape(b, l, self.ngroups, self.d_state)
        C = C.reshape(b, l, self.ngroups, self.d_state)
        A = -torch.exp(self.A_log.float())
        if self.is_decode_step(state, l):
            update = self.kernel("selective_state_update", x, required=True)
            if update is not None:  # mamba_ssm's per-channel layout; updates state.ssm_state in place
                y = update(
                    state.ssm_state,
                    x[:, 0],
                    dt[:, 0, :, None].expand(-1, -1, self.headdim),
                    A[:, None, None].expand(-1, self.headdim, self.d_state),
                    B[:, 0],
                    C[:, 0],
                    self.D[:, None].expand(-1, self.headdim),
                    z=None,
                    dt_bias=self.dt_bias[:, None].expand(-1, self.headdim),
                    dt_softplus=True,
                )
            else:
                dt = F.softplus(dt[:, 0].float() + self.dt_bias.float())
                y, state.ssm_state = ssd_step(state.ssm_state, x[:, 0], dt, A, B[:, 0], C[:, 0], self.D)
            return y.reshape(b, 1, self.d_inner)
        chunk_scan = self.kernel("mamba_chunk_scan_combined", x, required=True)
        if chunk_scan is not None:
            out = chunk_scan(
                x,
                dt,
                A,
                B,
                C,
                chunk_size=self.config.chunk_size,
                D=self.D,
                z=None,
                dt_bias=self.dt_bias,
                dt_softplus=True,
                return_final_states=state is not None,
            )
        else:
            with torch.autocast(device_type=x.device.type, enabled=False):
                dt = F.softplus(dt.float() + self.dt_bias.float())
            out = ssd_chunk_scan(
                x,
                dt,
                A,
                B,
                C,
                chunk_size=self.config.torch_chunk_size,
                D=self.D,
                return_final_state=state is not None,
            )
        if state is not None:
            out, state.ssm_state = out
        return out.reshape(b, l, self.d_inner)

    def gated_norm(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``RMSNorm(y * SiLU(z))`` per group: mamba_ssm's fused kernel or :class:`GatedRMSNorm`."""
        rmsnorm = self.kernel("rmsnorm_fn", y)
        if rmsnorm is None:
            return self.norm(y, z)
        return rmsnorm(
            y, self.norm.weight, None, z=z, eps=self.norm.eps, group_size=self.norm.group_size, norm_before_gate=False
        )


__all__ = ["Mamba2Mixer", "GatedRMSNorm"]
