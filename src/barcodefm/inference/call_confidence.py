"""How sure the lowest rank's call (the species) may say it is, given how novel the barcode looks.

A vote or a head names the nearest *known* species. For a barcode of a species the training never
held it can be sure which known species is nearest, and still be wrong: its probability says "this
known species rather than another known one", while a user reads "this name is right". So the
lowest rank's call probability ``p`` (after the rank's temperature) is replaced by

    q = sigmoid(a * logit(p) + b * logit(1 - novelty) + c),   a, b >= 0,

with ``novelty`` the folder's novelty score (:mod:`.novelty`). ``a``, ``b``, ``c`` are fitted on the
seen-species selection records (``val``) as they come: a record whose species the training never
held counts as a wrong call, as it does for the user. :func:`choose_call_confidence` keeps the fit
only where its 5-fold cross-validated expected calibration error is below that of ``p``.

The rest of the distribution is rescaled to ``1 - q``, and ``q`` never drops to where another
species would overtake the call: the call never changes, only how sure it says it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MIN_RECORDS = 50  # fewer seen-species selection records: keep the temperature alone
FOLDS = 5
_EPS = 1e-6


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class CallConfidence:
    """``q = sigmoid(weights[0] * logit(p) + weights[1] * logit(1 - novelty) + bias)``."""

    weights: tuple[float, float]
    bias: float

    @classmethod
    def from_info(cls, info: dict | None) -> CallConfidence | None:
        return None if not info else cls(tuple(float(w) for w in info["weights"]), float(info["bias"]))

    def to_info(self) -> dict:
        return {"inputs": ["logit(p)", "logit(1 - novelty)"], "weights": list(self.weights), "bias": self.bias}

    def probability(self, p, novelty) -> np.ndarray:
        x = self.weights[0] * _logit(p) + self.weights[1] * _logit(1.0 - np.asarray(novelty)) + self.bias
        return 1.0 / (1.0 + np.exp(-x))

    def apply(self, probs: torch.Tensor, novelty) -> torch.Tensor:
        """``probs`` (batch, classes) with each row's call probability set to ``q``."""
        p, _ = probs.max(dim=1)
        q = torch.as_tensor(self.probability(p.numpy(), novelty), dtype=probs.dtype)
        return with_call_probability(probs, q)


def with_call_probability(probs: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Each row with its largest entry set to ``q`` and the others rescaled to sum to ``1 - q``
    (spread evenly where they were all zero); ``q`` is raised where needed so that no other class
    passes the call. All-zero rows are returned unchanged."""
    n = probs.shape[1]
    if n < 2:
        return probs
    dtype, probs, q = probs.dtype, probs.double(), q.double()  # the rescale can be thousands-fold
    top2 = probs.topk(2, dim=1).values
    p1, p2, call = top2[:, 0], top2[:, 1], probs.argmax(dim=1)  # argmax: the call predict makes, ties too
    rest = probs.sum(dim=1) - p1  # what the other classes hold (not 1 - p1: exact even when tiny)
    spread = rest <= 0  # a one-hot row: what the call gives up goes evenly to the others
    # The lowest q that keeps the call: the runner-up, rescaled by (1 - q) / rest, must stay below q.
    floor = torch.where(spread, torch.full_like(p1, 1.0 / n), p2 / (rest + p2).clamp(min=1e-30))
    q = torch.minimum(torch.maximum(q, floor + _EPS), torch.ones_like(q))
    scale = torch.where(spread, torch.zeros_like(rest), (1.0 - q) / rest.clamp(min=1e-30))
    out = probs * scale[:, None] + torch.where(spread, (1.0 - q) / (n - 1), torch.zeros_like(q))[:, None]
    out[torch.arange(len(out)), call] = q
    return torch.where((p1 > 0)[:, None], out, probs).to(dtype)


def choose_call_confidence(p, right, novelty, seed: int = 0) -> tuple[CallConfidence | None, dict]:
    """The fit of the module docstring on the calls' probabilities ``p``, whether each call is
    ``right`` and the records' ``novelty``; None (keep ``p``) with too few records or where it does
    not lower the cross-validated calibration error. Returns (fit or None, report)."""
    from sklearn.model_selection import StratifiedKFold

    from ..evaluation.metrics import expected_calibration_error
    from .novelty import monotone_logistic_regression

    p, right, novelty = np.asarray(p, dtype=np.float64), np.asarray(right, dtype=bool), np.asarray(novelty)
    report = {"n": int(len(p)), "wrong": int((~right).sum()), "ece_before": None, "ece_after_cv": None}
    if len(p) < MIN_RECORDS or min(right.sum(), (~right).sum()) < FOLDS:
        return None, report
    x = np.stack([_logit(p), _logit(1.0 - novelty)], axis=1)

    def fit(rows) -> CallConfidence:
        kept, regression = monotone_logistic_regression(x[rows], right[rows], balanced=False)
        weights = np.zeros(2)
        weights[kept] = np.maximum(regression.coef_[0], 0.0)  # one column left may still be negative
        return CallConfidence((float(weights[0]), float(weights[1])), float(regression.intercept_[0]))

    held_out = np.empty(len(p))
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, right):
        held_out[test] = fit(train).probability(p[test], novelty[test])
    report["ece_before"] = float(expected_calibration_error(p, right))
    report["ece_after_cv"] = float(expected_calibration_error(held_out, right))
    if report["ece_after_cv"] >= report["ece_before"]:
        return None, report
    return fit(np.arange(len(p))), report
