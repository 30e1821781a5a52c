"""Pure-PyTorch Mamba-1 selective scan: the CPU path and the reference for mamba_ssm's
``selective_scan_fn``.

``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = C_t h_t + D u_t`` per channel, with a
(d_inner, d_state) state. Mamba-1 decays differ per channel *and* state, so a chunked closed form
would need (b, T, T, d_inner, d_state) tensors; a time loop with the discretisation precomputed per
block of steps is both exact and memory-bounded. Runs in fp32 whatever the autocast dtype.
"""

from __future__ import annotations

import torch


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    block: int = 64,
):
    """u, delta: (b, d, l) (delta after softplus); A: (d, n); B, C: (b, n, l); D: (d,).
    Returns y (b, d, l) in u's dtype (and the final state (b, d, n) in fp32)."""
    out_dtype = u.dtype
    with torch.autocast(device_type=u.device.type, enabled=False):
        b, d, l = u.shape
        n = A.shape[1]
        uf, df, Af = u.float(), delta.float(), A.float()
        Bf, Cf = B.float(), C.float()
        state = initial_state.float() if initial_state is not None else torch.zeros(b, d, n, device=u.device)
        ys = []
        for s in range(0, l, block):
            e = min(l, s + block)
            dA = torch.exp(df[:, :, s:e, None] * Af[:, None, :])  # (b, d, T, n)
            dBu = (df[:, :, s:e] * uf[:, :, s:e])[..., None] * Bf[:, None, :, s:e].transpose(-1, -2)
            for t in range(e - s):
                state = dA[:, :, t] * state + dBu[:, :, t]
                ys.append(torch.einsum("bdn,bn->bd", state, Cf[:, :, s + t]))
        y = torch.stack(ys, dim=-1) if ys else uf.new_zeros(b, d, 0)
        if D is not None:
            y = y + uf * D.float()[:, None]
    y = y.to(out_dtype)
    return (y, state) if return_final_state else y
