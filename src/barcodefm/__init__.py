"""barcodefm: DNA-barcode foundation models (BarcodeMamba, BarcodeMamba+, BarcodeMAE) that speak
Hugging Face Transformers natively.

The public names below are imported on first use (``from barcodefm import BarcodeMambaConfig``
works as always), so ``import barcodefm`` and the ``barcodefm`` command line start without
importing torch or transformers. Importing barcodefm still registers its classes with the
``Auto*`` classes of transformers: at once if transformers is already imported, else as soon as
it is (see :mod:`barcodefm._lazy`)."""

__version__ = "0.1.0"

from ._lazy import lazy_getattr as _lazy_getattr
from ._lazy import register_with_transformers as _register_with_transformers

# public name -> the submodule that defines it
_NAMES = {
    "BarcodeMAEConfig": "configuration_barcodemae",
    "BarcodeMambaConfig": "configuration_barcodemamba",
    "InvalidSequenceError": "dna",
    "normalize_sequence": "dna",
    "reverse_complement": "dna",
    "config_from_tokenizer": "factory",
    "load_model": "factory",
    "load_tokenizer": "factory",
    "BarcodeMAEForPreTraining": "modeling_barcodemae",
    "BarcodeMAEForSequenceClassification": "modeling_barcodemae",
    "BarcodeMAEForTaxonomicClassification": "modeling_barcodemae",
    "BarcodeMAEModel": "modeling_barcodemae",
    "BarcodeMAEPreTrainedModel": "modeling_barcodemae",
    "BarcodeMambaForCausalLM": "modeling_barcodemamba",
    "BarcodeMambaForMaskedLM": "modeling_barcodemamba",
    "BarcodeMambaForSequenceClassification": "modeling_barcodemamba",
    "BarcodeMambaForTaxonomicClassification": "modeling_barcodemamba",
    "BarcodeMambaModel": "modeling_barcodemamba",
    "BarcodeMambaPreTrainedModel": "modeling_barcodemamba",
    "register_auto_classes": "registration",
    "BarcodeBPETokenizer": "tokenization_barcode_bpe",
    "BarcodeCharTokenizer": "tokenization_barcode_char",
    "BarcodeKmerTokenizer": "tokenization_barcode_kmer",
}

__all__ = sorted(name for name in _NAMES if name != "register_auto_classes")

__getattr__ = _lazy_getattr(__name__, _NAMES)


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


_register_with_transformers()
