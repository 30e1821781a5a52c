"""``barcodefm finetune --task taxonomy``: BarcodeMamba+ multi-rank classification (SPEC 4).

One head per rank (phylum ... species) on the pooled backbone feature, trained with
hierarchical label smoothing (HLS) and the ``n_c^-0.5`` class-weighted loss of
:class:`barcodefm.models.taxonomy.TaxonomyHeads`; both are one flag away from off (``--no-hls``,
``--class-weight-strength 0``) for the ablation.

Like the species task, the label space (:class:`~barcodefm.models.taxonomy.TaxonomySpec`: labels, tree,
class counts) comes from the TRAINING records only and evaluation is scored by label NAME, per
rank, on the records whose true label at that rank is known: a test label the training split
never saw can only count as an error. Labels unknown at a rank (``Genus sp``, ``incertae
sedis``, empty) are ``-100`` there and leave that rank's loss.

At the end of the run the exported folder also gets a novelty reference (embeddings of the
training barcodes + a distance threshold calibrated on the seen-species validation split and,
when the data has them, ``unseen_key`` barcodes of species absent from training), so that
``barcodefm classify MODEL_DIR`` reports ``novelty`` and ``likely_novel``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from ..data.labels import RANKS
from ..data.taxonomy_labels import add_label_ids, build_taxonomy_spec, label_columns, varying_ranks
from ..evaluation.labels import is_known_label
from ..evaluation.metrics import per_rank_metrics
from ..models.taxonomy import DEFAULT_CLASS_WEIGHT_STRENGTH, predict
from .collators import BarcodeCollator

logger = logging.getLogger(__name__)

# Splits of species absent from training that calibrate the novelty threshold (the data README's
# recipe: ``unseen_key`` calibrates, ``unseen_query`` stays for evaluation).

# The taxonomic classifier of each model family, by ``config.model_type`` (looked up in the
# package, so a family gains taxonomy support as soon as its class exists).
TAXONOMIC_CLASSES = {
    "barcodemamba": "BarcodeMambaForTaxonomicClassification",
    "barcodemae": "BarcodeMAEForTaxonomicClassification",
}


def taxonomic_class(model_type: str):
    """The ``*ForTaxonomicClassification`` class of a family; a clear error when it has none."""
    import barcodefm

    cls = getattr(barcodefm, TAXONOMIC_CLASSES.get(model_type, ""), None)
    if cls is None:
        supported = [t for t, name in TAXONOMIC_CLASSES.items() if hasattr(barcodefm, name)]
        raise ValueError(
            f"--task taxonomy: the {model_type!r} model family has no taxonomic classifier; "
            f"families that have one: {', '.join(supported)}"
        )
    return cls


def canonical_order(ranks: Sequence[str]) -> list[str]:
    """``ranks`` top -> bottom (HLS needs the tree order); names outside the canonical list
    keep the order given."""
    ranks = list(dict.fromkeys(ranks))
    if all(r in RANKS for r in ranks):
        return sorted(ranks, key=RANKS.index)
    return ranks


class TaxonomyCollator(BarcodeCollator):
    """Multi-rank labels: ``labels`` is ``(batch, n_ranks)``, -100 where a rank is unknown."""

    label_names = ("labels",)

    def __call__(self, examples) -> dict:
        batch = super().__call__(examples)
        batch["labels"] = torch.tensor([list(example["labels"]) for example in examples], dtype=torch.long)
        return batch


class TaxonomyTask:
    """Per-rank labels predicted by a family's ``*ForTaxonomicClassification`` heads (BarcodeMamba, BarcodeMAE).

    ``ranks``: the rank columns to predict (default: every canonical rank column with at least
    two labels among the training records); ``hls``: hierarchical label smoothing with SPEC's
    default masses (off: plain one-hot targets); ``class_weight_strength``: exponent ``a`` of
    the class weights ``n_c^-a`` (0 = unweighted); ``rank_weights``: one factor per rank in the
    total loss (default 1 each).
    """

    collator_class = TaxonomyCollator

    def __init__(
        self,
        label_column: str = "species",
        ranks: Sequence[str] | None = None,
        hls: bool = True,
        class_weight_strength: float = DEFAULT_CLASS_WEIGHT_STRENGTH,
        rank_weights: Sequence[float] | None = None,
    ):
        self.label_column = label_column  # the species task's setting; this task reads ``ranks``
        self.spec = None
        self._settings(ranks, hls, class_weight_strength, rank_weights)

    def _settings(self, ranks, hls, class_weight_strength, rank_weights) -> None:
        self.requested_ranks = canonical_order(ranks) if ranks else None
        self.hls = bool(hls)
        if class_weight_strength < 0:
            raise ValueError(f"--class-weight-strength must be >= 0, got {class_weight_strength}")
        self.class_weight_strength = float(class_weight_strength)
        self.rank_weights = [float(w) for w in rank_weights] if rank_weights else None

    def configure(self, options) -> None:
        """Take the taxonomy settings of a :class:`~.options.FinetuneOptions`."""
        self._settings(options.ranks, options.hls, options.class_weight_strength, options.rank_weights)

    # ---- labels ----
    @property
    def ranks(self) -> list[str]:
        if self.spec is None:
            raise RuntimeError("the taxonomy task is not fitted yet")
        return list(self.spec.ranks)

    @property
    def truth_columns(self) -> tuple[str, ...]:
        """Columns the evaluation examples keep: the true labels, scored by name."""
        return tuple(self.ranks)

    def _candidate_ranks(self, column_names: Sequence[str]) -> list[str]:
        return self.requested_ranks or [r for r in RANKS if r in column_names]

    def check_columns(self, column_names: Sequence[str], source: str) -> None:
        present = [r for r in RANKS if r in column_names]
        if self.requested_ranks:
            missing = [r for r in self.requested_ranks if r not in column_names]
            if missing:
                raise ValueError(
                    f"{source} has no column for rank(s) {', '.join(missing)}; "
                    f"its rank columns: {', '.join(present) or 'none'}"
                )
        elif not present:
            raise ValueError(f"{source} has no taxonomic rank column (expected some of {', '.join(RANKS)})")

    def drop_unlabelled(self, records, source: str):
        """Training rows need a known label at one rank at least; the others are dropped (logged)."""
        columns = label_columns(records, self._candidate_ranks(records.column_names))
        keep = [i for i, labels in enumerate(zip(*columns.values())) if any(x is not None for x in labels)]
        if not keep:
            raise ValueError(f"{source}: no record has a label at any of the ranks {', '.join(columns)}")
        if len(keep) < len(records):
            logger.warning(
                "%s: %d record(s) without any known rank label are not trained on", source, len(records) - len(keep)
            )
            records = records.select(keep)
        return records

    def fit(self, train_records) -> None:
        """Build the spec (labels, tree, class counts) from the training records."""
        if self.requested_ranks:
            columns = label_columns(train_records, self.requested_ranks)
            constant = [r for r in self.requested_ranks if r not in varying_ranks(columns)]
            if constant:
                detail = "; ".join(
                    f"{r}: {sorted({x for x in columns[r] if x is not None})[:3] or 'no known label'}" for r in constant
                )
                raise ValueError(
                    f"--ranks: the training split has fewer than 2 labels at {', '.join(constant)} "
                    f"({detail}); a head needs at least 2, leave those ranks out"
                )
        self.spec = build_taxonomy_spec(train_records, ranks=self.requested_ranks, split_column=None)
        if self.rank_weights is not None and len(self.rank_weights) != len(self.spec.ranks):
            raise ValueError(
                f"--rank-weights gives {len(self.rank_weights)} number(s) for "
                f"{len(self.spec.ranks)} ranks ({', '.join(self.spec.ranks)})"
            )
        logger.info("taxonomy heads: %s", ", ".join(f"{r} {n}" for r, n in zip(self.spec.ranks, self.spec.num_classes)))

    def describe(self) -> dict:
        """What eval_results.json records about the task."""
        return {
            "ranks": self.ranks,
            "n_labels": dict(zip(self.spec.ranks, self.spec.num_classes)),
            "hls": self.hls,
            "class_weight_strength": self.class_weight_strength,
            "rank_weights": self.rank_weights,
        }

    def model_kwargs(self) -> dict:
        """Config fields of the taxonomic classifier (``from_pretrained`` overrides with them)."""
        return {
            "taxonomy": self.spec.to_dict(),
            "taxonomy_label_smoothing": "default" if self.hls else None,
            "taxonomy_class_weight_strength": self.class_weight_strength,
            "taxonomy_rank_weights": self.rank_weights,
        }

    def encode(self, records):
        """Add the ``labels`` column: one id per rank, -100 where the label is unknown or absent
        from the training split (no loss; scored by name later)."""
        return add_label_ids(records, self.spec, unseen="ignore")

    # ---- models ----
    def load_pretrained(self, model_dir, trust_remote_code: bool = False, **config_overrides):
        """The backbone of a pretrained folder (any head) under new taxonomy heads.

        Only barcodefm's families have taxonomic classifiers, loaded with the installed classes:
        the family is read from ``config.json`` as JSON, so a folder's own code is never run
        (``trust_remote_code`` changes nothing here)."""
        from transformers import PretrainedConfig

        config, _ = PretrainedConfig.get_config_dict(str(model_dir))
        cls = taxonomic_class(config.get("model_type"))
        # ignore_mismatched_sizes: a folder that already has taxonomy heads (of another label set).
        return cls.from_pretrained(
            str(model_dir), ignore_mismatched_sizes=True, **self.model_kwargs(), **config_overrides
        )

    def from_scratch(self, family, tokenizer, sizes: dict):
        config = family.config(tokenizer, sizes)
        for key, value in self.model_kwargs().items():
            setattr(config, key, value)
        return taxonomic_class(config.model_type)(config)

    # ---- scoring ----
    def truth(self, records) -> dict[str, list]:
        """Cleaned true labels per rank (None = unknown), in record order."""
        return label_columns(records, self.ranks)

    def predictions(self, logits) -> list[dict]:
        """Per record: names, probabilities and the consistency flag (see :func:`barcodefm.models.taxonomy.predict`)."""
        logits = logits if isinstance(logits, (tuple, list)) else (logits,)
        return predict([torch.as_tensor(np.asarray(x)) for x in logits], self.spec)

    def score(self, truth: dict[str, list], predictions: list[dict], rows: Sequence[int] | None = None) -> dict:
        """Per-rank accuracy, balanced accuracy, macro F1 and MCC over the records (``rows``,
        default all) whose true label at the rank is known; labels unseen in training are errors
        (``n_unseen_label`` counts them)."""
        rows = range(len(predictions)) if rows is None else rows
        pairs = {
            rank: ([truth[rank][i] for i in rows], [predictions[i]["labels"][rank] for i in rows])
            for rank in self.ranks
        }
        metrics = per_rank_metrics(pairs)
        for rank, (true, _) in pairs.items():
            metrics[rank]["n_unseen_label"] = sum(is_known_label(t) and self.spec.index(rank, t) is None for t in true)
        return metrics

    def evaluate_predictions(self, logits, examples, truth: dict[str, list], in_train: list[bool]):
        """Metrics of one split (all records and the de-duplicated part) and its per-record rows."""
        predictions = self.predictions(logits)
        novel = [i for i, seen in enumerate(in_train) if not seen]
        metrics = {
            "all": self.score(truth, predictions),
            "dedup": self.score(truth, predictions, novel),
            "consistent": float(np.mean([p["consistent"] for p in predictions])) if predictions else float("nan"),
        }
        rows = []
        for i, (record_id, prediction) in enumerate(zip(examples["id"], predictions)):
            row = {"id": record_id}
            for rank in self.ranks:
                row[f"true_{rank}"] = truth[rank][i]
                row[rank] = prediction["labels"][rank]
                row[f"{rank}_prob"] = round(prediction["probs"][rank], 6)
            row["consistent"] = prediction["consistent"]
            row["sequence_in_train"] = in_train[i]
            rows.append(row)
        return metrics, rows

    def log_values(self, split: str, metrics: dict) -> dict:
        """The numbers of a split's evaluation that go into train_log.jsonl."""
        return {
            f"{split}_{part}{rank}_accuracy": metrics[key][rank]["accuracy"]
            for key, part in (("all", ""), ("dedup", "dedup_"))
            for rank in self.ranks
        }

    def compute_metrics_for(self, truth: dict[str, list]):
        """A Trainer ``compute_metrics`` (periodic evaluation): accuracy per rank and the macro F1
        of the last rank, for the records whose labels are ``truth`` (in dataset order)."""

        def compute_metrics(prediction) -> dict:
            scores = self.score(truth, self.predictions(prediction.predictions))
            out = {f"{rank}_accuracy": scores[rank]["accuracy"] for rank in self.ranks}
            out[f"{self.ranks[-1]}_macro_f1"] = scores[self.ranks[-1]]["macro_f1"]
            return out

        return compute_metrics

    # ---- after training ----
    def finish_export(self, model, tokenizer, directory, run) -> dict:
        """Save the identification reference into the exported ``directory``: the training barcodes
        (embeddings, sequences, labels), the identification rule per rank chosen on the validation
        and ``unseen_key`` records, and the novelty threshold (see
        :mod:`barcodefm.inference.reference_vote`). Returns the rules and the novelty calibration."""
        from ..inference.reference_vote import NOVEL_SPLITS, build_reference_set, reference_rows

        options, records = run.options, run.records
        train = run.trainer.train_dataset  # the training records as trained on (labelled, long enough)
        seen_splits = [s for s in options.eval_splits if s not in options.train_splits]
        selection_splits = (*seen_splits, *NOVEL_SPLITS)
        if not any(split in seen_splits for split in records["split"]):
            logger.warning(
                "no validation barcodes (--eval-split %s) to choose the identification rule and calibrate "
                "the novelty threshold: no reference saved, `barcodefm classify` will use the heads only "
                "and leave out the novelty columns",
                ",".join(options.eval_splits) or "none",
            )
            return {"saved": False, "reason": "no seen-species validation records to calibrate on"}
        selection = reference_rows(records, self.ranks, splits=selection_splits)
        logger.info(
            "identification reference: %d training barcodes; rules and novelty threshold from %d %s records",
            len(train),
            len(selection["sequence"]),
            "/".join(selection_splits),
        )
        settings = build_reference_set(
            model,
            tokenizer,
            directory,
            reference_rows(train, self.ranks),
            selection,
            batch_size=options.eval_batch_size or options.batch_size,
            max_length=options.max_length,
        )
        return {"saved": True, "rules": settings["rules"], **settings["novelty"]}
