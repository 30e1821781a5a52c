"""Mamba-1 mixer: in_proj -> x, z; causal conv over x; x_proj -> dt, B, C; dt_proj; selective
scan; ``y * SiLU(z)``; out_proj. One PyTorch forward; the conv and the scan each run as a
mamba_ssm / causal_conv1d CUDA kernel when that kernel imports and the input is on CUDA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mamba_cache import MambaLayerState
from .mixer_common import MambaMixerBase, apply_padding_mask, inverse_softplus_dt, no_weight_decay
from .selective_scan import selective_scan


def channels_first(t: torch.Tensor) -> torch.Tensor:
    """(b, l, channels) -> contiguous (b, channels, l), the layout of mamba_ssm's selective scan."""
    return t.transpose(1, 2).contiguous()


class Mamba1Mixer(MambaMixerBase):
    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx)
        self.dt_rank = config.dt_rank
        self.in_proj = nn.Linear(config.d_model, 2 * self.d_inner, bias=False)
        self.conv1d = self.depthwise_conv(self.d_inner)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, self.d_state))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        no_weight_decay(self.A_log, self.D)
        self.out_proj = nn.Linear(self.d_inner, config.d_model, bias=False)
        self.reset_ssm_parameters()

    def init_ssm_parameters(self, device):
        """S4D-real A, dt_proj weight U(+-dt_rank^-0.5), softplus^-1 dt bias (mamba_ssm's init)."""
        c = self.config
        std = self.dt_rank**-0.5
        self.dt_proj.weight.uniform_(-std, std)
        self.dt_proj.bias.copy_(inverse_softplus_dt(self.d_inner, c.dt_min, c.dt_max, c.dt_init_floor, device))
        A = torch.arange(1, self.d_state + 1, dtype=torch.float32, device=device).repeat(self.d_inner, 1)
        self.A_log.copy_(torch.log(A))

    def forward(self, hidden_states, attention_mask=None, state: MambaLayerState | None = None):
        """hidden_states (batch, length, d_model) -> (batch, length, d_model). ``state``: the layer's
        recurrent state (prefill or one-token decode step, see :class:`MambaMixerBase`)."""
        if self.is_decode_step(state, hidden_states.shape[1]):
            attention_mask = None  # the state already holds the prompt; the new token is real
        x, z = self.in_proj(apply_padding_mask(hidden_states, attention_mask)).chunk(2, dim=-1)
        x = apply_padding_mask(self.conv(x, state), attention_mask)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = dt @ self.dt_proj.weight.t()  # the bias is added inside the softplus, in fp32
        return self.out_proj(self.gated_scan(x, dt, B, C, z, state))

    def gated_scan(self, x, dt, B, C, z, state: MambaLayerState | None):
        """``selective_scan(x) * SiLU(z)``: x, z, dt (b, l, d_inner) with dt before softplus and
        bias; B, C (b, l, d_state) -> (b, l, d_inner), D skip included."""
        A = -torch.exp(self.A_log.float())
        decoding = self.is_decode_step(state, x.shape[1])
        if decoding:
            update = self.kernel("selective_state_update", x, required=True)
            if update is not None:  # updates state.ssm_state in place
                y = update(
                    state.ssm_state,
                    x[:, 0],
                    dt[:, 0],
                    A,
                    B[:, 0],
                    C[:, 0],
                    self.D,
                    z=z[:, 0],
                    dt_bias=self.dt_proj.bias,
                    dt_softplus=True,
                )
                return y[:, None]
        else:
            scan = self.kernel("selective_scan_fn", x, required=True)
            if scan is not None:  # gate fused
                y = scan(
                    channels_first(x),
                    channels_first(dt),
                    A,
                    channels_first(B),
                    channels_first(C),
                    self.D.float(),
                    z=channels_first(z),
                    delta_bias=self.dt_proj.bias.float(),
                    delta_softplus=True,
                    return_last_state=state is not None,
                )
                if state is not None:
                    y, state.ssm_state = y
                return y.transpose(1, 2)
        with torch.autocast(device_type=x.device.type, enabled=False):
            delta = F.softplus(dt.float() + self.dt_proj.bias.float())
        y, final = selective_scan(
            x.transpose(1, 2),
            delta.transpose(1, 2),
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D,
            initial_state=state.ssm_state if decoding else None,
            return_final_state=True,
        )
        if state is not None:
            state.ssm_state = final
        return y.transpose(1, 2) * F.silu(z)
