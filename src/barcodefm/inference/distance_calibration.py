"""How sure each rank's call may say it is, given how far the query lies from the references that carry it.

The rule of a rank (head, votes, their mean) and its temperature are calibrated on validation
records that look like the training data. Far from the references they are not: a query of a genus
the model never saw is still sure which known genus is nearest, and names it with a probability
near 1 (a user's survey of midges got wrong families at ``family_prob >= 0.99``). What a BLAST or
VSEARCH user reads instead is how close the best hit is; that signal does not lie.

So each rank's call probability ``p`` (after the rule, its temperature and, at the lowest rank,
the refit given novelty) is replaced by

    q = sigmoid(w_p * logit(p) + w_align * a + w_kmer * m + w_embedding * e + b),   all w >= 0,

where ``a``, ``m``, ``e`` are the similarities of the *supporting* reference: the nearest reference,
among the neighbours each search found (alignment identity, k-mer cosine, embedding cosine), whose
label at that rank is the call (:func:`support_evidence`; none among them: the last neighbour's
similarity, an upper bound). A call no close reference carries says so.

The fit (:func:`choose_distance_calibration`) needs records that are novel at each rank, which
validation data rarely holds. :mod:`.leave_out` makes them: whole species, genera or families are
taken out of the references AND out of the heads (their classes removed and the rest renormalised,
as for a model that never had them), and their records identified again. Each rank is then fitted
on the groups (seen species, novel species, novel genera, novel families, ...) weighted equally, so
neither the many seen records nor the novel ones decide alone; the fit is kept for a rank only where
its cross-validated calibration error (the mean over the groups) is lower than without it. It never
changes a call (:func:`.call_confidence.with_call_probability`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .call_confidence import _logit, with_call_probability

SUPPORT_SOURCES = {"align": "align", "kmer": "kmer", "reference": "embedding"}  # search -> feature name
SUPPORT_FEATURES = ("align", "kmer", "embedding", "agreement")
FOLDS = 5
MIN_RECORDS = 50


def support_evidence(
    found: dict[str, tuple[torch.Tensor, torch.Tensor]], labels: torch.Tensor, calls: torch.Tensor
) -> dict[str, np.ndarray]:
    """Per search in ``found`` ({source: (similarities, reference indices)}, most similar first),
    the similarity of the nearest neighbour whose label (``labels``: one per reference, -1 unknown)
    is the query's call (``calls``); the last neighbour's where none is. And ``agreement``: the share
    of the sequence-space neighbours (aligned, else k-mer) that carry the call (a barcode of a known
    genus has congeners all around it; one of a new genus has neighbours of several)."""
    out = {}
    for source, (sims, idx) in found.items():
        if source not in SUPPORT_SOURCES or sims.shape[1] == 0:
            continue
        carries = labels[idx] == calls[:, None]
        first = torch.where(
            carries.any(dim=1), carries.float().argmax(dim=1), torch.full_like(calls, sims.shape[1] - 1)
        )
        out[SUPPORT_SOURCES[source]] = sims.gather(1, first[:, None])[:, 0].double().numpy()
    sequence_search = next((s for s in ("align", "kmer") if s in found and found[s][1].shape[1]), None)
    if sequence_search is not None:
        idx = found[sequence_search][1]
        out["agreement"] = (labels[idx] == calls[:, None]).double().mean(dim=1).numpy()
    return out


@dataclass(frozen=True)
class RankCalibration:
    """One rank's map from (call probability, supporting similarities) to a probability: a score
    ``s = weights . [logit(p), *features] + bias`` (weights >= 0: farther never means surer), then
    ``q`` = the isotonic (non-decreasing) map of ``s`` fitted on the records, as the table
    ``(score_points, probabilities)`` read by linear interpolation, flat beyond its ends."""

    features: tuple[str, ...]
    weights: tuple[float, ...]  # the first is logit(p)'s
    bias: float
    score_points: tuple[float, ...]
    probabilities: tuple[float, ...]

    def to_info(self) -> dict:
        return {
            "inputs": ["logit(p)", *self.features],
            "weights": list(self.weights),
            "bias": self.bias,
            "score_points": list(self.score_points),
            "probabilities": list(self.probabilities),
        }

    @classmethod
    def from_info(cls, info: dict) -> RankCalibration:
        return cls(
            tuple(info["inputs"][1:]),
            tuple(float(w) for w in info["weights"]),
            float(info["bias"]),
            tuple(float(x) for x in info["score_points"]),
            tuple(float(y) for y in info["probabilities"]),
        )

    def score(self, p, support: dict[str, np.ndarray]) -> np.ndarray:
        s = self.weights[0] * _logit(p) + self.bias
        for name, w in zip(self.features, self.weights[1:]):
            s = s + w * np.asarray(support[name], dtype=np.float64)
        return s

    def probability(self, p, support: dict[str, np.ndarray]) -> np.ndarray:
        return np.interp(self.score(p, support), self.score_points, self.probabilities)


@dataclass
class DistanceCalibration:
    """Per rank, the :class:`RankCalibration` kept by :func:`choose_distance_calibration`."""

    ranks: dict[str, RankCalibration]

    def to_info(self) -> dict:
        return {rank: fit.to_info() for rank, fit in self.ranks.items()}

    @classmethod
    def from_info(cls, info: dict | None) -> DistanceCalibration | None:
        if not info:
            return None
        return cls({rank: RankCalibration.from_info(fit) for rank, fit in info.items()})

    def apply(
        self,
        probs: dict[str, torch.Tensor],
        found: dict[str, tuple[torch.Tensor, torch.Tensor]],
        labels: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """``probs`` (rank -> (batch, classes)) with each fitted rank's call probability set to ``q``."""
        out = dict(probs)
        for rank, fit in self.ranks.items():
            if rank not in probs or probs[rank].shape[0] == 0:
                continue
            p, call = probs[rank].max(dim=1)
            support = support_evidence(found, labels[rank], call)
            if not all(f in support for f in fit.features):  # a search this folder did not run
                continue
            q = torch.as_tensor(fit.probability(p.numpy(), support), dtype=probs[rank].dtype)
            out[rank] = with_call_probability(probs[rank], q)
        return out


