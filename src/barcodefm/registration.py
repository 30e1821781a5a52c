"""In-process registration of barcodefm's configs, models and tokenizers with the Auto classes,
so ``AutoModel.from_pretrained(dir)`` works in a process that imported barcodefm, with or without
``trust_remote_code`` (remote code is what a machine without barcodefm uses).

What is registered comes from one table, :data:`barcodefm.registry.FAMILIES` (and its
:data:`~barcodefm.registry.TOKENIZERS`). Only public registration calls are used. ``AutoModel``
maps each config to a tuple of classes: transformers picks the one named in the folder's
``config.architectures`` (the first when none is named), so a saved taxonomic classifier loads as
itself here exactly as its ``auto_map`` makes it load where barcodefm is absent, and a new config
still builds the backbone."""

from __future__ import annotations

import transformers

from .registry import FAMILIES, hub_class, tokenizer_class

# Classes the pipeline task tries, in order, on a model folder (one per family).
TAXONOMIC_CLASSIFIERS = tuple(hub_class(f.modeling_module, f.taxonomic_classifier) for f in FAMILIES.values())

_done = False


def _register_family(family) -> None:
    config = hub_class(family.config_module, family.config)
    transformers.AutoConfig.register(config.model_type, config, exist_ok=True)
    for auto_class, name in family.auto_models.items():
        model = hub_class(family.modeling_module, name)
        if auto_class == "AutoModel":
            model = (model, hub_class(family.modeling_module, family.taxonomic_classifier))
        getattr(transformers, auto_class).register(config, model, exist_ok=True)
    # AutoTokenizer resolves a saved tokenizer by the class name in tokenizer_config.json among the
    # registered classes; each register() call adds its class by name. Registering a slow/fast
    # pair would alias one to the other (char -> BPE), so each class is registered on its own;
    # the last call leaves the family's default tokenizer.
    for kind in family.tokenizers:
        transformers.AutoTokenizer.register(config, tokenizer_class=tokenizer_class(kind), exist_ok=True)


def register_auto_classes() -> None:
    global _done
    if _done:
        return
    for family in FAMILIES.values():
        _register_family(family)
    from transformers.pipelines import PIPELINE_REGISTRY

    from .models.pipeline_barcodefm import PIPELINE_TASK, BarcodeClassificationPipeline

    if PIPELINE_TASK not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(
            PIPELINE_TASK, pipeline_class=BarcodeClassificationPipeline, pt_model=TAXONOMIC_CLASSIFIERS, type="text"
        )
    _done = True
