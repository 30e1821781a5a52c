"""Training the benchmark models for an equal CPU budget, through the package's own trainers
(``barcodefm.trainers``: the code behind ``barcodefm pretrain`` / ``barcodefm finetune``).

Equal budget means equal wall-clock seconds, not equal steps: a character model (660 tokens
per barcode) makes fewer steps in a minute than a 6-mer model (110 tokens). On a shared CPU the
seconds per step drift with the load, so a step count fixed in advance would not give equal
budgets. Instead the run is driven by the clock: :class:`TimeBudget` stops the Trainer when the
budget is spent (after at least ``min_steps``) and sets the learning rate from the elapsed
fraction of the budget with the trainers' own schedule shape (linear warm-up over the first
``warmup`` of the time, then cosine decay to ``min_lr_rate`` of the peak at the budget). The
steps made and the seconds spent are what the tables report.

Finished runs are kept in the work folder with ``bench_run.json``; a later invocation with the
same settings reuses them (``--fresh`` retrains).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_common import BenchContext, SizePreset
from transformers import TrainerCallback

logger = logging.getLogger("benchmarks")

RUN_RECORD = "bench_run.json"
SEED = 0
OPEN_ENDED_STEPS = 10**6  # the Trainer's max_steps: the clock, not this, ends a run


@dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: how the trainers build and pretrain it."""

    name: str  # as the tables print it
    slug: str  # folder name
    family: str  # trainers family (barcodemamba, barcodemae)
    objective: str  # pretraining objective of that family
    tokenizer: str  # char | kmer | bpe
    k: int = 6
    options: tuple[tuple[str, object], ...] = ()  # extra option fields (e.g. the w/MASK switch)


def coi_models() -> list[ModelSpec]:
    """The four models of the COI accuracy table: BarcodeMamba (char, 6-mer), BarcodeMAE and its w/MASK ablation."""
    return [
        ModelSpec("BarcodeMamba (char)", "barcodemamba-char", "barcodemamba", "ntp", "char"),
        ModelSpec("BarcodeMamba (6-mer)", "barcodemamba-6mer", "barcodemamba", "ntp", "kmer", k=6),
        ModelSpec("BarcodeMAE", "barcodemae", "barcodemae", "mae", "kmer", k=6),
        ModelSpec("BarcodeMAE w/MASK", "barcodemae-wmask", WMASK_FAMILY, "mae", "kmer", k=6),
    ]


def size_options(spec: ModelSpec, size: SizePreset) -> dict:
    """The same tiny width and depth for every family (BarcodeMAE: encoder and decoder alike,
    attention heads as the trainers' BarcodeMAE family chooses them)."""
    sizes = {"d_model": size.d_model, "n_layer": size.n_layer}
    if spec.family == "barcodemamba":
        sizes.update(headdim=size.headdim, d_state=size.d_state)
    return sizes


# ----------------------------------------------------------------------------------------------
# BarcodeMAE w/MASK. BENCHMARK-LOCAL: the trainers' ``barcodemae`` family has no switch for the
# w/MASK ablation (the published one: the encoder sees [MASK] in place). This registers a copy of that
# family, through the trainers' own extension point (``FAMILY_FACTORIES``), whose one objective
# builds the same model with ``config.mask_in_encoder = True``; sizes, collator, Trainer,
# schedule and export are the trainers' own.
# ----------------------------------------------------------------------------------------------

WMASK_FAMILY = "barcodemae-wmask-benchmark"


def _mae_with_mask_in_encoder(config):
    from barcodefm import BarcodeMAEForPreTraining

    config.mask_in_encoder = True
    return BarcodeMAEForPreTraining(config)


def _wmask_family():
    import dataclasses

    from barcodefm.trainers import Objective, get_family

    base = get_family("barcodemae")
    mae = base.objective("mae")
    return dataclasses.replace(
        base,
        name=WMASK_FAMILY,
        description=f"{base.description}; w/MASK ablation (benchmarks)",
        objectives={"mae": Objective(_mae_with_mask_in_encoder, mae.collator_class, "w/MASK: [MASK] in the encoder")},
    )


def register_benchmark_families() -> None:
    from barcodefm.trainers import FAMILY_FACTORIES

    if WMASK_FAMILY not in FAMILY_FACTORIES:
        logger.info("registering the benchmark-local %r family with barcodefm.trainers", WMASK_FAMILY)
        FAMILY_FACTORIES[WMASK_FAMILY] = _wmask_family


@dataclass
class TrainRecord:
    """What a budgeted run did and where its model is."""

    directory: str
    steps: int
    seconds: float
    budget_seconds: float
    seconds_per_step: float
    n_parameters: int
    results: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.directory)


