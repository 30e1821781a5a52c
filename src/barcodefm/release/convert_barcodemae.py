"""``barcodefm convert barcodemae CKPT OUT``: a published BarcodeMAE (or BarcodeBERT) encoder
checkpoint to a Hub-ready :class:`~barcodefm.BarcodeMAEModel` folder.

The published file (``torch.save`` of a dict) holds the weights under ``model`` and the encoder's
``BertConfig`` as a dict under ``bert_config`` (its sizes are read from there, with BertConfig's
defaults for missing keys, as the published loader did); the training options (an
``argparse.Namespace`` under ``config``) give ``k_mer``, ``max_len``, ``use_cls_token``,
``n_registers``, ``jumbo`` when present. A bare state dict works with ``--bert-config FILE.json``.

Weights: a ``BertModel`` state dict (``embeddings.*``, ``encoder.layer.N.*``, ``pooler.*``);
``module.`` / ``_orig_mod.`` prefixes are stripped; a full BarcodeMAE pretraining checkpoint
(``encoder.*`` + ``decoder.*`` + ``projection_layer.*``) contributes its encoder, a BarcodeBERT
``BertForMaskedLM`` / ``BertForTokenClassification`` its ``bert.*``. Renamed:
``embeddings.LayerNorm`` -> ``embeddings.layer_norm``, ``encoder.layer.N`` -> ``layers.N``.
``embeddings.token_type_embeddings`` is folded into the position embeddings (BERT adds its row 0
to every token, since no token type ids are given); ``embeddings.position_ids`` (a buffer) and
``pooler.*`` (unused: the embedding is the mean of the last layer) are dropped. Keys and shapes
must then match exactly.

Vocabulary, kept id for id (the k-mers follow the specials in ACGT order), with a ``[PAD]``
appended (a zero embedding row; padding is masked out of attention):

- ``4^k + 2`` tokens: ``[MASK]=0 [UNK]=1`` (BarcodeMAE and BarcodeBERT's later code);
- ``4^k + 3`` tokens: ``[MASK]=0 [CLS]=1 [UNK]=2`` (the BarcodeBERT 2023 paper models).

Checkpoints trained with a prepended ``[CLS]``, register tokens, "jumbo" tokens or k-mers over
ACGTN are refused with a message saying so (their published forward is not a plain BERT encoder
over the k-mers).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from ..trainers.options import MAX_BASES
from .checkpoint_files import find_state_dict, load_checkpoint, strip_prefixes
from .conversion_output import ConversionReport, write_converted
from .state_dict_match import load_strictly

logger = logging.getLogger(__name__)

LAYOUTS = {"mask-unk": ("[MASK]", "[UNK]"), "mask-cls-unk": ("[MASK]", "[CLS]", "[UNK]")}
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_DROPPED = ("embeddings.position_ids", "embeddings.token_type_ids")
# BertConfig fields that BarcodeMAEConfig holds under the same names.
_BERT_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "layer_norm_eps",
    "initializer_range",
)
# Sizes of the pretraining decoder (BarcodeMAEConfig: ``decoder_<name>``), the encoder's when not saved.
_DECODER_SIZES = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def _option(run_config, name: str, default=None):
    """A training option from the checkpoint's ``config`` (an argparse.Namespace or a dict)."""
    if run_config is None:
        return default
    if isinstance(run_config, dict):
        return run_config.get(name, default)
    return getattr(run_config, name, default)


def _encoder_weights(state: dict) -> tuple[dict, list[str]]:
    """(the BertModel weights, the other keys dropped) whatever wrapped the encoder."""
    for prefix in ("encoder.", "bert."):  # BarcodeMAE pretraining model / BarcodeBERT heads
        if any(k.startswith(f"{prefix}embeddings.") for k in state):
            kept = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            return kept, sorted(k for k in state if not k.startswith(prefix))
    if "embeddings.word_embeddings.weight" in state:
        return dict(state), []
    raise ValueError(
        "no BERT encoder weights in the checkpoint (no embeddings.word_embeddings.weight, with or "
        f"without an encoder./bert. prefix; keys look like {', '.join(sorted(state)[:4])})"
    )


def _bert_config(checkpoint, bert_config_path: str | None):
    from transformers import BertConfig

    if bert_config_path:
        data = json.loads(Path(bert_config_path).read_text(encoding="utf-8"))
    else:
        data = checkpoint.get("bert_config") if isinstance(checkpoint, dict) else None
        if data is None:
            raise ValueError(
                "the checkpoint has no bert_config: give the encoder's BertConfig as JSON with --bert-config"
            )
        if not isinstance(data, dict):
            data = data.to_dict()  # a BertConfig object (only loadable with --trust-checkpoint)
    data = {k: v for k, v in data.items() if k not in ("architectures", "transformers_version", "model_type")}
    config = BertConfig(**data)
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"bert_config.position_embedding_type {config.position_embedding_type!r} is not supported (absolute only)"
        )
    return config


