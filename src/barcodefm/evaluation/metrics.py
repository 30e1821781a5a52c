"""Classification metrics (scikit-learn), per-rank summaries, perplexity and the harmonic mean.

Values here are fractions in [0, 1] (MCC in [-1, 1]), as scikit-learn and the Hugging Face
``Trainer`` expect. The probes (:mod:`.knn`, :mod:`.linear_probe`, :mod:`.clustering`) report
percentages, like the published scripts and SPEC tables.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, matthews_corrcoef

from ..models.taxonomy import IGNORE_INDEX  # Hugging Face's label for "no target here"
from .labels import LabelMap, is_known_label

METRIC_NAMES = ("accuracy", "balanced_accuracy", "macro_f1", "mcc")


def _as_list(values) -> list:
    if hasattr(values, "tolist"):  # numpy arrays, torch tensors, pandas Series
        return values.tolist()
    return list(values)


def classification_metrics(y_true: Sequence, y_pred: Sequence) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro F1 and MCC over the samples whose TRUE label is known.

    Samples with a missing true label (``None``, NaN, ``""``) are left out; ``n`` says how many
    were scored. A missing prediction (``None``: no hit, below a confidence cutoff) counts as
    wrong without becoming a class of its own in macro F1. Labels are compared by value, so
    strings, ints or any hashable labels work, as long as truth and prediction use the same
    names. With nothing to score, every metric is NaN.
    """
    y_true, y_pred = _as_list(y_true), _as_list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    pairs = [(t, p) for t, p in zip(y_true, y_pred) if is_known_label(t)]
    if not pairs:
        return {**{name: float("nan") for name in METRIC_NAMES}, "n": 0}
    truths = [t for t, _ in pairs]
    predictions = [p if is_known_label(p) else None for _, p in pairs]
    # One code space over truths and predictions, so that labels compare by value.
    label_map = LabelMap.fit(truths + [p for p in predictions if p is not None])
    true_codes = label_map.encode(truths)
    pred_codes = label_map.encode(predictions)  # None -> -1, never equal to a true code
    classes = np.arange(len(label_map))
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true" and 0/0 F1 terms are expected here.
        warnings.simplefilter("ignore")
        return {
            "accuracy": float(accuracy_score(true_codes, pred_codes)),
            "balanced_accuracy": float(balanced_accuracy_score(true_codes, pred_codes)),
            "macro_f1": float(f1_score(true_codes, pred_codes, labels=classes, average="macro", zero_division=0)),
            "mcc": float(matthews_corrcoef(true_codes, pred_codes)),
            "n": len(pairs),
        }


def percent_metrics(y_true: Sequence, y_pred: Sequence) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 in percent (as the probes report them) and ``n``,
    scored as :func:`classification_metrics` scores them."""
    scores = classification_metrics(y_true, y_pred)
    return {
        "accuracy": 100.0 * scores["accuracy"],
        "balanced_accuracy": 100.0 * scores["balanced_accuracy"],
        "macro_f1": 100.0 * scores["macro_f1"],
        "n": scores["n"],
    }


def per_rank_metrics(predictions_by_rank: Mapping[str, tuple[Sequence, Sequence]]) -> dict[str, dict[str, float]]:
    """``{rank: (y_true, y_pred)}`` -> ``{rank: classification_metrics(y_true, y_pred)}``.

    Each rank is scored only on the samples whose true label at that rank is known (e.g. a
    record identified to genus counts for genus, not for species).
    """
    out = {}
    for rank, pair in predictions_by_rank.items():
        if len(pair) != 2:
            raise ValueError(f"rank {rank!r}: expected a (y_true, y_pred) pair, got {len(pair)} items")
        try:
            out[rank] = classification_metrics(*pair)
        except ValueError as exc:
            raise ValueError(f"rank {rank!r}: {exc}") from None
    return out


def perplexity(total_nll: float, n_tokens: int) -> float:
    """``exp(total_nll / n_tokens)`` from a summed negative log-likelihood in nats.

    Sum the per-token NLL over real tokens only (padding excluded) and count those tokens;
    averaging per-batch means instead would weight short batches wrongly.
    """
    total_nll, n_tokens = float(total_nll), float(n_tokens)
    if not n_tokens > 0:
        raise ValueError(f"perplexity needs a positive token count, got {n_tokens:g}")
    if not math.isfinite(total_nll):
        raise ValueError(f"perplexity needs a finite summed NLL, got {total_nll}")
    return math.exp(total_nll / n_tokens)


def compute_classification_metrics(eval_prediction) -> dict[str, float]:
    """``compute_metrics`` for a Hugging Face ``Trainer`` doing single-label classification.

    Takes an ``EvalPrediction`` (or a ``(predictions, label_ids)`` pair) whose predictions are
    logits ``(n, n_classes)`` (the first element when the model returns a tuple) or class ids
    ``(n,)``; samples labelled ``-100`` are ignored. Returns fractions.
    """
    if hasattr(eval_prediction, "predictions"):
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    else:
        predictions, labels = eval_prediction
    if isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"compute_classification_metrics expects one label per sample, got labels of shape {labels.shape}"
        )
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions of shape {predictions.shape} do not match labels of shape {labels.shape}")
    keep = labels != IGNORE_INDEX
    scores = classification_metrics(labels[keep], predictions[keep])
    return {name: scores[name] for name in METRIC_NAMES}


def harmonic_mean(a: float, b: float) -> float:
    """Harmonic mean ``2ab / (a + b)`` of two scores on the SAME scale.

    BarcodeMAE summarises a model by the harmonic mean of 1-NN genus accuracy and ZSC AMI,
    both in percent (e.g. 69.0 and 80.3 give 74.2). A score at or below zero (AMI can be
    slightly negative for a useless embedding) gives 0, the worst value.
    """
    a, b = float(a), float(b)
    if a <= 0 or b <= 0:
        return 0.0
    return 2.0 * a * b / (a + b)


ECE_BINS = 15


def expected_calibration_error(confidence, correct, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the record-weighted mean gap between confidence and accuracy
    over ``bins`` equal-width confidence bins (the first bin closed at 0)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total, n = 0.0, len(confidence)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence >= lo) & (confidence <= hi)
        if inside.any():
            total += inside.sum() / n * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)
