"""The mixers' kernel wiring, checked on CPU: every kernel entry point that ``mamba_kernels``
looks up is replaced by a stand-in with the kernel's signature that computes the op with torch
and records its call. Each op must be swapped on its own (a machine may have only one of the two
kernel packages), with or without a cache, and give the torch path's outputs and states."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.models import mamba_kernels
from barcodefm.models.configuration_barcodemamba import BarcodeMambaConfig
from barcodefm.models.mamba_cache import MambaLayerState
from barcodefm.models.mixer_mamba1 import Mamba1Mixer
from barcodefm.models.mixer_mamba2 import Mamba2Mixer
from barcodefm.models.selective_scan import selective_scan
from barcodefm.models.ssd_chunk_scan import ssd_chunk_scan

# --- stand-ins: the kernels' signatures and layouts, torch inside -----------------------------


def causal_conv1d_fn(x, weight, bias=None, activation=None, **_):
    """x (b, channels, l); weight (channels, k)."""
    k = weight.shape[-1]
    y = F.conv1d(x, weight[:, None], bias, padding=k - 1, groups=x.shape[1])[..., : x.shape[-1]]
    return F.silu(y) if activation == "silu" else y


def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None, **_):
    """x (b, channels); conv_state (b, channels, k), updated in place."""
    conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None].to(conv_state.dtype)], dim=-1))
    y = (conv_state * weight).sum(-1) + (bias if bias is not None else 0)
    return (F.silu(y) if activation == "silu" else y).to(x.dtype)


def mamba_chunk_scan_combined(
    x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False, return_final_states=False, **_
):
    assert z is None  # the mixer gates in its norm
    dt = dt.float() + (dt_bias.float() if dt_bias is not None else 0)
    dt = F.softplus(dt) if dt_softplus else dt
    return ssd_chunk_scan(x, dt, A, B, C, chunk_size=chunk_size, D=D, return_final_state=return_final_states)


def selective_scan_fn(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False, **_
):
    """u, delta, z (b, d, l); B, C (b, n, l)."""
    delta = delta.float() + (delta_bias.float()[:, None] if delta_bias is not None else 0)
    delta = F.softplus(delta) if delta_softplus else delta
    y, last = selective_scan(u, delta, A, B, C, D, return_final_state=True)
    y = y * F.silu(z) if z is not None else y
    return (y, last) if return_last_state else y


def selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False, **_):
    """One step, state updated in place. Mamba-2 layout: state (b, h, p, n), x, dt, z (b, h, p),
    A (h, p, n), B, C (b, g, n), D, dt_bias (h, p); Mamba-1 has no head axis."""
    if state.dim() == 3:  # Mamba-1: one head per channel block
        state, x, dt, A, B, C = state[:, None], x[:, None], dt[:, None], A[None], B[:, None], C[:, None]
        D = D[None] if D is not None else None
        z = z[:, None] if z is not None else None
        dt_bias = dt_bias[None] if dt_bias is not None else None
        return selective_state_update(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)[:, 0]
    heads, groups = state.shape[1], B.shape[1]
    dt = dt.float() + (dt_bias.float() if dt_bias is not None else 0)
    dt = F.softplus(dt) if dt_softplus else dt
    B = B.float().repeat_interleave(heads // groups, dim=1)[:, :, None]  # (b, h, 1, n)
    C = C.float().repeat_interleave(heads // groups, dim=1)[:, :, None]
    state.copy_(state * torch.exp(dt[..., None] * A) + (dt * x.float())[..., None] * B)
    y = (state * C).sum(-1) + (x.float() * D.float() if D is not None else 0)
    y = y * F.silu(z.float()) if z is not None else y
    return y.to(x.dtype)


def rmsnorm_fn(x, weight, bias, z=None, eps=1e-6, group_size=None, norm_before_gate=True, **_):
    assert bias is None and not norm_before_gate
    y = x.float() * F.silu(z.float())
    groups = y.view(*y.shape[:-1], -1, group_size)
    y = (groups * torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + eps)).view(y.shape)
    return (y * weight.float()).to(x.dtype)


STAND_INS = {
    f.__name__: f
    for f in (
        causal_conv1d_fn,
        causal_conv1d_update,
        mamba_chunk_scan_combined,
        selective_scan_fn,
        selective_state_update,
        rmsnorm_fn,
    )
}
PACKAGES = {
    "causal_conv1d": {"causal_conv1d_fn", "causal_conv1d_update"},
    "mamba_ssm": {"mamba_chunk_scan_combined", "selective_scan_fn", "selective_state_update", "rmsnorm_fn"},
}
USED_BY = {
    1: {"causal_conv1d_fn", "causal_conv1d_update", "selective_scan_fn", "selective_state_update"},
    2: {
        "causal_conv1d_fn",
        "causal_conv1d_update",
        "mamba_chunk_scan_combined",
        "selective_state_update",
        "rmsnorm_fn",
    },
}
SUBSETS = {name: {name} for name in STAND_INS} | PACKAGES | {"all": set(STAND_INS)}


def test_the_stand_ins_cover_every_kernel_the_mixers_look_up():
    assert set(STAND_INS) == set(mamba_kernels.KERNEL_SOURCES)


@pytest.fixture
def install_kernels(monkeypatch):
    """``install_kernels(names)`` makes exactly those kernels "importable" and CPU tensors count
    as kernel tensors; returns the list every kernel call is appended to."""

    def install(names):
        calls = []

        def recorded(name):
            def call(*args, **kwargs):
                calls.append(name)
                return STAND_INS[name](*args, **kwargs)

            return call

        monkeypatch.setattr(mamba_kernels, "_KERNELS", {name: recorded(name) for name in names})
        monkeypatch.setattr(mamba_kernels, "runs_kernels", lambda tensor: True)
        return calls

    return install


def tiny_mixer(version):
    torch.manual_seed(0)
    if version == 2:
        cfg = BarcodeMambaConfig(d_model=32, headdim=8, d_state=16, ngroups=2, torch_chunk_size=16, chunk_size=32)
        return Mamba2Mixer(cfg, 0)
    return Mamba1Mixer(BarcodeMambaConfig(d_model=32, mamba_version=1, d_state=8), 0)


def run_mixer(m, u, mask, prompt):
    """Outputs of a masked full forward, and of a masked prefill + one-token steps with the state."""
    with torch.no_grad():
        full = m(u, attention_mask=mask)
        state = MambaLayerState()
        steps = [m(u[:, :prompt], attention_mask=mask[:, :prompt], state=state)]
        steps += [m(u[:, t : t + 1], state=state) for t in range(prompt, u.shape[1])]
    return full, torch.cat(steps, dim=1), state


@pytest.mark.parametrize("subset", list(SUBSETS))
@pytest.mark.parametrize("version", [1, 2])
def test_each_kernel_is_swapped_in_on_its_own_with_and_without_a_cache(version, subset, install_kernels):
    m = tiny_mixer(version)
    u = torch.randn(3, 70, 32)
    mask = torch.ones(3, 70, dtype=torch.long)
    mask[1, :9] = 0  # left padding
    mask[2, :40] = 0
    m.config.use_kernels = "never"
    torch_full, torch_steps, torch_state = run_mixer(m, u, mask, prompt=50)
    m.config.use_kernels = "auto"
    calls = install_kernels(SUBSETS[subset])
    full, steps, state = run_mixer(m, u, mask, prompt=50)
    assert set(calls) == SUBSETS[subset] & USED_BY[version]
    torch.testing.assert_close(full, torch_full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(steps, torch_steps, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(steps, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state.ssm_state, torch_state.ssm_state, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state.conv_state, torch_state.conv_state, rtol=0, atol=0)


@pytest.mark.parametrize("version", [1, 2])
def test_kernels_get_gradients_like_the_torch_path(version, install_kernels):
    m = tiny_mixer(version)
    u = torch.randn(2, 20, 32)
    m.config.use_kernels = "never"
    m(u).pow(2).mean().backward()
    expected = {name: p.grad.clone() for name, p in m.named_parameters()}
    m.zero_grad()
    m.config.use_kernels = "auto"
    calls = install_kernels(set(STAND_INS))
    m(u).pow(2).mean().backward()
    assert set(calls) == USED_BY[version] - {"causal_conv1d_update", "selective_state_update"}
    for name, p in m.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("version", [1, 2])
def test_never_ignores_the_kernels_and_always_needs_the_scans(version, install_kernels):
    m = tiny_mixer(version)
    u = torch.randn(2, 10, 32)
    calls = install_kernels(set(STAND_INS))
    m.config.use_kernels = "never"
    m(u)
    assert calls == []
    install_kernels(PACKAGES["causal_conv1d"])  # no scan kernel: "always" cannot keep its word
    m.config.use_kernels = "always"
    with pytest.raises(RuntimeError, match="use_kernels='always'"):
        m(u)
    calls = install_kernels(PACKAGES["mamba_ssm"])  # the conv kernel is optional
    m(u)
    assert calls


def test_the_model_decodes_with_every_kernel_swapped_in(install_kernels):
    """generate() through the model with kernels for every op equals the torch path's."""
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaForCausalLM(config_from_tokenizer(tok, d_model=32, n_layer=2, headdim=16, d_state=16)).eval()
    prompts = tok(["ACGTTGCAAC", "TTGACA"], padding=True, return_tensors="pt")
    kwargs = dict(max_new_tokens=6, do_sample=False, return_dict_in_generate=True, output_logits=True)
    with torch.no_grad():
        model.config.use_kernels = "never"
        reference = model.generate(**prompts, **kwargs, pad_token_id=tok.pad_token_id)
        model.config.use_kernels = "auto"
        calls = install_kernels(set(STAND_INS))
        got = model.generate(**prompts, **kwargs, pad_token_id=tok.pad_token_id)
    assert set(calls) == USED_BY[2]
    assert torch.equal(got.sequences, reference.sequences)
    torch.testing.assert_close(torch.stack(got.logits), torch.stack(reference.logits), rtol=1e-5, atol=1e-5)


def test_missing_or_broken_kernels_are_left_out(monkeypatch):
    sources = {
        "present": ("math", "sqrt"),
        "missing_module": ("barcodefm_no_such_kernel_package", "f"),
        "missing_name": ("math", "no_such_function"),
    }
    monkeypatch.setattr(mamba_kernels, "KERNEL_SOURCES", sources)
    monkeypatch.setattr(mamba_kernels, "_KERNELS", None)
    assert mamba_kernels.load_kernels() == {"present": math.sqrt}
    assert mamba_kernels.kernels_available("present") and not mamba_kernels.kernels_available("missing_name")
