"""LoRA fine-tuning with PEFT (``barcodefm finetune --lora``).

Adapters go on linear layers the forward pass calls as modules: the Mamba ``in_proj`` and the
block MLP's ``fc1``/``fc2`` by default. ``out_proj`` and ``conv1d`` are refused, as PEFT refuses
them on its own Mamba types (the fused CUDA kernels read those weights directly, so an adapter
there would be bypassed on GPU); so is Mamba-1's ``dt_proj``, whose weight the scan reads
directly. A requested target that matches no layer is an error, not PEFT's warning. The
classifier head is trained in full (``modules_to_save``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_TARGETS = ("in_proj", "fc1", "fc2")
REFUSED_TARGETS = {
    "out_proj": "read directly by the fused Mamba CUDA kernels",
    "conv1d": "read directly by the fused Mamba CUDA kernels",
    "dt_proj": "its weight is read directly by the selective scan",
}
HEAD_MODULES = ("classifier",)


def linear_layer_names(model: nn.Module) -> set[str]:
    """Last name component of every ``nn.Linear`` in ``model`` (what LoRA targets match)."""
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)}


def lora_targets(model: nn.Module, requested: Sequence[str] | None = None) -> list[str]:
    """Validated LoRA target names: the defaults present in ``model``, or ``requested``."""
    present = linear_layer_names(model) - set(HEAD_MODULES)
    if requested is None:
        targets = [t for t in DEFAULT_TARGETS if t in present]
        if not targets:
            raise ValueError(f"none of the default LoRA targets {DEFAULT_TARGETS} is a layer of this model")
        return targets
    targets = list(dict.fromkeys(requested))
    for target in targets:
        if target in REFUSED_TARGETS:
            raise ValueError(f"LoRA target {target!r} is not allowed on Mamba layers: {REFUSED_TARGETS[target]}")
        if target in HEAD_MODULES:
            raise ValueError(f"{target!r} is the classifier head: it is trained in full, not through LoRA")
        if target not in present:
            raise ValueError(
                f"LoRA target {target!r} matches no linear layer of the model; its layers are: {', '.join(sorted(present))}"
            )
    if not targets:
        raise ValueError("no LoRA target given")
    return targets


def apply_lora(
    model: nn.Module, targets: Sequence[str] | None = None, r: int = 8, alpha: int = 16, dropout: float = 0.05
):
    """Wrap ``model`` (a sequence classifier) in a PEFT LoRA model; base weights are frozen."""
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer

    if r < 1:
        raise ValueError(f"--lora-r must be >= 1, got {r}")
    targets = lora_targets(model, targets)
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, modules_to_save=list(HEAD_MODULES)
    )
    peft_model = get_peft_model(model, config)
    adapted = {name.rsplit(".", 1)[-1] for name, module in peft_model.named_modules() if isinstance(module, LoraLayer)}
    unmatched = sorted(set(targets) - adapted)
    if unmatched:
        raise ValueError(f"LoRA target(s) {', '.join(unmatched)} matched no layer")
    trainable, total = peft_model.get_nb_trainable_parameters()
    logger.info(
        "LoRA on %s (r=%d, alpha=%d): %d of %d parameters trainable (%.2f%%)",
        ", ".join(targets),
        r,
        alpha,
        trainable,
        total,
        100 * trainable / max(total, 1),
    )
    return peft_model
