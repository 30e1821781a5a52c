"""Self-supervised pretraining on the Hugging Face Trainer (``barcodefm pretrain``).

:func:`build_pretraining` sets a run up (folder, data, tokenizer, model, collators, Trainer)
and returns a :class:`PretrainingRun`; ``run.train()`` trains, evaluates and writes the Hub-ready
folder. :func:`run_pretraining` does both. The pieces stay reachable (``run.trainer``) so a
script can add callbacks before training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import datasets
from transformers import set_seed

from .arguments import make_training_arguments
from .callbacks import EpochCallback
from .collators import MaskedLMCollator
from .data_selection import has_splits, held_out_splits, read_barcodes, select_splits
from .distributed import barrier, is_main_process
from .export import export_model
from .families import get_family
from .options import PretrainOptions
from .prediction import lm_perplexity
from .run_setup import (
    RunStart,
    as_examples,
    claim_run_directory,
    new_model_tokenizer,
    open_run_directory,
    train_log,
    training_augmentation,
)
from .trainer import BarcodeTrainer

logger = logging.getLogger(__name__)


@dataclass
class PretrainingRun:
    options: PretrainOptions
    trainer: BarcodeTrainer
    tokenizer: object
    start: RunStart
    eval_datasets: dict[str, datasets.Dataset]
    objective: str

    def train(self) -> dict:
        """Train (from the checkpoint when resuming), evaluate, save; returns the results."""
        options, trainer, directory = self.options, self.trainer, self.start.directory
        checkpoint = str(self.start.checkpoint) if self.start.checkpoint else None
        output = trainer.train(resume_from_checkpoint=checkpoint)
        results = {
            "family": options.family,
            "objective": self.objective,
            "global_step": trainer.state.global_step,
            "train_loss": output.training_loss,
            "n_train": len(trainer.train_dataset),
            "eval": {},
        }
        for name, dataset in self.eval_datasets.items():
            metrics = trainer.evaluate(eval_dataset=dataset, metric_key_prefix=f"eval_{name}")
            results["eval"][name] = {"n": len(dataset), "loss": metrics.get(f"eval_{name}_loss")}
        model = export_model(trainer, self.tokenizer, directory.path)
        if self.objective == "ntp" and is_main_process():
            for name, dataset in self.eval_datasets.items():
                ppl = lm_perplexity(
                    model,
                    self.tokenizer,
                    dataset["sequence"],
                    options.max_length,
                    options.eval_batch_size or options.batch_size,
                )
                results["eval"][name]["perplexity"] = ppl
                trainer.log({f"eval_{name}_perplexity": ppl})
        if is_main_process():
            directory.write_results(results)
            if not options.keep_checkpoints:
                directory.remove_checkpoints()
        barrier()
        return results


def _pretraining_records(options: PretrainOptions):
    """(train, {eval split: records}) of the pretraining file."""
    records = read_barcodes(options.data)
    if not has_splits(records):
        logger.warning(
            "%s has no split column: pretraining on all %d records, no evaluation", options.data, len(records)
        )
        return records, {}
    train = select_splits(records, options.splits, source=options.data)
    return train, held_out_splits(records, options.eval_splits, source=options.data)


def build_pretraining(options: PretrainOptions, callbacks=()) -> PretrainingRun:
    options.validate()
    family = get_family(options.family)
    objective_name = options.objective or next(iter(family.objectives))
    objective = family.objective(objective_name)
    if not 0.0 < options.mlm_probability < 1.0:
        raise ValueError(f"--mlm-probability must be in (0, 1), got {options.mlm_probability}")
    start = claim_run_directory(options)

    train_records, eval_records = _pretraining_records(options)
    args = make_training_arguments(
        options,
        start.directory.checkpoints,
        has_eval=bool(eval_records),
        label_names=objective.collator_class.label_names,
    )
    _ = args.device  # sets up the process group of a torchrun / accelerate launch
    open_run_directory(start, options)

    tokenizer = new_model_tokenizer(start, options, family, train_records)
    train = as_examples(train_records, tokenizer, f"{options.data} [{','.join(options.splits)}]")
    evals = {name: as_examples(ds, tokenizer, f"{options.data} [{name}]") for name, ds in eval_records.items()}

    set_seed(options.seed)  # the same initial weights on every process and every resume
    model = objective.model_class(family.config(tokenizer, options.size_options()))
    logger.info(
        "pretraining %s (%s, %.2fM parameters) on %d barcodes",
        options.family,
        objective_name,
        model.num_parameters() / 1e6,
        len(train),
    )

    extra = (
        {"mlm_probability": options.mlm_probability} if issubclass(objective.collator_class, MaskedLMCollator) else {}
    )
    train_collator = objective.collator_class(
        tokenizer,
        options.max_length,
        augmentation=training_augmentation(tokenizer, options),
        seed=options.seed,
        **extra,
    )
    eval_collator = objective.collator_class(
        tokenizer, options.max_length, augmentation=None, seed=options.seed, **extra
    )
    trainer = BarcodeTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=(evals if len(evals) > 1 else next(iter(evals.values()))) if evals else None,
        data_collator=train_collator,
        eval_data_collator=eval_collator,
        processing_class=tokenizer,
        callbacks=[train_log(start, options, args), EpochCallback(train_collator), *callbacks],
    )
    return PretrainingRun(options, trainer, tokenizer, start, evals, objective_name)


def run_pretraining(options: PretrainOptions) -> dict:
    return build_pretraining(options).train()
