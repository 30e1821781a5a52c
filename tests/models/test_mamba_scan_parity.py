"""The pure-PyTorch scans against a naive per-timestep recurrence written here (fp32, 1e-5),
and the mixers' cached decoding (prefill + one-token steps) against their full forward.

The naive loops below are the recurrences' definitions, step by step, with no chunking, no
segment sums and no shared code with the package.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from barcodefm.models.configuration_barcodemamba import BarcodeMambaConfig
from barcodefm.models.mamba_cache import MambaLayerState
from barcodefm.models.mixer_mamba1 import Mamba1Mixer
from barcodefm.models.mixer_mamba2 import Mamba2Mixer
from barcodefm.models.selective_scan import selective_scan
from barcodefm.models.ssd_chunk_scan import ssd_chunk_scan

LENGTHS = [1, 7, 63, 64, 65, 660]


def naive_ssd(x, dt, A, B, C, D):
    """S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T ; y_t = S_t C_t + D x_t, per head."""
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    S = torch.zeros(b, h, p, n, dtype=torch.float64)
    ys = []
    for t in range(l):
        Bt = B[:, t].repeat_interleave(h // g, dim=1)  # (b, h, n)
        Ct = C[:, t].repeat_interleave(h // g, dim=1)
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        S = decay[..., None, None] * S + (dt[:, t, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", S, Ct) + D[:, None] * x[:, t])
    return torch.stack(ys, dim=1), S


def naive_selective_scan(u, delta, A, B, C, D):
    """h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t ; y_t = C_t . h_t + D u_t, per channel."""
    b, d, l = u.shape
    h = torch.zeros(b, d, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(l):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[:, :, t])
    return torch.stack(ys, dim=-1), h


def random_ssd_inputs(b, l, h, p, g, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, l, h, generator=gen) - 1.0)
    A = -torch.exp(torch.rand(h, generator=gen) * 2.5)  # -1 .. -12
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    return x, dt, A, B, C, D


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("ngroups", [1, 2])
def test_ssd_chunk_scan_matches_naive_recurrence(length, ngroups):
    x, dt, A, B, C, D = random_ssd_inputs(b=3, l=length, h=4, p=8, g=ngroups, n=16, seed=length)
    y, final = ssd_chunk_scan(x, dt, A, B, C, chunk_size=64, D=D, return_final_state=True)
    y_ref, final_ref = naive_ssd(*(t.double() for t in (x, dt, A, B, C, D)))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, y_ref.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(final, final_ref.float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 16, 37, 128])
def test_ssd_chunk_size_changes_only_rounding(chunk):
    x, dt, A, B, C, D = random_ssd_inputs(b=2, l=150, h=4, p=8, g=2, n=16, seed=1)
    torch.testing.assert_close(
        ssd_chunk_scan(x, dt, A, B, C, chunk_size=chunk, D=D),
        ssd_chunk_scan(x, dt, A, B, C, chunk_size=64, D=D),
        rtol=1e-5,
        atol=1e-5,
    )


def test_ssd_runs_in_fp32_under_bf16_autocast():
    x, dt, A, B, C, D = random_ssd_inputs(b=2, l=70, h=4, p=8, g=1, n=16, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = ssd_chunk_scan(x, dt, A, B, C, chunk_size=32, D=D)
    torch.testing.assert_close(y, ssd_chunk_scan(x, dt, A, B, C, chunk_size=32, D=D), rtol=0, atol=0)


@pytest.mark.parametrize("length", LENGTHS)
def test_selective_scan_matches_naive_recurrence(length):
    gen = torch.Generator().manual_seed(length)
    b, d, n = 3, 12, 8
    u = torch.randn(b, d, length, generator=gen)
    delta = F.softplus(torch.randn(b, d, length, generator=gen) - 1)
    A = -torch.exp(torch.rand(d, n, generator=gen) * 2.5)
    B = torch.randn(b, n, length, generator=gen)
    C = torch.randn(b, n, length, generator=gen)
    D = torch.randn(d, generator=gen)
    y, final = selective_scan(u, delta, A, B, C, D, return_final_state=True)
    y_ref, final_ref = naive_selective_scan(*(t.double() for t in (u, delta, A, B, C, D)))
    torch.testing.assert_close(y, y_ref.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(final, final_ref.float(), rtol=1e-5, atol=1e-5)


def naive_mamba2_mixer(m: Mamba2Mixer, u):
    """The whole mixer from its parameters, step by step (conv, scan, gated group RMSNorm)."""
    with torch.no_grad():
        b, l, _ = u.shape
        zxbcdt = u @ m.in_proj.weight.t()
        z, xbc, dt = torch.split(zxbcdt, [m.d_inner, m.conv_dim, m.nheads], dim=-1)
        w = m.conv1d.weight[:, 0]  # (ch, k)
        k = w.shape[1]
        padded = F.pad(xbc, (0, 0, k - 1, 0))
        conv = torch.stack([(padded[:, t : t + k].transpose(1, 2) * w).sum(-1) + m.conv1d.bias for t in range(l)], 1)
        xbc = F.silu(conv)
        x, B, C = torch.split(xbc, [m.d_inner, m.ngroups * m.d_state, m.ngroups * m.d_state], dim=-1)
        y, _ = naive_ssd(
            x.reshape(b, l, m.nheads, m.headdim).double(),
            F.softplus(dt + m.dt_bias).double(),
            -torch.exp(m.A_log).double(),
            B.reshape(b, l, m.ngroups, m.d_state).double(),
            C.reshape(b, l, m.ngroups, m.d_state).double(),
            m.D.double(),
        )
        y = y.reshape(b, l, m.d_inner).float() * F.silu(z)
        yg = y.view(b, l, m.ngroups, -1)
        y = (yg / torch.sqrt(yg.pow(2).mean(-1, keepdim=True) + m.norm.eps)).view(b, l, -1) * m.norm.weight
        return y @ m.out_proj.weight.t()


@pytest.mark.parametrize("length", [1, 65, 660])
@pytest.mark.parametrize("ngroups", [1, 2])
def test_mamba2_mixer_torch_path_matches_naive(length, ngroups):
    torch.manual_seed(0)
    cfg = BarcodeMambaConfig(d_model=32, headdim=16, d_state=16, ngroups=ngroups, torch_chunk_size=64)
    m = Mamba2Mixer(cfg, 0)
    u = torch.randn(2, length, 32)
    with torch.no_grad():
        torch.testing.assert_close(m(u), naive_mamba2_mixer(m, u), rtol=1e-5, atol=1e-5)


def test_mamba1_mixer_torch_path_matches_naive():
    torch.manual_seed(0)
    cfg = BarcodeMambaConfig(d_model=32, mamba_version=1, d_state=8)
    m = Mamba1Mixer(cfg, 0)
    u = torch.randn(2, 65, 32)
    with torch.no_grad():
        x, z = (u @ m.in_proj.weight.t()).chunk(2, dim=-1)
        w = m.conv1d.weight[:, 0]
        padded = F.pad(x, (0, 0, 3, 0))
        x = F.silu(
            torch.stack([(padded[:, t : t + 4].transpose(1, 2) * w).sum(-1) + m.conv1d.bias for t in range(65)], 1)
        )
        dt, B, C = torch.split(x @ m.x_proj.weight.t(), [m.dt_rank, 8, 8], dim=-1)
        delta = F.softplus(dt @ m.dt_proj.weight.t() + m.dt_proj.bias)
        y, _ = naive_selective_scan(
            x.transpose(1, 2).double(),
            delta.transpose(1, 2).double(),
            -torch.exp(m.A_log).double(),
            B.transpose(1, 2).double(),
            C.transpose(1, 2).double(),
            m.D.double(),
        )
        ref = (y.float().transpose(1, 2) * F.silu(z)) @ m.out_proj.weight.t()
        torch.testing.assert_close(m(u), ref, rtol=1e-5, atol=1e-5)


def tiny_mixer(version, **kw):
    torch.manual_seed(0)
    if version == 2:
        cfg = BarcodeMambaConfig(d_model=32, headdim=16, d_state=16, torch_chunk_size=16, **kw)
        return Mamba2Mixer(cfg, 0)
    return Mamba1Mixer(BarcodeMambaConfig(d_model=32, mamba_version=1, d_state=8, **kw), 0)


@pytest.mark.parametrize("prompt", [1, 2, 25])  # shorter and longer than d_conv
@pytest.mark.parametrize("version", [1, 2])
def test_prefill_then_one_token_steps_equal_the_full_forward(version, prompt):
    m = tiny_mixer(version)
    u = torch.randn(2, 40, 32)
    with torch.no_grad():
        full = m(u)
        state = MambaLayerState()
        outputs = [m(u[:, :prompt], state=state)]
        outputs += [m(u[:, t : t + 1], state=state) for t in range(prompt, u.shape[1])]
    torch.testing.assert_close(torch.cat(outputs, dim=1), full, rtol=1e-5, atol=1e-5)
    assert state.conv_state.shape[-1] == m.d_conv


@pytest.mark.parametrize("version", [1, 2])
def test_cached_steps_match_the_naive_recurrence_state(version):
    """After prefill + steps the SSM state is the naive recurrence's final state."""
    m = tiny_mixer(version)
    u = torch.randn(2, 30, 32)
    with torch.no_grad():
        whole = MambaLayerState()
        m(u, state=whole)
        stepped = MambaLayerState()
        m(u[:, :10], state=stepped)
        for t in range(10, 30):
            m(u[:, t : t + 1], state=stepped)
    torch.testing.assert_close(stepped.ssm_state, whole.ssm_state, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stepped.conv_state, whole.conv_state, rtol=0, atol=0)
    with torch.no_grad():  # the prefill's state against the naive loop, from the mixer's own inputs
        if version == 2:
            z, xbc, dt = torch.split(m.in_proj(u), [m.d_inner, m.conv_dim, m.nheads], dim=-1)
            x, B, C = torch.split(m.conv(xbc, None), [m.d_inner, m.d_state, m.d_state], dim=-1)
            _, ref = naive_ssd(
                x.reshape(2, 30, m.nheads, m.headdim).double(),
                F.softplus(dt + m.dt_bias).double(),
                -torch.exp(m.A_log).double(),
                B.reshape(2, 30, 1, m.d_state).double(),
                C.reshape(2, 30, 1, m.d_state).double(),
                m.D.double(),
            )
        else:
            x = m.conv(m.in_proj(u).chunk(2, dim=-1)[0], None)
            dt, B, C = torch.split(m.x_proj(x), [m.dt_rank, m.d_state, m.d_state], dim=-1)
            _, ref = naive_selective_scan(
                x.transpose(1, 2).double(),
                F.softplus(m.dt_proj(dt)).transpose(1, 2).double(),
                -torch.exp(m.A_log).double(),
                B.transpose(1, 2).double(),
                C.transpose(1, 2).double(),
                m.D.double(),
            )
    torch.testing.assert_close(whole.ssm_state, ref.float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("version", [1, 2])
def test_a_longer_call_on_a_filled_state_starts_a_new_prefill(version):
    m = tiny_mixer(version)
    u = torch.randn(2, 12, 32)
    with torch.no_grad():
        state = MambaLayerState()
        m(torch.randn(2, 7, 32), state=state)
        again = m(u, state=state)
        fresh = MambaLayerState()
        torch.testing.assert_close(again, m(u, state=fresh), rtol=0, atol=0)
    torch.testing.assert_close(state.ssm_state, fresh.ssm_state, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA kernel parity needs a GPU with mamba_ssm")
@pytest.mark.parametrize("version", [1, 2])
def test_cuda_kernel_path_matches_torch_path(version):
    """The real kernels against the torch ops, whole sequences and prefill + one-token steps."""
    from barcodefm.models.mamba_kernels import kernels_available

    needed = "mamba_chunk_scan_combined" if version == 2 else "selective_scan_fn"
    if not kernels_available(needed, "selective_state_update"):
        pytest.skip("mamba_ssm kernels are not importable on this machine")
    torch.manual_seed(0)
    cfg = BarcodeMambaConfig(d_model=256, headdim=64, mamba_version=version)
    m = (Mamba2Mixer if version == 2 else Mamba1Mixer)(cfg, 0).cuda()
    u = torch.randn(4, 660, 256, device="cuda")

    def full_and_stepped():
        state = MambaLayerState()
        stepped = [m(u[:, :600], state=state)] + [m(u[:, t : t + 1], state=state) for t in range(600, 660)]
        return m(u), torch.cat(stepped, dim=1), state.ssm_state

    with torch.no_grad():
        fast = full_and_stepped()
        m.config.use_kernels = "never"
        slow = full_and_stepped()
    for got, expected in zip(fast, slow):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)
