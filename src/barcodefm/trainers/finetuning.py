"""Supervised fine-tuning on the Hugging Face Trainer (``barcodefm finetune``).

The backbone comes from a pretrained folder (``AutoModelForSequenceClassification``: barcodefm's
own families with the installed code, any other family saved with its code when the user passes
``--trust-remote-code``) or is built from scratch. The
label map is built from the training split only; evaluation splits are scored by label name,
so records whose label training never saw count as errors, on every record and on the
de-duplicated part (records whose exact sequence is not in the training split).
``eval_results.json`` holds the metrics, ``predictions_<split>.tsv`` the calls. ``--task taxonomy``
(:mod:`.taxonomy_task`) scores itself per rank and also saves a novelty reference with the model.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass

import datasets
from transformers import set_seed

from .arguments import make_training_arguments
from .callbacks import EpochCallback
from .data_selection import held_out_splits, read_barcodes, select_splits
from .distributed import barrier, is_main_process
from .export import export_model
from .families import get_family
from .lora import apply_lora
from .options import FinetuneOptions
from .run_setup import (
    RunStart,
    as_examples,
    claim_run_directory,
    new_model_tokenizer,
    open_run_directory,
    run_tokenizer,
    train_log,
    training_augmentation,
)
from .tasks import make_task
from .trainer import BarcodeTrainer

logger = logging.getLogger(__name__)


@dataclass
class FinetuningRun:
    options: FinetuneOptions
    trainer: BarcodeTrainer
    tokenizer: object
    task: object
    start: RunStart
    # split name -> (examples, true labels, in-train-sequence flags)
    evaluations: dict[str, tuple[datasets.Dataset, list, list[bool]]]
    records: datasets.Dataset | None = None  # the whole table (the taxonomy task's novelty calibration reads it)

    def evaluate_split(self, name: str) -> tuple[dict, list[dict]]:
        """Metrics of split ``name`` (all records and the de-duplicated part) and its per-record calls."""
        examples, truth, in_train = self.evaluations[name]
        trainer, task = self.trainer, self.task
        periodic, trainer.compute_metrics = trainer.compute_metrics, None  # scored by name below
        try:
            logits = trainer.predict(examples, metric_key_prefix=f"predict_{name}").predictions
        finally:
            trainer.compute_metrics = periodic
        if hasattr(task, "evaluate_predictions"):  # tasks that score themselves (taxonomy: per rank)
            return task.evaluate_predictions(logits, examples, truth, in_train)
        logits = logits[0] if isinstance(logits, tuple) else logits
        predicted, probability = task.predicted_labels(logits)
        metrics = {"all": task.score(truth, predicted)}
        novel = [i for i, seen in enumerate(in_train) if not seen]
        metrics["dedup"] = task.score([truth[i] for i in novel], [predicted[i] for i in novel])
        rows = [
            {"id": record_id, "true": t, "predicted": p, "probability": round(float(q), 6), "sequence_in_train": s}
            for record_id, t, p, q, s in zip(examples["id"], truth, predicted, probability, in_train)
        ]
        return metrics, rows

    def train(self) -> dict:
        options, trainer, directory = self.options, self.trainer, self.start.directory
        checkpoint = str(self.start.checkpoint) if self.start.checkpoint else None
        output = trainer.train(resume_from_checkpoint=checkpoint)
        task = self.task
        described = (
            task.describe()
            if hasattr(task, "describe")
            else {"label_column": options.label_column, "n_labels": len(task.label_map)}
        )
        results = {
            "task": options.task,
            **described,
            "n_train": len(trainer.train_dataset),
            "global_step": trainer.state.global_step,
            "train_loss": output.training_loss,
            "lora": options.lora,
        }
        predictions = {}
        for name in self.evaluations:
            results[name], predictions[name] = self.evaluate_split(name)
            if is_main_process() and hasattr(task, "log_values"):
                trainer.log(task.log_values(name, results[name]))
            elif is_main_process():
                accuracy = {part: m["accuracy"] for part, m in results[name].items()}
                trainer.log({f"{name}_accuracy": accuracy["all"], f"{name}_dedup_accuracy": accuracy["dedup"]})
        model = export_model(trainer, self.tokenizer, directory.path, adapter_dir=directory.path / "lora_adapter")
        if is_main_process() and hasattr(task, "finish_export"):  # taxonomy: the novelty reference
            results["novelty"] = task.finish_export(model, self.tokenizer, directory.path, self)
        if is_main_process():
            directory.write_results(results)
            if options.save_predictions:
                for name, rows in predictions.items():
                    _write_predictions(directory.path / f"predictions_{name}.tsv", rows)
            if not options.keep_checkpoints:
                directory.remove_checkpoints()
        barrier()
        return results


def _write_predictions(path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["id"], delimiter="\t")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


def build_finetuning(options: FinetuneOptions, callbacks=()) -> FinetuningRun:
    options.validate()
    task = make_task(options.task, options.label_column)
    if hasattr(task, "configure"):  # tasks with settings of their own (taxonomy: ranks, HLS, loss weights)
        task.configure(options)
    family = get_family(options.family)
    start = claim_run_directory(options)

    records = read_barcodes(options.data)
    task.check_columns(records.column_names, options.data)
    train_records = select_splits(records, options.train_splits, source=options.data)
    train_records = task.drop_unlabelled(train_records, f"{options.data} [{','.join(options.train_splits)}]")
    task.fit(train_records)
    held_out = held_out_splits(records, (*options.eval_splits, *options.test_splits), source=options.data)

    has_eval = any(name in held_out for name in options.eval_splits)
    args = make_training_arguments(options, start.directory.checkpoints, has_eval=has_eval)
    _ = args.device  # sets up the process group of a torchrun / accelerate launch
    open_run_directory(start, options)

    trust = options.trust_remote_code
    if options.model:
        from ..factory import load_tokenizer

        tokenizer = run_tokenizer(
            start, lambda: load_tokenizer(options.model, trust_remote_code=trust), trust_remote_code=trust
        )
    else:
        tokenizer = new_model_tokenizer(start, options, family, train_records)

    set_seed(options.seed)  # the same classifier initialisation on every process and every resume
    overrides = {"pooling": options.pooling} if options.pooling else {}
    if options.model:
        model = task.load_pretrained(options.model, trust_remote_code=trust, **overrides)
    else:
        model = task.from_scratch(family, tokenizer, options.size_options(), **overrides)
    if options.lora:
        model = apply_lora(model, options.lora_targets, options.lora_r, options.lora_alpha, options.lora_dropout)

    train_sequences = set(train_records["sequence"])
    keep = ("id", "sequence", "labels", *getattr(task, "truth_columns", (options.label_column,)))
    train = as_examples(task.encode(train_records), tokenizer, f"{options.data} [train]", keep=keep)
    evaluations = {}
    for name, selected in held_out.items():
        examples = as_examples(task.encode(selected), tokenizer, f"{options.data} [{name}]", keep=keep)
        evaluations[name] = (examples, task.truth(examples), [s in train_sequences for s in examples["sequence"]])
    if hasattr(task, "label_map"):
        logger.info("fine-tuning on %d barcodes, %d %s classes", len(train), len(task.label_map), options.label_column)

    collator = task.collator_class
    train_collator = collator(
        tokenizer, options.max_length, augmentation=training_augmentation(tokenizer, options), seed=options.seed
    )
    eval_collator = collator(tokenizer, options.max_length, augmentation=None, seed=options.seed)
    periodic = next((n for n in options.eval_splits if n in evaluations), None)
    trainer = BarcodeTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluations[periodic][0] if periodic else None,
        data_collator=train_collator,
        eval_data_collator=eval_collator,
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics_for(evaluations[periodic][1]) if periodic else None,
        callbacks=[train_log(start, options, args), EpochCallback(train_collator), *callbacks],
    )
    return FinetuningRun(options, trainer, tokenizer, task, start, evaluations, records)


def run_finetuning(options: FinetuneOptions) -> dict:
    return build_finetuning(options).train()