# The share of the fit's weight on the records as they come (seen species, novel species); the
# groups left out at a rank share the rest. Tried in turn, most weight on the novel groups first.
IN_DISTRIBUTION_SHARES = (0.5, 0.8, 0.9, 0.95, 0.98)
# How much worse the calibration error of each group of records as they come (seen species, novel
# species) may get, cross-validated, for a rank's fit to be kept: the price of honest probabilities
# far from the references.
IN_DISTRIBUTION_TOLERANCE = 0.005


def group_weights(groups: np.ndarray, in_distribution: np.ndarray, share: float) -> np.ndarray:
    """One weight per record: the ``in_distribution`` groups together weigh ``share`` of the total,
    the others ``1 - share``, each group equally within its side."""
    weights = np.zeros(len(groups))
    sides = [(in_distribution, share), (~in_distribution, 1.0 - share)]
    for side, total in sides:
        names = np.unique(groups[side])
        for name in names:
            members = side & (groups == name)
            weights[members] = total / len(names) / members.sum() * len(groups)
    return weights


def _fit(x: np.ndarray, right: np.ndarray, weights: np.ndarray, features: list[str]) -> RankCalibration:
    from sklearn.isotonic import IsotonicRegression

    from .novelty import monotone_logistic_regression

    kept, regression = monotone_logistic_regression(x, right, balanced=False, sample_weight=weights)
    coef = np.zeros(x.shape[1])
    coef[kept] = np.maximum(regression.coef_[0], 0.0)  # one column left may still be negative
    fit = RankCalibration(
        tuple(features), tuple(float(w) for w in coef), float(regression.intercept_[0]), (0.0,), (0.5,)
    )
    scores = x @ coef + fit.bias
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, right, sample_weight=weights)
    return dataclasses.replace(
        fit,
        score_points=tuple(float(v) for v in iso.X_thresholds_),
        probabilities=tuple(float(v) for v in iso.y_thresholds_),
    )


