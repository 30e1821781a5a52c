"""Training on the Hugging Face ``Trainer`` (tooling, never travels to the Hub).

- :func:`run_pretraining` / :func:`build_pretraining` with :class:`PretrainOptions`
  (``barcodefm pretrain``): next-token or MLM pretraining, resumable, data-parallel.
- :func:`run_finetuning` / :func:`build_finetuning` with :class:`FinetuneOptions`
  (``barcodefm finetune``): species classification, optional LoRA.
- :func:`run_demo` (``barcodefm demo``): pretrain + fine-tune + classify on the bundled sample.
- Registries: :data:`~.families.FAMILY_FACTORIES` (model families and their objectives) and
  :data:`~.tasks.TASKS` (fine-tuning tasks).
"""

from .augmentation import SequenceAugmentation, example_rng
from .callbacks import EpochCallback, TrainLogCallback
from .collators import BarcodeCollator, CausalLMCollator, ClassificationCollator, MaskedLMCollator
from .demo import run_demo
from .families import FAMILY_FACTORIES, ModelFamily, Objective, get_family
from .finetuning import FinetuningRun, build_finetuning, run_finetuning
from .options import FinetuneOptions, PretrainOptions, TrainingOptions
from .prediction import class_probabilities, classify_sequences, lm_perplexity
from .pretraining import PretrainingRun, build_pretraining, run_pretraining

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
