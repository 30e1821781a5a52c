"""Small constructors that tie tokenizers, configs and saved folders together (tooling)."""

from __future__ import annotations

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
