"""In-process registration of barcodefm's configs, models and tokenizers with the Auto classes,
so ``AutoModel.from_pretrained(dir)`` works in a process that imported barcodefm, with or without
``trust_remote_code`` (remote code is what a machine without barcodefm uses).

Only public registration calls are used. ``AutoModel`` maps each config to a tuple of classes:
transformers picks the one named in the folder's ``config.architectures`` (the first when none is
named), so a saved taxonomic classifier loads as itself here exactly as its ``auto_map`` makes it
load where barcodefm is absent, and a new config still builds the backbone."""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from .models.configuration_barcodemae import BarcodeMAEConfig
from .models.configuration_barcodemamba import BarcodeMambaConfig
from .models.modeling_barcodemae import (
    BarcodeMAEForPreTraining,
    BarcodeMAEForSequenceClassification,
    BarcodeMAEForTaxonomicClassification,
    BarcodeMAEModel,
)
from .models.modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForMaskedLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaForTaxonomicClassification,
    BarcodeMambaModel,
)
from .models.tokenization_barcode_bpe import BarcodeBPETokenizer
from .models.tokenization_barcode_char import BarcodeCharTokenizer
from .models.tokenization_barcode_kmer import BarcodeKmerTokenizer

# Classes the pipeline task tries, in order, on a model folder (one per family).
TAXONOMIC_CLASSIFIERS = (BarcodeMambaForTaxonomicClassification, BarcodeMAEForTaxonomicClassification)

_done = False


def register_auto_classes() -> None:
    global _done
    if _done:
        return
    AutoConfig.register(BarcodeMambaConfig.model_type, BarcodeMambaConfig, exist_ok=True)
    AutoModel.register(BarcodeMambaConfig, (BarcodeMambaModel, BarcodeMambaForTaxonomicClassification), exist_ok=True)
    AutoModelForCausalLM.register(BarcodeMambaConfig, BarcodeMambaForCausalLM, exist_ok=True)
    AutoModelForMaskedLM.register(BarcodeMambaConfig, BarcodeMambaForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(
        BarcodeMambaConfig, BarcodeMambaForSequenceClassification, exist_ok=True
    )
    AutoConfig.register(BarcodeMAEConfig.model_type, BarcodeMAEConfig, exist_ok=True)
    AutoModel.register(BarcodeMAEConfig, (BarcodeMAEModel, BarcodeMAEForTaxonomicClassification), exist_ok=True)
    AutoModelForPreTraining.register(BarcodeMAEConfig, BarcodeMAEForPreTraining, exist_ok=True)
    AutoModelForMaskedLM.register(BarcodeMAEConfig, BarcodeMAEForPreTraining, exist_ok=True)
    AutoModelForSequenceClassification.register(BarcodeMAEConfig, BarcodeMAEForSequenceClassification, exist_ok=True)
    AutoTokenizer.register(BarcodeMAEConfig, tokenizer_class=BarcodeKmerTokenizer, exist_ok=True)
    # AutoTokenizer resolves a saved tokenizer by the class name in tokenizer_config.json among the
    # registered classes; each register() call adds its class by name. Registering a slow/fast
    # pair would alias one to the other (char -> BPE), so each class is registered on its own;
    # the last call leaves the character tokenizer as the BarcodeMamba default.
    for tokenizer_class in (BarcodeKmerTokenizer, BarcodeBPETokenizer, BarcodeCharTokenizer):
        AutoTokenizer.register(BarcodeMambaConfig, tokenizer_class=tokenizer_class, exist_ok=True)
    from transformers.pipelines import PIPELINE_REGISTRY

    from .models.pipeline_barcodefm import PIPELINE_TASK, BarcodeClassificationPipeline

    if PIPELINE_TASK not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(
            PIPELINE_TASK, pipeline_class=BarcodeClassificationPipeline, pt_model=TAXONOMIC_CLASSIFIERS, type="text"
        )
    _done = True
