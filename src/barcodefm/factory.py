"""Small constructors that tie tokenizers, configs and saved folders together (tooling)."""

from __future__ import annotations

import inspect
from pathlib import Path

from .registry import FAMILIES, TOKENIZERS


def config_from_tokenizer(tokenizer, config_class=None, **kwargs):
    """A model config whose vocabulary and special ids match ``tokenizer``.

    ``n_token_id`` is the id of ``N`` (char/BPE) or ``[UNK]`` (k-mer: an N-containing k-mer is
    unknown), the filler of the published ``mean_all`` pooling.
    """
    from .models.configuration_barcodemamba import BarcodeMambaConfig

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
    optional = {
        "unk_token_id": tokenizer.unk_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "k_mer": getattr(tokenizer, "k", None),
    }
    values.update({name: value for name, value in optional.items() if name in accepted and value is not None})
    values.update(kwargs)
    return config_class(**values)


# What the installed package loads with its own classes, from the one registry table: the model
# types (a family's registry name is its config's ``model_type``) and the tokenizer classes.
OWN_MODEL_TYPES = tuple(FAMILIES)
OWN_TOKENIZER_CLASSES = tuple(entry.name for entry in TOKENIZERS.values())


class RemoteCodeNotTrusted(ValueError):
    """A folder that is not a barcodefm model needs its own Python code to load, and the user did
    not opt in (``--trust-remote-code``): nothing from the folder was run."""


def _bundled_names() -> str:
    from .registry import BUNDLED_MODELS

    return ", ".join(sorted(BUNDLED_MODELS))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _looks_like_hub_id(text: str) -> bool:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(text)
    except ValueError:  # HFValidationError
        return False
    return True


def _check_location(path: str | Path, needs: str) -> None:
    """One-line errors for what cannot hold a model (``needs="model"``) or a tokenizer
    (``needs="tokenizer"``): a file, a missing local folder, a folder without the saved files.
    Names that may be Hub ids are left to the Hub."""
    text = str(path)
    local = Path(text)
    if local.is_file():
        raise ValueError(f"{text}: a file, not a model folder (give the folder that holds config.json)")
    if local.is_dir():
        if not any(local.iterdir()):
            raise FileNotFoundError(f"{text}: empty folder, not a saved model")
        if needs == "model" and not (local / "config.json").is_file():
            raise FileNotFoundError(f"{text}: not a saved model folder (no config.json)")
        if needs == "tokenizer" and not any((local / n).is_file() for n in ("tokenizer_config.json", "tokenizer.json")):
            if (local / "config.json").is_file():
                raise FileNotFoundError(f"{text}: the model folder holds no tokenizer (no tokenizer_config.json)")
            raise FileNotFoundError(f"{text}: not a saved model folder (no config.json or tokenizer_config.json)")
        return
    if not _looks_like_hub_id(text):
        raise FileNotFoundError(f"{text}: model folder not found (and not a bundled model: {_bundled_names()})")


def _config_dict(path: str | Path) -> dict:
    """``config.json`` of a folder or Hub id, read as JSON (no code is run); {} for a folder
    without one (a tokenizer-only folder)."""
    from transformers import PretrainedConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(str(path))
    except OSError as exc:  # neither a folder with a config.json nor a reachable Hub repository
        raise FileNotFoundError(
            f"{path}: not a model folder, a bundled model ({_bundled_names()}) "
            f"or a reachable Hub repository ({_first_line(exc)})"
        ) from None
    return config


def is_barcodefm_folder(path: str | Path) -> bool:
    """Whether the saved model at ``path`` (folder or Hub id) is one of barcodefm's model types,
    which the installed package loads with its own classes: the folder's copy of the code is then
    never executed (and cannot differ from the installed one)."""
    _check_location(path, "model")
    return _config_dict(path).get("model_type") in OWN_MODEL_TYPES


