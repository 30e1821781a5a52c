"""Training the benchmark models for an equal CPU budget, through the package's own trainers
(``barcodefm.trainers``: the code behind ``barcodefm pretrain`` / ``barcodefm finetune``).

Equal budget means equal wall-clock seconds, not equal steps: a character model (660 tokens
per barcode) makes fewer steps in a minute than a 6-mer model (110 tokens). Each run is
calibrated before it starts: a few forward/backward passes on real batches give the seconds
per step, and ``max_steps`` is set so that the learning-rate schedule (warm-up, cosine) ends at
the budget. A callback stops a run that overshoots the budget by more than 25% (logged). The
steps made and the seconds spent are what the tables report.

Finished runs are kept in the work folder with ``bench_run.json``; a later invocation with the
same settings reuses them (``--fresh`` retrains).
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback, set_seed

from bench_common import BenchContext, SizePreset

logger = logging.getLogger("benchmarks")

RUN_RECORD = "bench_run.json"
OVERSHOOT = 1.25  # hard stop at this multiple of the budget
SEED = 0


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
    """The four models of the COI accuracy table (SPEC 2, 3)."""
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
# w/MASK ablation (SPEC 3.1: the encoder sees [MASK] in place). This registers a copy of that
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
        base, name=WMASK_FAMILY, description=f"{base.description}; w/MASK ablation (benchmarks)",
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


class TimeBudgetCallback(TrainerCallback):
    """Times the training loop and stops it past ``OVERSHOOT`` x the budget."""

    def __init__(self, budget_seconds: float):
        self.budget = budget_seconds
        self.start = None
        self.seconds = 0.0
        self.stopped_early = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.start > OVERSHOOT * self.budget:
            self.stopped_early = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.start


def seconds_per_step(trainer, n_timed: int = 3) -> float:
    """Median seconds of one training step (batch collation + forward + backward) on real
    batches; with more than one timed step, a first untimed step warms up. Gradients are
    discarded."""
    from torch.utils.data import DataLoader

    model = trainer.model
    model.train()
    loader = DataLoader(
        trainer.train_dataset,
        batch_size=trainer.args.per_device_train_batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
        collate_fn=trainer.data_collator,
    )
    times, batches = [], iter(loader)
    warm_up = 1 if n_timed > 1 else 0
    for i in range(n_timed + warm_up):
        start = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        if i >= warm_up:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    """Build a pretraining (``kind="pretrain"``) or fine-tuning run from ``options``, calibrate
    its steps to ``budget_seconds``, train, and record what happened."""
    from barcodefm.trainers import build_pretraining
    from barcodefm.trainers.finetuning import build_finetuning

    directory = Path(options.output)
    settings = {"kind": kind, "budget_seconds": budget_seconds, "options": options.to_dict()}
    reused = _reusable(directory, settings, ctx.fresh)
    if reused is not None:
        return reused
    if directory.exists():
        shutil.rmtree(directory)
    budget = TimeBudgetCallback(budget_seconds)
    build = build_pretraining if kind == "pretrain" else build_finetuning
    run = build(options, callbacks=[budget])
    if ctx.size.calibration_steps > 0:
        step_seconds = seconds_per_step(run.trainer, ctx.size.calibration_steps)
        steps = max(ctx.size.min_steps, int(budget_seconds / step_seconds))
    else:  # no calibration (smoke size): the minimum number of steps
        step_seconds, steps = float("nan"), ctx.size.min_steps
    run.trainer.args.max_steps = steps  # the schedule is built from it when training starts
    set_seed(options.seed)  # calibration drew dropout masks: start from the same RNG state
    n_parameters = run.trainer.model.num_parameters()
    logger.info("%s %s: %.3f s/step -> %d steps for a %.0f s budget (%.2fM parameters)",
                kind, label, step_seconds, steps, budget_seconds, n_parameters / 1e6)
    results = run.train()
    if budget.stopped_early:
        logger.warning("%s %s overran its budget: stopped after %d of %d steps", kind, label,
                       run.trainer.state.global_step, steps)
    record = TrainRecord(
        directory=str(directory), steps=int(run.trainer.state.global_step), seconds=budget.seconds,
        budget_seconds=budget_seconds, seconds_per_step=step_seconds, n_parameters=int(n_parameters),
        results=json.loads(json.dumps(results, default=float)),
        settings=json.loads(json.dumps(settings, default=str)),
    )
    (directory / RUN_RECORD).write_text(json.dumps(asdict(record), indent=1))
    return record


def pretrain(ctx: BenchContext, spec: ModelSpec, data_path: Path, splits: tuple[str, ...], budget_seconds: float,
             directory: Path) -> TrainRecord:
    """Self-supervised pretraining of ``spec`` on ``splits`` of ``data_path`` (no evaluation split)."""
    from barcodefm.trainers import PretrainOptions

    register_benchmark_families()
    size = ctx.size
    options = PretrainOptions(
        data=str(data_path), output=str(directory), family=spec.family, objective=spec.objective,
        tokenizer=spec.tokenizer, k=spec.k, bpe_vocab_size=size.bpe_vocab_size, splits=splits, eval_splits=(),
        batch_size=size.batch_size, lr=size.lr, max_length=size.max_bases, save_steps=0, logging_steps=10,
        seed=SEED, **size_options(spec, size), **dict(spec.options),
    )
    return budgeted_run(ctx, "pretrain", options, budget_seconds, spec.name)


def finetune(ctx: BenchContext, pretrained: Path, data_path: Path, budget_seconds: float, directory: Path,
             label: str, task: str = "species", train_splits=("train",), test_splits=("test",),
             extra_options: dict | None = None) -> TrainRecord:
    """Supervised fine-tuning of a pretrained folder; ``test_splits`` are scored at the end."""
    from barcodefm.trainers import FinetuneOptions

    size = ctx.size
    options = FinetuneOptions(
        data=str(data_path), output=str(directory), model=str(pretrained), task=task,
        train_splits=tuple(train_splits), eval_splits=(), test_splits=tuple(test_splits),
        batch_size=size.batch_size, lr=size.lr, max_length=size.max_bases, save_steps=0, logging_steps=10,
        seed=SEED, epochs=1000.0, **(extra_options or {}),
    )
    return budgeted_run(ctx, "fine-tune", options, budget_seconds, label)
