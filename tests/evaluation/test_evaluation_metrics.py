"""Per-rank metrics, Trainer compute_metrics, perplexity, harmonic mean, label map."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, matthews_corrcoef

from barcodefm.evaluation.labels import LabelMap, is_known_label
from barcodefm.evaluation.metrics import (
    classification_metrics,
    compute_classification_metrics,
    harmonic_mean,
    per_rank_metrics,
    perplexity,
)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_classification_metrics_score_only_known_truths_and_match_sklearn():
    y_true = ["A", "A", "B", "B", "C", None, "", float("nan"), "C", "A"]
    y_pred = ["A", "B", "B", "B", "C", "A", "A", "A", None, "A"]
    got = classification_metrics(y_true, y_pred)
    assert got["n"] == 7  # None, "" and NaN truths left out

    truths = ["A", "A", "B", "B", "C", "C", "A"]
    preds = ["A", "B", "B", "B", "C", "<none>", "A"]  # the missing prediction is just wrong
    assert got["accuracy"] == pytest.approx(5 / 7)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truths, preds))
    assert got["macro_f1"] == pytest.approx(f1_score(truths, preds, labels=["A", "B", "C"], average="macro"))
    assert got["mcc"] == pytest.approx(matthews_corrcoef(truths, preds))


def test_per_rank_metrics_each_rank_on_its_own_known_labels():
    ranks = {
        "genus": (["Abax", "Abax", "Bombus", "Bombus"], ["Abax", "Abax", "Bombus", "Abax"]),
        # Two records identified only to genus: species scored on the other two.
        "species": (["Abax ater", None, "Bombus terrestris", ""], ["Abax ater", "Abax ater", "Bombus lapidarius", "x"]),
    }
    got = per_rank_metrics(ranks)
    assert got["genus"]["n"] == 4 and got["genus"]["accuracy"] == pytest.approx(0.75)
    assert got["species"]["n"] == 2 and got["species"]["accuracy"] == pytest.approx(0.5)
    assert set(got["genus"]) == {"accuracy", "balanced_accuracy", "macro_f1", "mcc", "n"}
    with pytest.raises(ValueError, match="rank 'genus'.*4 labels but y_pred has 3"):
        per_rank_metrics({"genus": (["a"] * 4, ["a"] * 3)})


def test_no_known_truth_gives_nan_not_a_crash():
    got = classification_metrics([None, ""], ["A", "B"])
    assert got["n"] == 0 and math.isnan(got["accuracy"])


def test_compute_classification_metrics_with_a_trainer_eval_prediction():
    from transformers import EvalPrediction

    logits = np.array(
        [[2.0, 0.1, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0], [0.0, 9.0, 0.0]], dtype=np.float32
    )
    labels = np.array([0, 1, 0, -100, -100])  # the -100 rows are predicted "wrong" on purpose
    got = compute_classification_metrics(EvalPrediction(predictions=(logits, None), label_ids=labels))
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert got["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert set(got) == {"accuracy", "balanced_accuracy", "macro_f1", "mcc"}
    # Already-argmaxed predictions (preprocess_logits_for_metrics) work too.
    assert compute_classification_metrics((logits.argmax(-1), labels)) == got


def test_perplexity_from_summed_nll():
    # A model uniform over A, C, G, T has perplexity 4 whatever the length.
    assert perplexity(1000 * math.log(4), 1000) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="positive token count"):
        perplexity(1.0, 0)


def test_harmonic_mean_reproduces_barcodemae_summary():
    # BarcodeMAE (SPEC 6): 1-NN genus 69.0, ZSC AMI 80.3 -> 74.2.
    assert harmonic_mean(69.0, 80.3) == pytest.approx(74.2, abs=0.05)
    assert harmonic_mean(50.0, -0.4) == 0.0


def test_label_map_encodes_unseen_labels_as_minus_one():
    label_map = LabelMap.fit(["Culex", "Aedes", None, "Culex", float("nan")])
    assert label_map.classes == ["Aedes", "Culex"]
    np.testing.assert_array_equal(label_map.encode(["Culex", "Eristalis", None]), [1, -1, -1])
    assert label_map.decode([0, -1]) == ["Aedes", None]
    assert not is_known_label("  ") and is_known_label(0)
