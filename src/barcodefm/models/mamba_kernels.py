"""Optional CUDA kernels from ``mamba_ssm`` / ``causal_conv1d`` (the ``barcodefm[cuda]`` extra).

Imported lazily, on the first CUDA forward, inside ``try/except ImportError``: importing barcodefm
never imports mamba_ssm, and Hugging Face's remote-code import check skips guarded imports. A
broken build (an extension compiled for another torch) is treated like a missing one, with a log
line saying why.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

_KERNELS: dict | None = None


def load_kernels() -> dict:
    """Return the kernels that import, by name (empty on CPU-only installs). Cached."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    kernels = {}
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

        kernels["mamba_chunk_scan_combined"] = mamba_chunk_scan_combined
    except (ImportError, OSError, RuntimeError) as exc:
        logger.debug("mamba_ssm SSD kernel unavailable: %s", exc)
    try:
        from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn

        kernels["rmsnorm_fn"] = rmsnorm_fn
    except (ImportError, OSError, RuntimeError) as exc:
        logger.debug("mamba_ssm gated RMSNorm kernel unavailable: %s", exc)
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        kernels["selective_scan_fn"] = selective_scan_fn
    except (ImportError, OSError, RuntimeError) as exc:
        logger.debug("mamba_ssm selective scan kernel unavailable: %s", exc)
    try:
        from causal_conv1d import causal_conv1d_fn

        kernels["causal_conv1d_fn"] = causal_conv1d_fn
    except (ImportError, OSError, RuntimeError) as exc:
        logger.debug("causal_conv1d kernel unavailable: %s", exc)
    _KERNELS = kernels
    return kernels


def kernels_available(*names: str) -> bool:
    kernels = load_kernels()
    return all(name in kernels for name in names)
