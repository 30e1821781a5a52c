"""Optional CUDA kernels from ``mamba_ssm`` / ``causal_conv1d`` (the ``barcodefm[cuda]`` extra).

The mixers run one PyTorch forward and swap in a kernel per op (conv, scan, one-step update,
gated norm) when that kernel imports and the input is on CUDA, so a machine with only one of the
two packages still uses the kernels it has. Each kernel is imported lazily, on first use, inside
``try/except ImportError``: importing barcodefm never imports mamba_ssm, and Hugging Face's
remote-code import check skips guarded imports. A broken build (an extension compiled for another
torch) is treated like a missing one, with a log line saying why.
"""

from __future__ import annotations

import importlib
import logging

logger = logging.getLogger(__name__)

# Kernel name -> (module, attribute). The torch op each one replaces is named beside it.
KERNEL_SOURCES = {
    "causal_conv1d_fn": ("causal_conv1d", "causal_conv1d_fn"),  # mixer_common.causal_conv
    "causal_conv1d_update": ("causal_conv1d", "causal_conv1d_update"),  # mixer_common.causal_conv_step
    "mamba_chunk_scan_combined": (  # ssd_chunk_scan.ssd_chunk_scan
        "mamba_ssm.ops.triton.ssd_combined",
        "mamba_chunk_scan_combined",
    ),
    "selective_scan_fn": (  # selective_scan.selective_scan
        "mamba_ssm.ops.selective_scan_interface",
        "selective_scan_fn",
    ),
    "selective_state_update": (  # ssd_chunk_scan.ssd_step / selective_scan.selective_scan on one step
        "mamba_ssm.ops.triton.selective_state_update",
        "selective_state_update",
    ),
    "rmsnorm_fn": ("mamba_ssm.ops.triton.layernorm_gated", "rmsnorm_fn"),  # mixer_mamba2.GatedRMSNorm
}

_KERNELS: dict | None = None


def load_kernels() -> dict:
    """Return the kernels that import, by name (empty on CPU-only installs). Cached."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    kernels = {}
    for name, (module, attribute) in KERNEL_SOURCES.items():
        try:
            kernels[name] = getattr(importlib.import_module(module), attribute)
        except (ImportError, OSError, RuntimeError, AttributeError) as exc:
            logger.debug("kernel %s unavailable: %s", name, exc)
    _KERNELS = kernels
    return kernels


def kernels_available(*names: str) -> bool:
    """Whether every kernel named imports (on whatever device)."""
    kernels = load_kernels()
    return all(name in kernels for name in names)


def runs_kernels(tensor) -> bool:
    """Whether the kernels can take this tensor (they are CUDA-only)."""
    return tensor.is_cuda


def kernel_for(config, tensor, name: str, required: bool = False):
    """The kernel ``name`` if this call should use it, else None (the torch op runs).

    ``config.use_kernels``: ``"auto"`` uses it when it imports and ``tensor`` is on CUDA,
    ``"never"`` never does, ``"always"`` raises when a ``required`` kernel (a scan) cannot run.
    """
    mode = getattr(config, "use_kernels", "auto")
    if mode == "never":
        return None
    kernel = load_kernels().get(name) if runs_kernels(tensor) else None
    if kernel is None and required and mode == "always":
        raise RuntimeError(
            f"use_kernels='always' but the CUDA kernel {name} is not importable or the input is not on a "
            "CUDA device; install barcodefm[cuda] on a CUDA machine or set use_kernels='auto'"
        )
    return kernel
