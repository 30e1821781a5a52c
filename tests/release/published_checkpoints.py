"""Builders of synthetic PUBLISHED checkpoints (the published key names, shapes, vocabularies and
file layouts, random weights) for the converter tests."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch

PUBLISHED_HYDRA = """\
defaults:
  - _self_
  - /tokenizer: {tokenizer_name}
model:
  d_model: {d_model}
  n_layer: {n_layer}
  d_inner: ${{eval:4 * ${{.d_model}}}}
  vocab_size: ${{tokenizer.vocab_size}}
  resid_dropout: 0.0
  embed_dropout: 0.1
  residual_in_fp32: true
  pad_vocab_size_multiple: 8
  mamba_ver: mamba2
  layer:
    d_model: ${{model.d_model}}
    d_state: 64
    d_conv: 4
    expand: 2
    headdim: 48
  n_classes: null
dataset:
  max_len: 660
  __train_len: ${{div_up:1_000_000_000, ${{.max_len}}}}
  phase: pretrain
tokenizer:
{tokenizer_block}
train:
  seed: 2222
  # never evaluated by the converter: it only reads the keys it needs, and only arithmetic
  gpu_mem: ${{eval:"round(float(__import__('subprocess').check_output('nvidia-smi', shell=True)))"}}
"""

CHAR_TOKENIZER = """\
  name: char
  characters: ["A", "C", "G", "T", "N"]
  model_max_length: ${eval:${dataset.max_len} + 2}
  add_special_tokens: false
  padding_side: left
  vocab_size: 8
  use_unk_token: true"""

KMER_TOKENIZER = """\
  k_mer: {k}
  padding: true
  padding_side: left
  name: {name}
  stride: ${{.k_mer}}
  max_len: ${{dataset.max_len}}
  vocab_size: ${{eval:4 ** ${{.k_mer}} + 3}}
  use_unk_token: true"""


def published_vocab(tokenizer_name: str, k: int = 6) -> dict[str, int]:
    """The published BarcodeMamba vocabulary, written out independently of the package."""
    bases = list("ACGTN") if tokenizer_name == "char" else ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    return {token: i for i, token in enumerate(["[MASK]", "[SEP]", "[UNK]", *bases])}


def published_mamba_reference(tokenizer_name: str, k: int = 6, d_model: int = 384, n_layer: int = 2, seed: int = 0):
    """A BarcodeMamba with the published vocabulary (no [PAD]) and random, perturbed weights:
    the model a published checkpoint describes, loaded directly."""
    from barcodefm import BarcodeMambaConfig, BarcodeMambaForCausalLM

    vocab_size = len(published_vocab(tokenizer_name, k))
    config = BarcodeMambaConfig(
        vocab_size=vocab_size,
        d_model=d_model,
        n_layer=n_layer,
        headdim=48,
        d_state=64,
        pad_token_id=None,
        n_token_id=7 if tokenizer_name == "char" else 2,
        pad_vocab_size_multiple=8,
        residual_in_fp32=True,
    )
    torch.manual_seed(seed)
    model = BarcodeMambaForCausalLM(config).eval()
    with torch.no_grad():  # every tensor must matter: norms and SSM parameters included
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def write_published_barcodemamba(
    folder: Path,
    model,
    tokenizer_name: str,
    k: int = 6,
    spelling: str | None = None,
    extra_state: dict | None = None,
    drop: tuple[str, ...] = (),
    extra_objects=None,
) -> Path:
    """``folder/.hydra/config.yaml`` + ``folder/checkpoints/last.ckpt`` as the published runs have them."""
    if tokenizer_name == "char":
        block = CHAR_TOKENIZER
    else:
        block = KMER_TOKENIZER.format(k=k, name=spelling or "k_mer")
    (folder / ".hydra").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    d_model, n_layer = model.config.d_model, model.config.n_layer
    (folder / ".hydra" / "config.yaml").write_text(
        PUBLISHED_HYDRA.format(tokenizer_name=tokenizer_name, d_model=d_model, n_layer=n_layer, tokenizer_block=block)
    )
    state = {}
    for key, value in model.state_dict().items():
        key = "head.weight" if key == "lm_head.weight" else key
        state[f"model.{key}"] = value.clone()
    for key in drop:
        del state[key]
    # what else a Lightning module saves: metric states of torchmetrics objects
    state["train_metrics.accuracy.correct"] = torch.tensor(10)
    state["val_metrics.accuracy.total"] = torch.tensor(20)
    state.update(extra_state or {})
    checkpoint = {
        "epoch": 9,
        "global_step": 1234,
        "pytorch-lightning_version": "2.2.1",
        "state_dict": state,
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 8e-4, "weight_decay": 0.1}]}],
        "lr_schedulers": [],
        "hyper_parameters": {"lr": 8e-4},
    }
    if extra_objects:
        checkpoint["callbacks"] = extra_objects
    torch.save(checkpoint, folder / "checkpoints" / "last.ckpt")
    return folder


def published_bert_encoder(vocab_size: int, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    """The published BarcodeMAE encoder class (transformers BertModel), random perturbed weights."""
    from transformers import BertConfig, BertModel

    bert_config = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden,
        "output_hidden_states": True,
    }
    torch.manual_seed(seed)
    model = BertModel(BertConfig(**bert_config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model, bert_config


def write_published_barcodemae(path: Path, bert, bert_config: dict, k: int = 6, full_pretraining: bool = True) -> Path:
    """A BarcodeMAE ``torch.save`` file: DDP-prefixed weights under ``model`` (the whole MAE
    pretraining model: encoder, decoder, projection), ``bert_config`` and the argparse options."""
    state = {}
    prefix = "module.encoder." if full_pretraining else "module."
    for key, value in bert.state_dict().items():
        state[prefix + key] = value.clone()
    state[prefix + "embeddings.position_ids"] = torch.arange(bert.config.max_position_embeddings)[None]
    if full_pretraining:
        state["module.decoder.bert.embeddings.word_embeddings.weight"] = torch.randn(8, 4)
        state["module.decoder.classifier.weight"] = torch.randn(3, 4)
        state["module.projection_layer.weight"] = torch.randn(4, 4)
    options = argparse.Namespace(k_mer=k, max_len=660, arch="maelm", use_cls_token=False, n_layers=2, lr=1e-4)
    torch.save(
        {
            "model": state,
            "bert_config": bert_config,
            "config": options,
            "epoch": 3,
            "decoder_config": {
                "hidden_size": 4,
                "num_hidden_layers": 1,
                "num_attention_heads": 1,
                "intermediate_size": 8,
            },
        },
        path,
    )
    return path