def _vocabulary_layout(vocab_size: int, k: int | None, layout: str, run_config) -> tuple[int, tuple[str, ...]]:
    if _option(run_config, "use_cls_token", False):
        raise ValueError("this checkpoint was trained with a [CLS] token prepended to every barcode: not supported")
    if _option(run_config, "n_registers", 0):
        raise ValueError("this checkpoint was trained with register tokens (n_registers > 0): not supported")
    if _option(run_config, "jumbo", False):
        raise ValueError("this checkpoint uses jumbo tokens: not supported")
    if _option(run_config, "tokenize_n_nucleotide", False):
        raise ValueError("this checkpoint's vocabulary holds k-mers over ACGTN (tokenize_n_nucleotide): not supported")
    k = k or _option(run_config, "k_mer")
    ks = [int(k)] if k else range(1, 9)
    layouts = [LAYOUTS[layout]] if layout != "auto" else list(LAYOUTS.values())
    candidates = [(j, specials) for specials in layouts for j in ks if vocab_size == 4**j + len(specials)]
    if len(candidates) != 1:
        expected = f"4^{k} + 2 or 4^{k} + 3 = {4 ** int(k) + 2} or {4 ** int(k) + 3}" if k else "4^k + 2 or 4^k + 3"
        raise ValueError(
            f"bert_config.vocab_size {vocab_size} is not a known k-mer vocabulary ({expected}"
            f"{'' if layout == 'auto' else ' with layout ' + layout}); pass --k and --vocab-layout"
        )
    return candidates[0]


def _rename(weights: dict, vocab_rows: int) -> tuple[dict, list[str], list[str]]:
    """BertModel names -> BarcodeMAEModel names; returns (weights, dropped keys, notes)."""
    import torch

    out, dropped, notes = {}, [], []
    token_type = weights.get("embeddings.token_type_embeddings.weight")
    for key, value in weights.items():
        layer = _LAYER.match(key)
        if key in _DROPPED or key.startswith("pooler."):
            dropped.append(key)
        elif key == "embeddings.token_type_embeddings.weight":
            continue  # folded below
        elif layer:
            out[f"layers.{layer.group(1)}.{layer.group(2)}"] = value
        elif key.startswith("embeddings.LayerNorm."):
            out["embeddings.layer_norm." + key.rsplit(".", 1)[1]] = value
        else:
            out[key] = value  # word/position embeddings keep their names; anything else shows in the diff
    if token_type is not None and "embeddings.position_embeddings.weight" in out:
        out["embeddings.position_embeddings.weight"] = out["embeddings.position_embeddings.weight"] + token_type[0]
        notes.append("token type embedding (row 0) folded into the position embeddings")
    words = out.get("embeddings.word_embeddings.weight")
    if words is not None and words.ndim == 2 and words.shape[0] < vocab_rows:
        extra = vocab_rows - words.shape[0]
        out["embeddings.word_embeddings.weight"] = torch.cat([words, words.new_zeros(extra, words.shape[1])])
        notes.append(f"{extra} zero embedding row(s) appended for [PAD]")
    return out, dropped, notes


def convert_barcodemae(
    checkpoint_path: str | Path,
    output: str | Path,
    trust_checkpoint: bool = False,
    bert_config: str | None = None,
    k: int | None = None,
    vocab_layout: str = "auto",
    check: bool = True,
) -> ConversionReport:
    """Convert the published encoder checkpoint ``checkpoint_path`` into a Hub-ready folder ``output``."""
    from ..factory import config_from_tokenizer
    from ..models.configuration_barcodemae import BarcodeMAEConfig
    from ..models.modeling_barcodemae import BarcodeMAEModel
    from ..models.tokenization_barcode_kmer import BarcodeKmerTokenizer

    if vocab_layout not in ("auto", *LAYOUTS):
        raise ValueError(f"--vocab-layout must be auto, {', or '.join(LAYOUTS)}; got {vocab_layout!r}")
    checkpoint_path = Path(checkpoint_path)
    checkpoint = load_checkpoint(checkpoint_path, trust_checkpoint)
    run_config = checkpoint.get("config") if isinstance(checkpoint, dict) else None
    state = strip_prefixes(find_state_dict(checkpoint, keys=("model", "state_dict")))
    weights, dropped = _encoder_weights(state)
    weights = strip_prefixes(weights)
    bert = _bert_config(checkpoint, bert_config)
    k, specials = _vocabulary_layout(bert.vocab_size, k, vocab_layout, run_config)
    max_bases = int(_option(run_config, "max_len", MAX_BASES) or MAX_BASES)
    extra = {"cls_token": "[CLS]"} if "[CLS]" in specials else {}
    tokenizer = BarcodeKmerTokenizer(
        k=k, max_bases=max_bases, specials_first=specials, specials_last=("[PAD]",), **extra
    )
    decoder = checkpoint.get("decoder_config") if isinstance(checkpoint, dict) else None
    decoder = decoder if isinstance(decoder, dict) else {}
    ids = {"sep_token_id": tokenizer.sep_token_id}
    if "[CLS]" in specials:
        ids["cls_token_id"] = tokenizer.convert_tokens_to_ids("[CLS]")
    encoder = {name: getattr(bert, name) for name in _BERT_FIELDS}
    # the decoder is not converted; its sizes only describe the pretraining model
    decoder_sizes = {f"decoder_{name}": decoder.get(name, encoder[name]) for name in _DECODER_SIZES}
    config = config_from_tokenizer(tokenizer, config_class=BarcodeMAEConfig, **encoder, **decoder_sizes, **ids)
    model = BarcodeMAEModel(config)
    weights, dropped_here, notes = _rename(weights, config.vocab_size)
    dropped += dropped_here
    load_strictly(model, weights, what=f"{checkpoint_path.name} (encoder)")
    model.eval()
    notes.insert(0, f"vocabulary: {' '.join(specials)} then the {4**k} {k}-mers; [PAD] = {tokenizer.pad_token_id}")
    report = ConversionReport(
        output=Path(output),
        source=checkpoint_path.name,
        model_class=type(model).__name__,
        n_tensors=len(weights),
        dropped_keys=sorted(dropped),
        notes=notes,
    )
    return write_converted(model, tokenizer, report, check=check)