def _is_barcodefm_tokenizer(path: str | Path) -> bool:
    """A barcodefm model folder, or a tokenizer-only folder (no model type) holding one of
    barcodefm's tokenizer classes: loaded with the installed classes."""
    import json

    model_type = _config_dict(path).get("model_type")
    if model_type:
        return model_type in OWN_MODEL_TYPES
    try:
        if Path(str(path)).is_dir():
            with open(Path(str(path)) / "tokenizer_config.json", encoding="utf-8") as f:
                tokenizer_config = json.load(f)
        else:
            from transformers.models.auto.tokenization_auto import get_tokenizer_config

            tokenizer_config = get_tokenizer_config(str(path))
        tokenizer_class = str(tokenizer_config.get("tokenizer_class") or "")
    except (OSError, ValueError, AttributeError):
        return False
    return tokenizer_class.removesuffix("Fast") in OWN_TOKENIZER_CLASSES


def _refused(path: str | Path) -> RemoteCodeNotTrusted:
    return RemoteCodeNotTrusted(
        f"{path} is not a barcodefm model and needs its own Python code to load, which is not run "
        "unless you trust it: pass --trust-remote-code if you trust it (Python: trust_remote_code=True)"
    )


def _is_refusal(exc: Exception) -> bool:
    return isinstance(exc, ValueError) and "trust_remote_code" in str(exc)


def load_tokenizer(path: str | Path, trust_remote_code: bool = False):
    """The tokenizer saved in a model folder (any barcodefm tokenizer).

    barcodefm's own folders load with the installed classes whatever ``trust_remote_code`` says
    (the folder's copy of the code is never run); any other folder gets exactly
    ``trust_remote_code``, as in transformers, and a :class:`RemoteCodeNotTrusted` error when it
    needs its own code and the flag is off."""
    from transformers import AutoTokenizer

    _check_location(path, "tokenizer")
    trust = False if _is_barcodefm_tokenizer(path) else bool(trust_remote_code)
    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust)
    except ValueError as exc:
        if not trust and _is_refusal(exc):
            raise _refused(path) from None
        raise


def check_safetensors_files(path: str | Path) -> None:
    """Open every ``*.safetensors`` file of a local model folder (the weights, the novelty and
    reference files) as safetensors, which reads and checks the header against the file's size and
    runs no code: a truncated or hostile file, or a pickle under that name, fails here in one line
    naming it (a ValueError), before anything loads it. Weights are only ever read from
    safetensors files (:func:`load_model`): a pickle is never unpickled."""
    folder = Path(str(path))
    if not folder.is_dir():
        return  # a Hub id: transformers checks what it downloads
    from safetensors import SafetensorError, safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = ", ".join(sorted(p.name for p in folder.glob("*.bin"))) or "no weights file"
        raise FileNotFoundError(
            f"{folder}: no model.safetensors ({pickles}): barcodefm reads weights from safetensors files only, "
            "never from pickle files such as pytorch_model.bin"
        )
    for file in files:
        try:
            with safe_open(str(file), framework="numpy"):
                pass
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(
                f"{file}: not a readable safetensors file (truncated or damaged, or another format such as a "
                f"pickle?): {_first_line(exc)}"
            ) from None


def load_model(path: str | Path, auto_class: str = "AutoModel", trust_remote_code: bool = False, **kwargs):
    """A saved model through the named Auto class. A barcodefm folder loads with the installed
    classes (``AutoModel`` gives the class it was saved from when that is the backbone or a
    taxonomic classifier, see ``registration.py``), on every transformers release, and never runs
    the folder's copy of the code, whatever ``trust_remote_code`` says. Any other folder gets
    exactly ``trust_remote_code`` (default off, as in transformers): a :class:`RemoteCodeNotTrusted`
    error when it needs its own code and the flag is off. Weights come from safetensors files
    only, checked first (:func:`check_safetensors_files`)."""
    import transformers

    cls = getattr(transformers, auto_class)
    trust = False if is_barcodefm_folder(path) else bool(trust_remote_code)
    check_safetensors_files(path)
    kwargs.setdefault("use_safetensors", True)  # never fall back to unpickling pytorch_model.bin
    try:
        return cls.from_pretrained(str(path), trust_remote_code=trust, **kwargs)
    except ValueError as exc:
        if not trust and _is_refusal(exc):
            raise _refused(path) from None
        raise
