"""barcodefm: DNA-barcode foundation models (BarcodeMamba, BarcodeMamba+, BarcodeMAE) that speak
Hugging Face Transformers natively.

The public names below are imported on first use (``from barcodefm import BarcodeMambaConfig``
works as always), so ``import barcodefm`` and the ``barcodefm`` command line start without
importing torch or transformers. Importing barcodefm still registers its classes with the
``Auto*`` classes of transformers: at once if transformers is already imported, else as soon as
it is (see :mod:`barcodefm._lazy`).

Layout: ``barcodefm.models`` holds the Hub modules, the code copied next to saved weights (the old
paths such as ``barcodefm.modeling_barcodemamba`` or ``barcodefm.dna`` still import them); the
other modules and packages are tooling that never travels."""

__version__ = "0.1.0"

from ._lazy import install_old_paths as _install_old_paths
from ._lazy import lazy_getattr as _lazy_getattr
from ._lazy import register_with_transformers as _register_with_transformers
from .registry import hub_class_modules as _hub_class_modules

# public name -> the submodule that defines it (models.*: the Hub modules, which travel with the
# weights); the configs, models and tokenizers come from the table in registry.py.
_NAMES = {
    **_hub_class_modules(),
    "InvalidSequenceError": "models.dna",
    "normalize_sequence": "models.dna",
    "reverse_complement": "models.dna",
    "config_from_tokenizer": "factory",
    "load_model": "factory",
    "load_tokenizer": "factory",
    "register_auto_classes": "registration",
}

__all__ = sorted(name for name in _NAMES if name != "register_auto_classes")

__getattr__ = _lazy_getattr(__name__, _NAMES)


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


_install_old_paths()
_register_with_transformers()
