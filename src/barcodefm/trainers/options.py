"""The settings of a training run, independent of the command line (the CLI fills them; Python
users build them directly). Defaults are SPEC's: AdamW lr 8e-4, weight decay 0.1, cosine
schedule with 1% warm-up decaying to 10% of the peak, 660-base inputs, reverse-complement
augmentation with p 0.5 in pretraining."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

# The published input: the first 660 bases of a barcode (a full COI-5P barcode is 658), cut before
# tokenising. Every tooling default that means "bases per sequence" is this one.
MAX_BASES = 660

# The architecture options (--d-model ...): None unless given, so the family's default (or a
# --preset) fills the ones left out.
SIZE_OPTIONS = ("d_model", "n_layer", "headdim", "d_state", "mamba_version", "d_intermediate", "dropout")

# Options that may change between a run and its --resume (they do not change what is computed).
RESUMABLE_CHANGES = frozenset(
    {
        "resume",
        "save_steps",
        "save_total_limit",
        "logging_steps",
        "keep_checkpoints",
        "eval_batch_size",
        "trust_remote_code",
    }
)


@dataclass
class TrainingOptions:
    """What pretraining and fine-tuning share."""

    data: str | None = None  # any file load_barcodes reads
    output: str | None = None  # the run folder (Hub-ready model + train_log.jsonl + checkpoints/)
    family: str = "barcodemamba"
    # tokenizer: "char" | "kmer" | "bpe" | a folder holding a saved tokenizer; None = the family's default
    tokenizer: str | None = None
    k: int = 6
    bpe_vocab_size: int = 768
    # model size; None = the family's default (BarcodeMamba: the published mini model)
    d_model: int | None = None
    n_layer: int | None = None
    headdim: int | None = None
    d_state: int | None = None
    mamba_version: int | None = None
    d_intermediate: int | None = None
    dropout: float | None = None  # embedding dropout (published 0.1)
    max_length: int = MAX_BASES  # bases per sequence (cut before tokenising)
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    batch_size: int = 32  # per device; global = batch_size * processes * grad_accum
    eval_batch_size: int | None = None
    grad_accum: int = 1
    lr: float = 8e-4
    weight_decay: float = 0.1
    warmup: float = 0.01  # fraction of the steps (< 1) or a number of steps (>= 1)
    min_lr_rate: float = 0.1  # the cosine ends at this fraction of the peak
    seed: int = 0
    rc_prob: float = 0.5  # reverse-complement augmentation probability (training only)
    random_offset: bool = True  # k-mer tokenizers: drop U{0..k-1} leading bases (training only)
    save_steps: int = 500  # 0 = no intermediate checkpoints
    save_total_limit: int = 2
    eval_steps: int | None = None  # None = evaluate at the end only
    logging_steps: int = 10
    bf16: bool = False
    resume: bool = False
    keep_checkpoints: bool = False
    eval_splits: tuple[str, ...] = ("val",)
    # Let a model or tokenizer folder that is not barcodefm's run its own Python code (barcodefm's
    # own folders always load with the installed classes): off unless the user trusts the folder.
    trust_remote_code: bool = False

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    def size_options(self) -> dict:
        """The architecture options given (not None): what the model family builds from."""
        return {n: getattr(self, n) for n in SIZE_OPTIONS if getattr(self, n) is not None}

    def validate(self) -> None:
        if not self.data:
            raise ValueError("no training data given (--data)")
        if not self.output:
            raise ValueError("no output folder given (--output)")
        if not Path(self.data).exists():
            raise FileNotFoundError(f"training data not found: {self.data}")
        checks = [
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.grad_accum >= 1, f"--grad-accum must be >= 1, got {self.grad_accum}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.max_length >= 1, f"--max-length must be >= 1 base, got {self.max_length}"),
            (self.max_steps is None or self.max_steps >= 1, f"--max-steps must be >= 1, got {self.max_steps}"),
            (self.epochs > 0, f"--epochs must be > 0, got {self.epochs}"),
            (0.0 <= self.rc_prob <= 1.0, f"--rc-prob must be in [0, 1], got {self.rc_prob}"),
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.save_steps >= 0, f"--save-steps must be >= 0, got {self.save_steps}"),
            (self.logging_steps >= 1, f"--logging-steps must be >= 1, got {self.logging_steps}"),
            (self.eval_steps is None or self.eval_steps >= 1, f"--eval-steps must be >= 1, got {self.eval_steps}"),
            (self.warmup >= 0, f"--warmup must be >= 0, got {self.warmup}"),
            (0.0 <= self.min_lr_rate <= 1.0, f"--min-lr-rate must be in [0, 1], got {self.min_lr_rate}"),
            (1 <= self.k <= 8, f"--k must be in 1..8, got {self.k}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class PretrainOptions(TrainingOptions):
    objective: str | None = None  # the family's objectives (BarcodeMamba "ntp" | "mlm"); None = its first
    splits: tuple[str, ...] = ("train", "pretrain_only")  # used when the data has a split column
    mlm_probability: float = 0.5  # the published BarcodeMamba MLM masks half the positions


# --task choices (tasks.TASKS implements each; kept here so the command line lists them without
# importing torch)
TASK_NAMES = ("species", "taxonomy")
# --pooling choices: barcodefm.models.pooling.POOLINGS, repeated here because that module imports
# torch and the command line lists them without it (tests/trainers check that the two agree).
POOLINGS = ("mean", "mean_all", "last")


@dataclass
class FinetuneOptions(TrainingOptions):
    model: str | None = None  # pretrained folder; None with from_scratch=True
    from_scratch: bool = False
    task: str = "species"
    label_column: str = "species"
    pooling: str | None = None  # one of POOLINGS; None = the model's config
    train_splits: tuple[str, ...] = ("train",)
    test_splits: tuple[str, ...] = ("test",)
    epochs: float = 5.0
    rc_prob: float = 0.0  # fine-tuning sees barcodes in their given orientation by default
    # Off: on the bundled COI sample a frame-shifted fine-tuning reached 21% species accuracy
    # where the unshifted one reached 94% (same steps); the shift is a pretraining augmentation.
    random_offset: bool = False
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] | None = None  # None = in_proj + MLP fc1/fc2 where present
    save_predictions: bool = True
    # --task taxonomy (BarcodeMamba+): ranks None = every rank column with >= 2 training labels;
    # hls / class_weight_strength 0.5 / rank_weights None are SPEC 4's loss defaults.
    ranks: tuple[str, ...] | None = None
    hls: bool = True
    class_weight_strength: float = 0.5
    rank_weights: tuple[float, ...] | None = None

    def validate(self) -> None:
        super().validate()
        if self.from_scratch == bool(self.model):
            raise ValueError("give a pretrained model folder, or --from-scratch (not both)")
        if self.model and not Path(self.model).is_dir():
            raise FileNotFoundError(f"pretrained model folder not found: {self.model}")
        if self.lora and self.from_scratch:
            raise ValueError("--lora adapts a pretrained model: it cannot be combined with --from-scratch")
        self._validate_taxonomy()
        if self.pooling not in (None, *POOLINGS):
            raise ValueError(f"--pooling must be mean, last or mean_all, got {self.pooling!r}")
        if self.model and (self.size_options() or self.tokenizer):
            given = [*self.size_options(), *(["tokenizer"] if self.tokenizer else [])]
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags}: only with --from-scratch (a pretrained model brings its size and tokenizer)")

    def _validate_taxonomy(self) -> None:
        taxonomy_flags = [
            flag
            for flag, given in (
                ("--ranks", self.ranks),
                ("--no-hls", not self.hls),
                ("--class-weight-strength", self.class_weight_strength != 0.5),
                ("--rank-weights", self.rank_weights),
            )
            if given
        ]
        if self.task != "taxonomy":
            if taxonomy_flags:
                raise ValueError(f"{', '.join(taxonomy_flags)}: only with --task taxonomy")
            return
        if self.lora:  # the LoRA wrapper trains the ``classifier`` head in full; taxonomy heads are elsewhere
            raise ValueError("--lora is not available with --task taxonomy yet: fine-tune the whole model")
        if self.class_weight_strength < 0:
            raise ValueError(f"--class-weight-strength must be >= 0, got {self.class_weight_strength}")
        if self.rank_weights is not None and min(self.rank_weights, default=0) < 0:
            raise ValueError(f"--rank-weights must be >= 0, got {list(self.rank_weights)}")