def group_ece(probability: np.ndarray, right: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    from ..evaluation.metrics import expected_calibration_error

    return {
        str(g): float(expected_calibration_error(probability[groups == g], right[groups == g]))
        for g in np.unique(groups)
    }


def choose_distance_calibration(
    rows: dict[str, dict[str, np.ndarray]], seed: int = 0
) -> tuple[DistanceCalibration | None, dict]:
    """The fit of the module docstring per rank. ``rows``: rank -> {"p": call probabilities,
    "right": whether each call is right, "group": each record's group (``seen`` and ``novel
    <lowest rank>`` are the records as they come), one array per support feature}. Per rank, the
    in-distribution share of :data:`IN_DISTRIBUTION_SHARES` with the lowest cross-validated mean
    ECE of the left-out groups among those that keep each group of records as they come within
    :data:`IN_DISTRIBUTION_TOLERANCE` of its ECE without the fit; none: the rank is left as it
    is. Returns (the kept fits, or None; a report per rank)."""
    from sklearn.model_selection import StratifiedKFold

    lowest = list(rows)[-1]
    kept_fits, report = {}, {}
    for rank, r in rows.items():
        p, right, groups = np.asarray(r["p"], float), np.asarray(r["right"], bool), np.asarray(r["group"])
        features = [f for f in SUPPORT_FEATURES if f in r]
        in_distribution = np.isin(groups, ["seen", f"novel {lowest}"])
        entry = {"n": int(len(p)), "groups": {str(g): int((groups == g).sum()) for g in np.unique(groups)}}
        report[rank] = entry
        if len(p) < MIN_RECORDS or min(right.sum(), (~right).sum()) < FOLDS or in_distribution.all():
            entry["kept"] = False
            continue
        x = np.column_stack([_logit(p)] + [np.asarray(r[f], float) for f in features])
        strata = np.char.add(groups.astype(str), right.astype(str))  # every fold holds every group
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, strata))
        before = group_ece(p, right, groups)
        entry["ece_before"] = before
        as_they_come = [str(g) for g in np.unique(groups[in_distribution])]
        left_out = [str(g) for g in np.unique(groups[~in_distribution])]
        best = None
        for share in IN_DISTRIBUTION_SHARES:
            weights = group_weights(groups, in_distribution, share)
            held_out = np.empty(len(p))
            for train, test in folds:
                fit = _fit(x[train], right[train], weights[train], features)
                held_out[test] = fit.probability(p[test], {f: x[test, 1 + i] for i, f in enumerate(features)})
            after = group_ece(held_out, right, groups)
            entry[f"ece_after_cv (in-distribution share {share})"] = after
            novel_after = np.mean([after[g] for g in left_out])
            no_worse = all(after[g] <= before[g] + IN_DISTRIBUTION_TOLERANCE for g in as_they_come)
            if no_worse and novel_after < np.mean([before[g] for g in left_out]):
                if best is None or novel_after < best[1]:
                    best = (share, novel_after)
        entry["kept"] = best is not None
        if best is not None:
            entry["in_distribution_share"] = best[0]
            kept_fits[rank] = _fit(x, right, group_weights(groups, in_distribution, best[0]), features)
            entry["fit"] = {k: v for k, v in kept_fits[rank].to_info().items() if k in ("inputs", "weights", "bias")}
    return (DistanceCalibration(kept_fits) if kept_fits else None), report


