"""The lowest rank's call probability given novelty (inference/call_confidence.py): it never changes
the call, it is fitted where it lowers the held-out calibration error, and identify applies it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from barcodefm.evaluation.metrics import expected_calibration_error
from barcodefm.inference.call_confidence import (
    MIN_RECORDS,
    CallConfidence,
    choose_call_confidence,
    with_call_probability,
)


def test_setting_the_call_probability_keeps_the_call_and_a_distribution():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(500, 7, generator=gen) * 3, dim=1)
    probs[0] = torch.tensor([0, 0, 1.0, 0, 0, 0, 0])  # one-hot: the rest is spread evenly
    probs[1] = torch.tensor([0.4, 0.4, 0.2, 0, 0, 0, 0])  # a tie: argmax's choice is kept
    probs[2] = 0.0  # no distribution at all: left alone
    q = torch.rand(500, generator=gen)
    out = with_call_probability(probs, q)
    assert torch.equal(out.argmax(dim=1), probs.argmax(dim=1))
    assert torch.allclose(out[3:].sum(dim=1), torch.ones(497), atol=1e-5)
    assert torch.equal(out[2], probs[2])
    assert torch.allclose(out[0], torch.tensor([(1 - q[0]) / 6] * 2 + [q[0]] + [(1 - q[0]) / 6] * 4), atol=1e-6) or (
        q[0] < 1 / 7  # too low to keep the call: raised to just above 1/7
    )
    # Where q leaves room, the call says exactly q and the others keep their proportions.
    p2 = probs.topk(2, dim=1).values[:, 1]
    free = (q > p2 / (1 - probs.max(dim=1).values + p2) + 1e-4) & (probs.max(dim=1).values < 1 - 1e-4)
    free[:3] = False
    rows = free.nonzero()[:, 0]
    assert len(rows) > 100
    assert torch.allclose(out[rows].max(dim=1).values, q[rows], atol=1e-6)
    others = probs[rows].clone()
    others[torch.arange(len(rows)), probs[rows].argmax(dim=1)] = 0
    scaled = out[rows].clone()
    scaled[torch.arange(len(rows)), probs[rows].argmax(dim=1)] = 0
    assert torch.allclose(scaled, others * ((1 - q[rows]) / others.sum(dim=1))[:, None], atol=1e-5)


def _records(n=1500, seed=0):
    """Calls whose probability ignores novelty: a novel-looking barcode is right far less often."""
    rng = np.random.default_rng(seed)
    novelty = rng.uniform(0, 1, n)
    p = rng.uniform(0.6, 1.0, n)
    right = rng.uniform(0, 1, n) < p * (1 - novelty) ** 2
    return p, right, novelty


def test_the_fit_lowers_the_held_out_error_where_novelty_explains_the_mistakes():
    p, right, novelty = _records()
    fit, report = choose_call_confidence(p, right, novelty)
    assert fit is not None and all(w >= 0 for w in fit.weights) and fit.weights[1] > 0
    assert report["ece_after_cv"] < report["ece_before"] / 2
    # On fresh records of the same kind the fitted probability is calibrated, the raw one is not.
    p2, right2, novelty2 = _records(seed=1)
    assert expected_calibration_error(fit.probability(p2, novelty2), right2) < 0.05
    assert expected_calibration_error(p2, right2) > 0.2
    assert CallConfidence.from_info(fit.to_info()) == fit and CallConfidence.from_info(None) is None


def test_too_few_records_or_too_few_mistakes_keep_the_probability():
    p, right, novelty = _records()
    assert choose_call_confidence(p[: MIN_RECORDS - 1], right[: MIN_RECORDS - 1], novelty[: MIN_RECORDS - 1])[0] is None
    assert choose_call_confidence(p, np.ones_like(right), novelty)[0] is None


def test_identify_applies_it_to_the_lowest_rank_only():
    from barcodefm.inference.reference_vote import ReferenceSet

    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(20, 8, generator=gen), dim=1)
    labels = {"genus": torch.arange(20) % 3, "species": torch.arange(20) % 6}
    ref = ReferenceSet(emb, labels, k=3, rules={"genus": "head+reference", "species": "head+reference"})
    heads = {
        "genus": torch.softmax(torch.randn(5, 3, generator=gen), 1),
        "species": torch.softmax(torch.randn(5, 6, generator=gen), 1),
    }
    queries = torch.randn(5, 8, generator=gen)
    plain, evidence = ref.identify(heads, queries, ["ACGT"] * 5)
    ref.call_confidence = CallConfidence((0.5, 1.0), -0.2)
    adjusted, again = ref.identify(heads, queries, ["ACGT"] * 5)
    assert torch.equal(adjusted["genus"], plain["genus"])
    expected = ref.call_confidence.apply(plain["species"], ref.novelty(evidence))
    assert torch.allclose(adjusted["species"], expected)
    assert torch.equal(adjusted["species"].argmax(dim=1), plain["species"].argmax(dim=1))
    assert np.array_equal(again["call"], evidence["call"])  # the evidence is that of the call before
    assert not torch.allclose(adjusted["species"], plain["species"])


@pytest.mark.parametrize("q", [0.0, 1.0])
def test_extreme_probabilities_stay_inside_zero_and_one(q):
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    out = with_call_probability(probs, torch.full((2,), q))
    assert ((out >= 0) & (out <= 1)).all()
    assert torch.equal(out.argmax(dim=1), probs.argmax(dim=1))
