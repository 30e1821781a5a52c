"""Named models and presets (tooling).

- Bundled models: trained identifiers shipped inside the package (``barcodefm/bundled_models/``),
  usable offline right after ``pip install``: ``--model coi-insect`` or ``--model its-fungi``.
  Each is an ordinary model folder; ``AutoModel.from_pretrained(bundled_model_path(name),
  trust_remote_code=True)`` loads it without barcodefm. ``barcodefm recipe NAME`` regenerates one.
- Presets: the published model sizes, as options to train from (``--preset NAME`` of
  ``barcodefm pretrain`` / ``finetune --from-scratch``).

Anything else given as ``--model`` is a folder or a Hugging Face Hub id.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled_models"

BUNDLED_MODELS = {
    "coi-insect": "BarcodeMamba+ for insect COI-5P barcodes: order, family, subfamily, genus, species "
    "(BOLD, 1,023 species of Diptera, Lepidoptera, Coleoptera, Hymenoptera)",
    "its-fungi": "BarcodeMamba+ for fungal ITS / ITS2 barcodes: phylum, class, order, family, genus, species "
    "(CBS strains and the MycoAI yeast set, 6,871 species)",
}

# The published sizes (SPEC 2.4, 3.1): the architecture and tokenizer options of a training run.
PRESETS = {
    "barcodemamba-mini-char": dict(family="barcodemamba", tokenizer="char", d_model=384, n_layer=2, headdim=48),
    "barcodemamba-mini-kmer": dict(family="barcodemamba", tokenizer="kmer", k=6, d_model=384, n_layer=2, headdim=48),
    "barcodemamba-large-char": dict(family="barcodemamba", tokenizer="char", d_model=768, n_layer=6, headdim=64),
    "barcodemamba-large-kmer": dict(family="barcodemamba", tokenizer="kmer", k=6, d_model=768, n_layer=6, headdim=64),
    "barcodemamba-plus-its": dict(
        family="barcodemamba", tokenizer="bpe", bpe_vocab_size=768, d_model=128, n_layer=2, headdim=32
    ),
    "barcodemae-6mer": dict(family="barcodemae", tokenizer="kmer", k=6),
}


def bundled_model_path(name: str) -> Path:
    """The folder of a bundled model; a clear error when the name is unknown or the folder is
    missing (e.g. a source checkout without the weights)."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}: one of {', '.join(sorted(BUNDLED_MODELS))}")
    path = BUNDLED_DIR / name
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"bundled model {name!r} is missing from {path}: reinstall barcodefm, or rebuild it "
            f"with `barcodefm recipe {name} --data-dir DATA -o DIR`"
        )
    return path


def resolve_model(name_or_path: str) -> str:
    """A bundled model's name -> its folder; anything else (a folder or Hub id) unchanged."""
    if name_or_path in BUNDLED_MODELS:
        return str(bundled_model_path(name_or_path))
    from pathlib import Path

    if "/" not in name_or_path and not Path(name_or_path).exists():
        # A near miss of a bundled name is a typo, not a Hub id: say so at once instead of
        # letting the Hub client retry (offline, that takes ~20 s before the same conclusion).
        import difflib

        close = difflib.get_close_matches(name_or_path, list(BUNDLED_MODELS), n=1, cutoff=0.75)
        if close:
            raise FileNotFoundError(
                f"{name_or_path}: not a bundled model or a folder; did you mean {close[0]!r}? "
                f"(bundled: {', '.join(sorted(BUNDLED_MODELS))})"
            )
    return name_or_path


def preset_options(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: one of {', '.join(sorted(PRESETS))}")
    return dict(PRESETS[name])
