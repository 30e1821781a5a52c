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


def load_tokenizer(path: str | Path):
    """The tokenizer saved in a model folder (any barcodefm tokenizer)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=True)


def load_model(path: str | Path, auto_class: str = "AutoModel", **kwargs):
    """A saved barcodefm model through the named Auto class (``AutoModel`` = backbone)."""
    import transformers

    cls = getattr(transformers, auto_class)
    return cls.from_pretrained(str(path), trust_remote_code=True, **kwargs)


def load_saved_architecture(path: str | Path, **kwargs):
    """The exact class a folder was saved from (``config.architectures[0]``), e.g. a taxonomic
    classifier, which in-process ``AutoModel`` would map to the bare backbone."""
    import barcodefm
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path), trust_remote_code=True)
    names = getattr(config, "architectures", None) or []
    cls = getattr(barcodefm, names[0], None) if names else None
    if cls is None:
        return load_model(path, "AutoModel", **kwargs)
    return cls.from_pretrained(str(path), **kwargs)
