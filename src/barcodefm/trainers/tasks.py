"""Fine-tuning tasks: what is predicted, how labels are encoded, which head, how it is scored.

``TASKS`` maps ``--task`` names to task classes. A task is built from the fine-tuning options,
fitted on the TRAIN split only (its label map never sees evaluation labels), and scores
predictions by label NAME, so an evaluation record whose label the training split lacks can
only count as an error. Multi-rank taxonomy (BarcodeMamba+) plugs in as another entry with its
own head, collator and per-rank scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..evaluation.labels import LabelMap, is_known_label
from ..evaluation.metrics import classification_metrics
from ..models.taxonomy import IGNORE_INDEX
from .collators import ClassificationCollator
from .options import TASK_NAMES
from .taxonomy_task import TaxonomyTask

logger = logging.getLogger(__name__)


class SingleLabelTask:
    """One label per barcode (``--label-column``, species by default) predicted by a
    sequence-classification head over the pooled backbone features."""

    collator_class = ClassificationCollator

    def __init__(self, label_column: str = "species"):
        self.label_column = label_column
        self.label_map: LabelMap | None = None

    # ---- labels ----
    def check_columns(self, column_names: Sequence[str], source: str) -> None:
        if self.label_column not in column_names:
            ranks = [c for c in column_names if c not in ("id", "sequence", "split", "bin", "dup_in_train", "marker")]
            raise ValueError(
                f"{source} has no {self.label_column!r} column; label columns there: {', '.join(ranks) or 'none'}"
            )

    def fit(self, train_records) -> None:
        labels = train_records[self.label_column]
        self.label_map = LabelMap.fit(labels)
        missing = sum(not is_known_label(x) for x in labels)
        if missing:
            logger.warning("%d training record(s) have no %s label and are not trained on", missing, self.label_column)
        if len(self.label_map) < 2:
            raise ValueError(
                f"the training split holds {len(self.label_map)} distinct {self.label_column} label(s): "
                "a classifier needs at least 2"
            )

    def model_kwargs(self) -> dict:
        classes = self.label_map.classes
        return {
            "num_labels": len(classes),
            "id2label": {i: str(label) for i, label in enumerate(classes)},
            "label2id": {str(label): i for i, label in enumerate(classes)},
        }

    def encode(self, records):
        """Add the integer ``labels`` column: the class id, -100 where the label is missing
        or absent from the training split (no loss; scored by name later)."""
        column = self.label_column
        label_map = self.label_map

        def add_labels(batch):
            codes = label_map.encode(batch[column])
            return {"labels": [int(c) if c >= 0 else IGNORE_INDEX for c in codes]}

        return records.map(add_labels, batched=True, desc="encoding labels")

    def drop_unlabelled(self, records, source: str):
        """Training rows need a label; the others are dropped (logged)."""
        kept = records.filter(is_known_label, input_columns=self.label_column, desc="dropping unlabelled")
        if len(kept) == 0:
            raise ValueError(f"{source}: no record has a {self.label_column} label")
        return kept

    # ---- models ----
    def load_pretrained(self, model_dir, trust_remote_code: bool = False, **config_overrides):
        """A classifier over the backbone of ``model_dir``: barcodefm's own families with the
        installed classes; another family runs the folder's code only with ``trust_remote_code``."""
        from ..factory import load_model

        return load_model(
            model_dir,
            "AutoModelForSequenceClassification",
            trust_remote_code=trust_remote_code,
            ignore_mismatched_sizes=True,
            **self.model_kwargs(),
            **config_overrides,
        )

    def from_scratch(self, family, tokenizer, sizes: dict, **config_overrides):
        config = family.config(tokenizer, sizes)
        for key, value in {**self.model_kwargs(), **config_overrides}.items():
            setattr(config, key, value)
        return family.classification_class(config)

    # ---- scoring ----
    def truth(self, records) -> list:
        return list(records[self.label_column])

    def predicted_labels(self, logits: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Best label name and its softmax probability per row of ``logits``."""
        logits = np.asarray(logits, dtype=np.float64)
        logits = logits - logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return self.label_map.decode(best), probabilities[np.arange(len(best)), best]

    def score(self, truth: Sequence, predicted: Sequence) -> dict:
        """Metrics over the records whose true label is known; labels unseen in training are
        errors (``n_unseen_label`` says how many there were)."""
        metrics = classification_metrics(list(truth), list(predicted))
        metrics["n_unseen_label"] = sum(is_known_label(t) and t not in self.label_map for t in truth)
        return metrics

    def compute_metrics_for(self, truth: Sequence):
        """A Trainer ``compute_metrics`` for evaluations of the records whose labels are ``truth``
        (in dataset order, which the Trainer's evaluation keeps, also across processes)."""
        truth = list(truth)

        def compute_metrics(prediction) -> dict:
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            predicted, _ = self.predicted_labels(logits)
            scores = self.score(truth, predicted)
            return {k: v for k, v in scores.items() if k in ("accuracy", "balanced_accuracy", "macro_f1")}

        return compute_metrics


TASKS = {
    "species": SingleLabelTask,
    "taxonomy": TaxonomyTask,  # BarcodeMamba+: one head per rank (taxonomy_task.py)
}
if tuple(TASKS) != TASK_NAMES:  # the command line offers options.TASK_NAMES
    raise ImportError(f"trainers.options.TASK_NAMES {TASK_NAMES} differs from tasks.TASKS {tuple(TASKS)}")


def make_task(name: str, label_column: str):
    if name not in TASKS:
        raise ValueError(f"unknown fine-tuning task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[name](label_column=label_column)
