"""Training on the Hugging Face ``Trainer`` (tooling, never travels to the Hub).

- :func:`run_pretraining` / :func:`build_pretraining` with :class:`PretrainOptions`
  (``barcodefm pretrain``): next-token or MLM pretraining, resumable, data-parallel.
- :func:`run_finetuning` / :func:`build_finetuning` with :class:`FinetuneOptions`
  (``barcodefm finetune``): species classification, optional LoRA.
- :func:`run_demo` (``barcodefm demo``): pretrain + fine-tune + classify on the bundled sample.
- Registries: :data:`~.families.FAMILY_FACTORIES` (model families and their objectives) and
  :data:`~.tasks.TASKS` (fine-tuning tasks).
"""

from .._lazy import lazy_getattr as _lazy_getattr

# public name -> the submodule that defines it; imported on first use, so the command line's
# argument parsing (which reads .options and .cli_options) does not import torch/transformers.
_NAMES = {
    "SequenceAugmentation": "augmentation",
    "example_rng": "augmentation",
    "EpochCallback": "callbacks",
    "TrainLogCallback": "callbacks",
    "BarcodeCollator": "collators",
    "CausalLMCollator": "collators",
    "ClassificationCollator": "collators",
    "MaskedLMCollator": "collators",
    "run_demo": "demo",
    "FAMILY_FACTORIES": "families",
    "ModelFamily": "families",
    "Objective": "families",
    "get_family": "families",
    "FinetuningRun": "finetuning",
    "build_finetuning": "finetuning",
    "run_finetuning": "finetuning",
    "FinetuneOptions": "options",
    "PretrainOptions": "options",
    "TrainingOptions": "options",
    "class_probabilities": "prediction",
    "classify_sequences": "prediction",
    "lm_perplexity": "prediction",
    "PretrainingRun": "pretraining",
    "build_pretraining": "pretraining",
    "run_pretraining": "pretraining",
}

__getattr__ = _lazy_getattr(__name__, _NAMES)

__all__ = [
    "FAMILY_FACTORIES",
    "BarcodeCollator",
    "CausalLMCollator",
    "ClassificationCollator",
    "EpochCallback",
    "FinetuneOptions",
    "FinetuningRun",
    "MaskedLMCollator",
    "ModelFamily",
    "Objective",
    "PretrainOptions",
    "PretrainingRun",
    "SequenceAugmentation",
    "TrainLogCallback",
    "TrainingOptions",
    "build_finetuning",
    "build_pretraining",
    "class_probabilities",
    "classify_sequences",
    "example_rng",
    "get_family",
    "lm_perplexity",
    "run_demo",
    "run_finetuning",
    "run_pretraining",
]


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
