"""``barcodefm convert barcodemamba SRC_DIR OUT``: a published BarcodeMamba pretraining run (a
Lightning checkpoint + its Hydra config, SPEC 2.4) to a Hub-ready folder.

Files looked for in SRC_DIR, first found: the config ``.hydra/config.yaml``, ``config.yaml``;
the checkpoint ``checkpoints/last.ckpt``, ``last.ckpt``, ``model.ckpt`` (or name them).

Hydra keys read (interpolations such as ``${tokenizer.vocab_size}`` or
``${eval:4 * ${.d_model}}`` are resolved safely, see :mod:`.hydra_config`):

- ``model.d_model``, ``model.n_layer``, ``model.vocab_size`` (the published vocabulary, no pad):
  required.
- ``model.layer`` (or ``model.ssm_cfg``): the mixer settings, required. ``d_state``, ``d_conv``,
  ``expand``, ``headdim``, ``ngroups``, ``chunk_size`` (Mamba-2) or ``dt_rank`` (Mamba-1); a
  missing one takes mamba_ssm's default, as the published code did (Mamba-2: 128, 4, 2, 64, 1,
  256; Mamba-1: 16, 4, 2, "auto"). Initialisation-only keys (``dt_min`` ...) are ignored; keys
  that change the computation and that barcodefm does not implement are refused.
- ``model.mamba_ver`` (``mamba2`` | ``mamba``) or the mixer's ``layer`` (``Mamba2`` | ``Mamba``):
  the mixer, Mamba-2 by default.
- ``model.d_inner`` (or ``model.d_intermediate``): MLP width, default ``4 * d_model``.
- ``model.pad_vocab_size_multiple`` (default 1), ``model.residual_in_fp32`` (default false),
  ``model.layer_norm_epsilon`` (1e-5), ``model.embed_dropout`` (0.1).
- ``tokenizer.name``: ``char``, ``k_mer`` / ``k-mer`` / ``kmer`` (required); ``tokenizer.k_mer``:
  k (required for k-mers); ``tokenizer.stride`` must equal k; ``tokenizer.use_unk_token`` must not
  be false (the N-k-mer vocabulary is not supported); ``dataset.max_len``: bases per barcode
  (default 660).

Weights: the Lightning ``state_dict`` keys under ``model.`` are kept with the prefix stripped
(everything else, e.g. torchmetrics ``train_metrics.*`` / ``val_metrics.*``, is dropped and
reported); ``head.weight`` becomes ``lm_head.weight``; all other names are unchanged. Keys and
shapes must then match the model exactly (a readable diff otherwise).

Vocabulary: the published ids are kept (char ``[MASK]=0 [SEP]=1 [UNK]=2 A=3 C=4 G=5 T=6 N=7``;
k-mer ``[MASK]=0 [SEP]=1 [UNK]=2`` then the 4^k k-mers in ACGT order from 3) and a real
``[PAD]`` is appended (id 8, or 4^k + 3). The embedding and LM head have the vocabulary rounded
up to ``pad_vocab_size_multiple`` rows; where the extra token needs more rows than the published
model has (the char model: 8 published rows, 9 tokens -> 16 rows) the added rows are ZEROS: the
``[PAD]`` embedding is the zero vector (padding is masked out of the mixers, so it never reaches
a real token) and the ``[PAD]`` logit is 0, while every published logit is unchanged.
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

from ..trainers.options import MAX_BASES
from .checkpoint_files import find_state_dict, load_checkpoint, strip_prefixes
from .conversion_output import ConversionReport, write_converted
from .hydra_config import HydraConfig, HydraConfigError
from .state_dict_match import load_strictly

logger = logging.getLogger(__name__)

CONFIG_CANDIDATES = (".hydra/config.yaml", "config.yaml")
CHECKPOINT_CANDIDATES = ("checkpoints/last.ckpt", "last.ckpt", "model.ckpt")
PUBLISHED_SPECIALS = ("[MASK]", "[SEP]", "[UNK]")
HEADS = {"causal-lm": "BarcodeMambaForCausalLM", "masked-lm": "BarcodeMambaForMaskedLM"}

# mamba_ssm's defaults, which the published code used for keys its config did not set
_MAMBA_DEFAULTS = {
    2: {"d_state": 128, "d_conv": 4, "expand": 2, "headdim": 64, "ngroups": 1, "chunk_size": 256},
    1: {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": "auto"},
}
_INIT_ONLY_KEYS = {
    "dt_min",
    "dt_max",
    "dt_init_floor",
    "dt_init",
    "dt_scale",
    "A_init_range",
    "use_mem_eff_path",
    "use_fast_path",
    "sequence_parallel",
    "layer_idx",
    "device",
    "dtype",
    "layer",
    "d_model",
    "conv_init",
    "process_group",
}
# keys that change the computation, with the only value barcodefm implements
_FIXED_KEYS = {
    "rmsnorm": True,
    "norm_before_gate": False,
    "bias": False,
    "D_has_hdim": False,
    "d_ssm": None,
    "activation": "silu",
}


def published_vocabulary(tokenizer_name: str, k: int | None = None) -> list[str]:
    """The published token list in id order (SPEC 2.4)."""
    bases = list("ACGTN") if tokenizer_name == "char" else ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    return list(PUBLISHED_SPECIALS) + bases


def find_source_files(src_dir: Path, config: str | None = None, checkpoint: str | None = None) -> tuple[Path, Path]:
    def first(candidates, explicit, what, flag):
        if explicit:
            path = Path(explicit)
            path = path if path.is_absolute() or path.exists() else src_dir / path
            if not path.is_file():
                raise FileNotFoundError(f"{what} not found: {path}")
            return path
        for name in candidates:
            if (src_dir / name).is_file():
                return src_dir / name
        raise FileNotFoundError(f"no {what} in {src_dir} (looked for {', '.join(candidates)}; name it with {flag})")

    if not src_dir.is_dir():
        raise FileNotFoundError(f"published model folder not found: {src_dir}")
    return (
        first(CONFIG_CANDIDATES, config, "Hydra config", "--config"),
        first(CHECKPOINT_CANDIDATES, checkpoint, "Lightning checkpoint", "--checkpoint"),
    )


def _mixer_settings(hydra: HydraConfig) -> tuple[int, dict]:
    section = "model.layer" if hydra.has("model.layer") else "model.ssm_cfg"
    if not hydra.has(section):
        raise HydraConfigError(
            f"{hydra.source}: missing key 'model.layer' (the mixer settings; also looked for model.ssm_cfg)"
        )
    mixer = hydra.node(section)
    name = str(hydra.get("model.mamba_ver", mixer.get("layer", "mamba2"))).lower().replace("-", "").replace("_", "")
    versions = {"mamba2": 2, "mamba": 1, "mamba1": 1}
    if name not in versions:
        raise HydraConfigError(f"{hydra.source}: unknown mixer {name!r} (model.mamba_ver: mamba2 or mamba)")
    version = versions[name]
    if "d_model" in mixer and mixer["d_model"] != hydra.get("model.d_model"):
        raise HydraConfigError(f"{hydra.source}: {section}.d_model ({mixer['d_model']}) differs from model.d_model")
    for key, value in mixer.items():
        if key in _FIXED_KEYS:
            if value != _FIXED_KEYS[key]:
                raise HydraConfigError(
                    f"{hydra.source}: {section}.{key} = {value!r} is not supported "
                    f"(barcodefm implements {key} = {_FIXED_KEYS[key]!r} only)"
                )
        elif key == "dt_limit":
            if [float(v) for v in value] != [0.0, math.inf]:
                raise HydraConfigError(
                    f"{hydra.source}: {section}.dt_limit = {value!r} is not supported (no dt clamping)"
                )
        elif key not in _INIT_ONLY_KEYS and key not in _MAMBA_DEFAULTS[version] and key != "conv_bias":
            raise HydraConfigError(f"{hydra.source}: {section}.{key} is not a Mamba-{version} setting barcodefm knows")
    settings = {**_MAMBA_DEFAULTS[version], **{k: v for k, v in mixer.items() if k in _MAMBA_DEFAULTS[version]}}
    if "conv_bias" in mixer:
        settings["conv_bias"] = bool(mixer["conv_bias"])
    return version, settings


def read_published_config(hydra: HydraConfig) -> tuple[dict, dict]:
    """(BarcodeMambaConfig keyword arguments, tokenizer spec) from a published Hydra config."""
    d_model = int(hydra.get("model.d_model"))
    version, mixer = _mixer_settings(hydra)
    d_inner = hydra.first(["model.d_inner", "model.d_intermediate"], None)
    model_kwargs = dict(
        d_model=d_model,
        n_layer=int(hydra.get("model.n_layer")),
        mamba_version=version,
        d_intermediate=4 * d_model if d_inner is None else int(d_inner),
        pad_vocab_size_multiple=int(hydra.get("model.pad_vocab_size_multiple", 1)),
        residual_in_fp32=bool(hydra.get("model.residual_in_fp32", False)),
        layer_norm_epsilon=float(hydra.get("model.layer_norm_epsilon", 1e-5)),
        embed_dropout=float(hydra.get("model.embed_dropout", 0.1)),
        **mixer,
    )
    name = str(hydra.get("tokenizer.name")).lower().replace("-", "_")
    name = {"kmer": "k_mer"}.get(name, name)
    if name not in ("char", "k_mer"):
        raise HydraConfigError(
            f"{hydra.source}: tokenizer.name {name!r} is not supported (char or k_mer; "
            "the BPE checkpoints ship a pickled MycoAI tokenizer that cannot be converted safely)"
        )
    spec = {"name": name, "k": None, "max_bases": int(hydra.get("dataset.max_len", MAX_BASES))}
    if name == "k_mer":
        spec["k"] = int(hydra.get("tokenizer.k_mer"))
        stride = int(hydra.get("tokenizer.stride", spec["k"]))
        if stride != spec["k"]:
            raise HydraConfigError(
                f"{hydra.source}: tokenizer.stride {stride} != k {spec['k']}: overlapping k-mers are not supported"
            )
        if hydra.get("tokenizer.use_unk_token", True) is False:
            raise HydraConfigError(
                f"{hydra.source}: tokenizer.use_unk_token is false (k-mers over ACGTN): not supported"
            )
    elif hydra.has("tokenizer.characters") and list(hydra.get("tokenizer.characters")) != list("ACGTN"):
        raise HydraConfigError(
            f"{hydra.source}: tokenizer.characters {hydra.get('tokenizer.characters')} is not A C G T N"
        )
    published = published_vocabulary(name, spec["k"])
    vocab_size = int(hydra.get("model.vocab_size"))
    if vocab_size != len(published):
        raise HydraConfigError(
            f"{hydra.source}: model.vocab_size is {vocab_size}, but the published {name} vocabulary "
            f"({' '.join(PUBLISHED_SPECIALS)} + {len(published) - 3} tokens) has {len(published)}: unknown layout"
        )
    spec["published_vocab_size"] = vocab_size
    return model_kwargs, spec


def build_tokenizer(spec: dict):
    """Our tokenizer with the published ids (checked token by token) and [PAD] appended."""
    from ..models.tokenization_barcode_char import BarcodeCharTokenizer
    from ..models.tokenization_barcode_kmer import BarcodeKmerTokenizer

    if spec["name"] == "char":
        tokenizer = BarcodeCharTokenizer(model_max_length=spec["max_bases"], specials_first=PUBLISHED_SPECIALS)
    else:
        tokenizer = BarcodeKmerTokenizer(k=spec["k"], max_bases=spec["max_bases"], specials_first=PUBLISHED_SPECIALS)
    vocab = tokenizer.get_vocab()
    for i, token in enumerate(published_vocabulary(spec["name"], spec["k"])):
        if vocab.get(token) != i:  # a guard on the contract with tokenization_*.py
            raise RuntimeError(f"the {spec['name']} tokenizer maps {token!r} to {vocab.get(token)}, published id {i}")
    return tokenizer


def _pad_rows(tensor, rows: int):
    import torch

    if tensor.shape[0] >= rows:
        return tensor
    return torch.cat([tensor, tensor.new_zeros(rows - tensor.shape[0], *tensor.shape[1:])])


def convert_barcodemamba(
    src_dir: str | Path,
    output: str | Path,
    trust_checkpoint: bool = False,
    head: str = "causal-lm",
    config: str | None = None,
    checkpoint: str | None = None,
    check: bool = True,
) -> ConversionReport:
    """Convert the published run in ``src_dir`` into a Hub-ready folder ``output``."""
    import barcodefm

    from ..factory import config_from_tokenizer

    if head not in HEADS:
        raise ValueError(f"--head must be one of {', '.join(HEADS)}, got {head!r}")
    src_dir = Path(src_dir)
    config_path, checkpoint_path = find_source_files(src_dir, config, checkpoint)
    model_kwargs, spec = read_published_config(HydraConfig.load(config_path))
    tokenizer = build_tokenizer(spec)
    model_config = config_from_tokenizer(tokenizer, **model_kwargs)
    model = getattr(barcodefm, HEADS[head])(model_config)

    raw = find_state_dict(load_checkpoint(checkpoint_path, trust_checkpoint), keys=("state_dict",))
    raw = strip_prefixes(raw)
    dropped = sorted(k for k in raw if not k.startswith("model."))
    weights = strip_prefixes({k[len("model.") :]: v for k, v in raw.items() if k.startswith("model.")})
    if not weights:
        raise ValueError(
            f"{checkpoint_path.name}: no weights under 'model.' (keys look like {', '.join(sorted(raw)[:3])})"
        )
    if "head.weight" in weights:
        weights["lm_head.weight"] = weights.pop("head.weight")
    notes = []
    rows = model_config.padded_vocab_size
    for key in ("backbone.embeddings.word_embeddings.weight", "lm_head.weight"):
        if key in weights and weights[key].ndim == 2 and weights[key].shape[0] < rows:
            notes.append(
                f"{key}: {weights[key].shape[0]} published rows padded with zeros to {rows} "
                f"(room for [PAD] = {tokenizer.pad_token_id})"
            )
            weights[key] = _pad_rows(weights[key], rows)
    hint = ""
    if any(k.startswith("head.output_transform") for k in weights):
        hint = "This is a fine-tuning checkpoint (SequenceDecoder head); only pretraining checkpoints (head.weight) convert."
    load_strictly(model, weights, what=f"{checkpoint_path.name} (with {config_path.name})", hint=hint)
    model.eval()
    report = ConversionReport(
        output=Path(output),
        source=f"{src_dir.name}/{checkpoint_path.relative_to(src_dir) if checkpoint_path.is_relative_to(src_dir) else checkpoint_path.name}",
        model_class=type(model).__name__,
        n_tensors=len(weights),
        dropped_keys=dropped,
        notes=notes,
    )
    return write_converted(model, tokenizer, report, check=check)