def calibration_rows(
    reference,
    spec,
    heads: dict[str, torch.Tensor],
    embeddings: torch.Tensor,
    sequences,
    truth: dict[str, np.ndarray],
    labelled: dict[str, np.ndarray],
    novel: np.ndarray,
    max_records: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """The ``rows`` of :func:`choose_distance_calibration`: each record identified by ``reference``
    as it is (group ``seen``, or ``novel species`` where ``novel``), then again with its taxon left
    out at each rank above the lowest (group ``novel <rank>``, :func:`.leave_out.leave_out`).
    ``truth``: rank -> spec ids (-1: no label, or one the model never held); ``labelled``: rank ->
    whether the record has a label there (a label the model never held is a wrong call)."""
    from .leave_out import leave_out

    ranks = list(spec.ranks)
    found = reference.find(embeddings, sequences)
    combined, _ = reference.identify(heads, embeddings, sequences, found=found)
    runs = [(np.arange(len(sequences)), combined, found, reference, np.where(novel, "novel " + ranks[-1], "seen"))]
    for level in ranks[:-1]:
        for records, fold_combined, fold_found, without, _ in leave_out(
            reference, spec, heads, embeddings, sequences, truth, level, max_records=max_records, seed=seed
        ):
            runs.append((records, fold_combined, fold_found, without, np.full(len(records), f"novel {level}")))
    rows = {}
    for rank in ranks:
        parts = {"p": [], "right": [], "group": []}
        for records, probs, run_found, run_reference, groups in runs:
            p, call = probs[rank].max(dim=1)
            keep = labelled[rank][records]
            parts["p"].append(p.numpy()[keep])
            parts["right"].append((call.numpy() == truth[rank][records])[keep])
            parts["group"].append(groups[keep])
            for name, values in support_evidence(run_found, run_reference.labels[rank], call).items():
                parts.setdefault(name, []).append(values[keep])
            # The nearest reference in embedding space alone: what an index's vote reads.
            sims, idx = run_found["reference"]
            nearest_label = run_reference.labels[rank][idx[:, 0]].numpy()
            parts.setdefault("nearest_similarity", []).append(sims[:, 0].double().numpy()[keep])
            parts.setdefault("nearest_right", []).append((nearest_label == truth[rank][records])[keep])
        rows[rank] = {name: np.concatenate(values) for name, values in parts.items()}
    return rows


def choose_index_vote_weight(rows: dict[str, dict[str, np.ndarray]]) -> dict[str, dict]:
    """Per rank, how often the nearest reference in embedding space carries the query's label, as a
    non-decreasing function of its cosine similarity (isotonic, every group of ``rows`` weighing the
    same: an index is a user's own library, and its queries can be far from all of it). An index's
    vote at that rank counts with this weight (:mod:`barcodefm.index.nearest_calls`), so a library
    of one family does not name everything that family."""
    from sklearn.isotonic import IsotonicRegression

    out = {}
    for rank, r in rows.items():
        sims, right, groups = r["nearest_similarity"], np.asarray(r["nearest_right"], bool), np.asarray(r["group"])
        if len(sims) < MIN_RECORDS:
            continue
        weights = group_weights(groups, np.ones(len(groups), dtype=bool), 1.0)  # every group the same
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(sims, right, sample_weight=weights)
        out[rank] = {
            "input": "cosine similarity of the nearest index reference",
            "score_points": [float(v) for v in iso.X_thresholds_],
            "probabilities": [float(v) for v in iso.y_thresholds_],
        }
    return out


MAX_LEAVE_OUT_RECORDS = 4000  # records identified again per rank left out (whole taxa, seeded)


def fit_distance_calibration(
    reference,
    spec,
    heads: dict[str, torch.Tensor],
    embeddings: torch.Tensor,
    selection: dict,
    max_records: int | None = MAX_LEAVE_OUT_RECORDS,
    seed: int = 0,
) -> dict:
    """What ``identification.json`` stores of the calibration far from the references, fitted on
    the ``selection`` records (``{"sequence", rank..., "novel"}``; ``heads`` and ``embeddings``:
    the network's on them) and on the same records with their taxa left out at each rank:
    ``distance_calibration`` (:func:`choose_distance_calibration`; None where no rank kept one),
    its report ``distance_calibration_selection``, and ``index_vote_weight``
    (:func:`choose_index_vote_weight`)."""
    from ..models.taxonomy_spec import is_missing_label
    from .reference_vote import encode_labels

    ranks = list(spec.ranks)
    truth = encode_labels(spec, ranks, selection)
    labelled = {r: np.array([not is_missing_label(v) for v in selection[r]]) for r in ranks}
    novel = np.asarray(selection["novel"], dtype=bool)
    rows = calibration_rows(
        reference, spec, heads, embeddings, list(selection["sequence"]), truth, labelled, novel, max_records, seed
    )
    fit, report = choose_distance_calibration(rows, seed)
    return {
        "distance_calibration": None if fit is None else fit.to_info(),
        "distance_calibration_selection": report,
        "index_vote_weight": choose_index_vote_weight(rows),
    }
