"""Pure-PyTorch Mamba-2 state-space duality (SSD) scan: the CPU path and the reference for the
CUDA kernels (mamba_ssm's ``mamba_chunk_scan_combined``).

Recurrence per head h: ``S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T``,
``y_t = S_t C_t + D x_t``. The chunked algorithm splits the sequence into blocks of T steps:
inside a block the outputs are a masked (T x T) attention-like product with decays from a stable
segment sum; across blocks the states are passed by a short recurrence over chunks. Peak memory
is O(b * heads * l * T) for the block scores, never O(b * chunks * l * l * heads * d_state).
Everything runs in fp32 whatever the autocast dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def segment_sum(x: torch.Tensor) -> torch.Tensor:
    """``out[..., i, j] = sum_{k=j+1..i} x[..., k]`` for i >= j, ``-inf`` above the diagonal.

    Built by a masked cumsum rather than ``cumsum[i] - cumsum[j]``, which loses precision when the
    cumulative decays are large.
    """
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)  # x[..., i, j] = x_i
    strict = torch.ones(T, T, dtype=torch.bool, device=x.device).tril(-1)
    x = x.masked_fill(~strict, 0.0)
    out = x.cumsum(dim=-2)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril(0)
    return out.masked_fill(~causal, float("-inf"))


def ssd_chunk_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int = 64,
    D: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
):
    """Chunked SSD scan.

    Args:
        x: (batch, length, heads, headdim)
        dt: (batch, length, heads), already ``softplus(dt_raw + dt_bias)`` (non-negative)
        A: (heads,), negative
        B, C: (batch, length, groups, d_state); head h reads group ``h // (heads // groups)``
        D: (heads,) skip connection, optional
        initial_state: (batch, heads, headdim, d_state), optional
    Returns:
        y of x's shape and dtype (and the final state (batch, heads, headdim, d_state) in fp32).
    """
    out_dtype = x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):
        b, l, h, p = x.shape
        g, n = B.shape[2], B.shape[3]
        k = h // g  # heads per group
        T = max(1, min(chunk_size, l))
        pad = (-l) % T
        xf, dtf, Bf, Cf = x.float(), dt.float(), B.float(), C.float()
        if pad:
            # Trailing zeros with dt = 0: no input and no decay, so outputs and the final state
            # of the real steps are unchanged.
            xf = F.pad(xf, (0, 0, 0, 0, 0, pad))
            dtf = F.pad(dtf, (0, 0, 0, pad))
            Bf = F.pad(Bf, (0, 0, 0, 0, 0, pad))
            Cf = F.pad(Cf, (0, 0, 0, 0, 0, pad))
        c = (l + pad) // T

        # Chunk-major layouts, so every product below is a batched matmul without copies:
        # x (b, c, g, k, T, p); B, C (b, c, g, 1, T, n); decays (b, c, g, k, T).
        X = (xf * dtf[..., None]).view(b, c, T, h, p).transpose(2, 3).reshape(b, c, g, k, T, p)
        Bc = Bf.view(b, c, T, g, n).transpose(2, 3).unsqueeze(3)
        Cc = Cf.view(b, c, T, g, n).transpose(2, 3).unsqueeze(3)
        Adt = (dtf * A.float()).view(b, c, T, h).transpose(2, 3).reshape(b, c, g, k, T)
        Acs = Adt.cumsum(dim=-1)

        # 1. Inside each chunk: y_i = sum_{j<=i} (C_i . B_j) exp(sum_{j<k<=i} dt A) dt_j x_j.
        CB = torch.matmul(Cc, Bc.transpose(-1, -2))  # (b, c, g, 1, T, T)
        Y = torch.matmul(CB * torch.exp(segment_sum(Adt)), X)  # (b, c, g, k, T, p)

        # 2. State each chunk contributes at its end.
        to_end = torch.exp(Acs[..., -1:] - Acs)
        chunk_states = torch.matmul((X * to_end[..., None]).transpose(-1, -2), Bc)  # (b, c, g, k, p, n)

        # 3. Pass states across chunks (a short recurrence: c = l / T steps).
        state = (
            initial_state.float().reshape(b, g, k, p, n)
            if initial_state is not None
            else torch.zeros(b, g, k, p, n, dtype=torch.float32, device=x.device)
        )
        chunk_decay = torch.exp(Acs[..., -1])  # (b, c, g, k)
        entering = []
        for i in range(c):
            entering.append(state)
            state = state * chunk_decay[:, i, :, :, None, None] + chunk_states[:, i]
        prev = torch.stack(entering, dim=1)  # (b, c, g, k, p, n)

        # 4. Contribution of the state entering each chunk to its outputs (in place: matmul's
        # backward does not read its output).
        Y = Y.addcmul_(torch.matmul(Cc, prev.transpose(-1, -2)), torch.exp(Acs)[..., None])

        y = Y.view(b, c, h, T, p).transpose(2, 3).reshape(b, c * T, h, p)[:, :l]
        if D is not None:
            y = torch.addcmul(y, xf[:, :l], D.float()[:, None])
        state = state.reshape(b, h, p, n)
    y = y.to(out_dtype)
    return (y, state) if return_final_state else y


def ssd_step(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
):
    """One recurrent step (generation). state (b, h, p, n) fp32; x (b, h, p); dt (b, h) after
    softplus; B, C (b, g, n). Returns ``(y (b, h, p), new_state)``."""
    out_dtype = x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):
        h, g = x.shape[1], B.shape[1]
        xf, dtf = x.float(), dt.float()
        Bh = B.float().repeat_interleave(h // g, dim=1)  # (b, h, n)
        Ch = C.float().repeat_interleave(h // g, dim=1)
        dA = torch.exp(dtf * A.float())  # (b, h)
        state = state * dA[..., None, None] + (dtf[..., None] * xf)[..., None] * Bh[:, :, None, :]
        y = torch.einsum("bhpn,bhn->bhp", state, Ch)
        if D is not None:
            y = y + xf * D.float()[:, None]
    return y.to(out_dtype), state
