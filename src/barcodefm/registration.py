"""In-process registration of barcodefm's configs, models and tokenizers with the Auto classes,
so ``AutoModel.from_pretrained(dir)`` works in a process that imported barcodefm, with or without
``trust_remote_code`` (remote code is what a machine without barcodefm uses)."""

from __future__ import annotations

from transformers.models.auto import tokenization_auto
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from .configuration_barcodemamba import BarcodeMambaConfig
from .modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForMaskedLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaModel,
)
from .tokenization_barcode_bpe import BarcodeBPETokenizer
from .tokenization_barcode_char import BarcodeCharTokenizer
from .tokenization_barcode_kmer import BarcodeKmerTokenizer

_done = False


def register_auto_classes() -> None:
    global _done
    if _done:
        return
    AutoConfig.register(BarcodeMambaConfig.model_type, BarcodeMambaConfig, exist_ok=True)
    AutoModel.register(BarcodeMambaConfig, BarcodeMambaModel, exist_ok=True)
    AutoModelForCausalLM.register(BarcodeMambaConfig, BarcodeMambaForCausalLM, exist_ok=True)
    AutoModelForMaskedLM.register(BarcodeMambaConfig, BarcodeMambaForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(BarcodeMambaConfig, BarcodeMambaForSequenceClassification, exist_ok=True)
    # AutoTokenizer resolves a saved tokenizer by the class name in tokenizer_config.json among
    # registered classes. Registering a slow/fast pair would alias one to the other (char ->
    # BPE), so each class is registered under its own name.
    AutoTokenizer.register(BarcodeMambaConfig, tokenizer_class=BarcodeCharTokenizer, exist_ok=True)
    for tokenizer_class in (BarcodeKmerTokenizer, BarcodeBPETokenizer):
        tokenization_auto.REGISTERED_TOKENIZER_CLASSES[tokenizer_class.__name__] = tokenizer_class
    _done = True
