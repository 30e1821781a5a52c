"""Small constructors that tie tokenizers, configs and saved folders together (tooling)."""

from __future__ import annotations

import inspect
from pathlib import Path


def config_from_tokenizer(tokenizer, config_class=None, **kwargs):
    """A model config whose vocabulary and special ids match ``tokenizer``.

    ``n_token_id`` is the id of ``N`` (char/BPE) or ``[UNK]`` (k-mer: an N-containing k-mer is
    unknown), the filler of the published ``mean_all`` pooling.
    """
    from .configuration_barcodemamba import BarcodeMambaConfig

    config_class = config_class or BarcodeMambaConfig
    vocab = tokenizer.get_vocab()
    n_id = vocab.get("N", tokenizer.unk_token_id)
    values = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        mask_token_id=tokenizer.mask_token_id,
        n_token_id=n_id,
    )
    # Fields only some configs declare (BarcodeMAE: which ids are specials, the k of the k-mers).
    accepted = inspect.signature(config_class.__init__).parameters
    optional = {"unk_token_id": tokenizer.unk_token_id, "sep_token_id": tokenizer.sep_token_id,
                "k_mer": getattr(tokenizer, "k", None)}
    values.update({name: value for name, value in optional.items() if name in accepted and value is not None})
    values.update(kwargs)
    return config_class(**values)


def is_barcodefm_folder(path: str | Path) -> bool:
    """Whether the saved model at ``path`` (folder or Hub id) is one of barcodefm's model types,
    which the installed package loads with its own classes: the folder's copy of the code is then
    never executed (and cannot differ from the installed one)."""
    from transformers import PretrainedConfig

    from .configuration_barcodemae import BarcodeMAEConfig
    from .configuration_barcodemamba import BarcodeMambaConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(str(path))
    except OSError as exc:  # neither a folder with a config.json nor a reachable Hub repository
        from .registry import BUNDLED_MODELS

        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileNotFoundError(f"{path}: not a model folder, a bundled model ({', '.join(sorted(BUNDLED_MODELS))}) "
                                f"or a reachable Hub repository ({first_line})") from None
    return config.get("model_type") in (BarcodeMambaConfig.model_type, BarcodeMAEConfig.model_type)


def load_tokenizer(path: str | Path):
    """The tokenizer saved in a model folder (any barcodefm tokenizer)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=not is_barcodefm_folder(path))


def load_model(path: str | Path, auto_class: str = "AutoModel", **kwargs):
    """A saved model through the named Auto class. A barcodefm folder loads with the installed
    classes (``AutoModel`` gives the class it was saved from when that is the backbone or a
    taxonomic classifier, see ``registration.py``), on every transformers release."""
    import transformers

    cls = getattr(transformers, auto_class)
    return cls.from_pretrained(str(path), trust_remote_code=not is_barcodefm_folder(path), **kwargs)