class TimeBudget(TrainerCallback):
    """Ends training when ``budget_seconds`` are spent (after at least ``min_steps``) and gives
    the learning-rate factor for the elapsed fraction of the budget (:meth:`lr_factor`)."""

    def __init__(
        self,
        budget_seconds: float,
        min_steps: int = 1,
        warmup: float = 0.01,
        min_lr_rate: float = 0.1,
        clock=time.perf_counter,
    ):
        self.budget = float(budget_seconds)
        self.min_steps = int(min_steps)
        self.warmup = float(warmup) if 0 <= warmup < 1 else 0.01  # a fraction of the time
        self.min_lr_rate = float(min_lr_rate)
        self.clock = clock
        self.start = None
        self.seconds = 0.0

    def fraction(self) -> float:
        """Elapsed share of the budget (0 before training starts, at most 1)."""
        if self.start is None:
            return 0.0
        return min(1.0, (self.clock() - self.start) / self.budget)

    def lr_factor(self, _step: int = 0) -> float:
        f = self.fraction()
        if f < self.warmup:
            return f / self.warmup
        progress = (f - self.warmup) / (1.0 - self.warmup)
        return self.min_lr_rate + (1.0 - self.min_lr_rate) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def install(self, trainer) -> None:
        """Make ``trainer`` build its learning-rate scheduler from this clock."""
        from torch.optim.lr_scheduler import LambdaLR

        trainer.args.max_steps = OPEN_ENDED_STEPS

        def create_scheduler(num_training_steps, optimizer=None):
            if trainer.lr_scheduler is None:
                trainer.lr_scheduler = LambdaLR(optimizer or trainer.optimizer, self.lr_factor)
            return trainer.lr_scheduler

        trainer.create_scheduler = create_scheduler

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.clock()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.min_steps and self.clock() - self.start >= self.budget:
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = self.clock() - self.start


def _reusable(directory: Path, settings: dict, fresh: bool) -> TrainRecord | None:
    record_path = directory / RUN_RECORD
    if fresh or not record_path.is_file():
        return None
    record = TrainRecord(**json.loads(record_path.read_text()))
    if record.settings != json.loads(json.dumps(settings, default=str)):
        return None
    logger.info("reusing the finished run in %s (pass --fresh to retrain)", directory)
    return record


def budgeted_run(ctx: BenchContext, kind: str, options, budget_seconds: float, label: str) -> TrainRecord:
    """Build a pretraining (``kind="pretrain"``) or fine-tuning run from ``options``, train it for
    ``budget_seconds`` by the clock, and record what happened."""
    from barcodefm.trainers import build_pretraining
    from barcodefm.trainers.finetuning import build_finetuning

    directory = Path(options.output)
    settings = {"kind": kind, "budget_seconds": budget_seconds, "options": options.to_dict()}
    reused = _reusable(directory, settings, ctx.fresh)
    if reused is not None:
        return reused
    if directory.exists():
        shutil.rmtree(directory)
    budget = TimeBudget(budget_seconds, ctx.size.min_steps, options.warmup, options.min_lr_rate)
    build = build_pretraining if kind == "pretrain" else build_finetuning
    run = build(options, callbacks=[budget])
    budget.install(run.trainer)
    n_parameters = run.trainer.model.num_parameters()
    logger.info("%s %s: %.0f s budget, %.2fM parameters", kind, label, budget_seconds, n_parameters / 1e6)
    results = run.train()
    steps = int(run.trainer.state.global_step)
    logger.info("%s %s: %d steps in %.1f s", kind, label, steps, budget.seconds)
    record = TrainRecord(
        directory=str(directory),
        steps=steps,
        seconds=budget.seconds,
        budget_seconds=budget_seconds,
        seconds_per_step=budget.seconds / max(steps, 1),
        n_parameters=int(n_parameters),
        results=json.loads(json.dumps(results, default=float)),
        settings=json.loads(json.dumps(settings, default=str)),
    )
    (directory / RUN_RECORD).write_text(json.dumps(asdict(record), indent=1))
    return record


def pretrain(
    ctx: BenchContext, spec: ModelSpec, data_path: Path, splits: tuple[str, ...], budget_seconds: float, directory: Path
) -> TrainRecord:
    """Self-supervised pretraining of ``spec`` on ``splits`` of ``data_path`` (no evaluation split)."""
    from barcodefm.trainers import PretrainOptions

    register_benchmark_families()
    size = ctx.size
    options = PretrainOptions(
        data=str(data_path),
        output=str(directory),
        family=spec.family,
        objective=spec.objective,
        tokenizer=spec.tokenizer,
        k=spec.k,
        bpe_vocab_size=size.bpe_vocab_size,
        splits=splits,
        eval_splits=(),
        batch_size=size.batch_size,
        lr=size.lr,
        max_length=size.max_bases,
        save_steps=0,
        logging_steps=10,
        seed=SEED,
        **size_options(spec, size),
        **dict(spec.options),
    )
    return budgeted_run(ctx, "pretrain", options, budget_seconds, spec.name)


def finetune(
    ctx: BenchContext,
    pretrained: Path,
    data_path: Path,
    budget_seconds: float,
    directory: Path,
    label: str,
    task: str = "species",
    train_splits=("train",),
    test_splits=("test",),
    extra_options: dict | None = None,
) -> TrainRecord:
    """Supervised fine-tuning of a pretrained folder; ``test_splits`` are scored at the end."""
    from barcodefm.trainers import FinetuneOptions

    size = ctx.size
    options = FinetuneOptions(
        data=str(data_path),
        output=str(directory),
        model=str(pretrained),
        task=task,
        train_splits=tuple(train_splits),
        eval_splits=(),
        test_splits=tuple(test_splits),
        batch_size=size.batch_size,
        lr=size.lr,
        max_length=size.max_bases,
        save_steps=0,
        logging_steps=10,
        seed=SEED,
        epochs=1000.0,
        **(extra_options or {}),
    )
    return budgeted_run(ctx, "fine-tune", options, budget_seconds, label)
