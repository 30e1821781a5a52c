"""barcodefm: DNA-barcode foundation models (BarcodeMamba, BarcodeMamba+, BarcodeMAE) that speak
Hugging Face Transformers natively."""

__version__ = "0.1.0"

from .configuration_barcodemae import BarcodeMAEConfig
from .configuration_barcodemamba import BarcodeMambaConfig
from .dna import InvalidSequenceError, normalize_sequence, reverse_complement
from .factory import config_from_tokenizer, load_model, load_tokenizer
from .modeling_barcodemae import (
    BarcodeMAEForPreTraining,
    BarcodeMAEForSequenceClassification,
    BarcodeMAEForTaxonomicClassification,
    BarcodeMAEModel,
    BarcodeMAEPreTrainedModel,
)
from .modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForMaskedLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaForTaxonomicClassification,
    BarcodeMambaModel,
    BarcodeMambaPreTrainedModel,
)
from .registration import register_auto_classes
from .tokenization_barcode_bpe import BarcodeBPETokenizer
from .tokenization_barcode_char import BarcodeCharTokenizer
from .tokenization_barcode_kmer import BarcodeKmerTokenizer

register_auto_classes()

__all__ = [
    "BarcodeBPETokenizer",
    "BarcodeCharTokenizer",
    "BarcodeKmerTokenizer",
    "BarcodeMAEConfig",
    "BarcodeMAEForPreTraining",
    "BarcodeMAEForSequenceClassification",
    "BarcodeMAEForTaxonomicClassification",
    "BarcodeMAEModel",
    "BarcodeMAEPreTrainedModel",
    "BarcodeMambaConfig",
    "BarcodeMambaForCausalLM",
    "BarcodeMambaForMaskedLM",
    "BarcodeMambaForSequenceClassification",
    "BarcodeMambaForTaxonomicClassification",
    "BarcodeMambaModel",
    "BarcodeMambaPreTrainedModel",
    "InvalidSequenceError",
    "config_from_tokenizer",
    "load_model",
    "load_tokenizer",
    "normalize_sequence",
    "reverse_complement",
]
