"""Classic baselines (BLAST, VSEARCH, SINTAX, k-mer 1-NN) on a small real COI subset.

300 references (5 train barcodes of 60 species), 100 seen-species test queries and 50
unseen-species queries whose genus has references, from the cap20 table. SPEC 8 measured on the
full cap20 splits: seen species 98.9-99.4% for all four; unseen -> genus BLAST 88.7, VSEARCH
84.8, 6-mer 81.4, SINTAX 36.6 (it abstains below the 0.8 cutoff). With 300 references the
unseen task is harder (most genera have one species here), so its bounds are looser.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from barcodefm.evaluation.baselines import (
    MissingExecutableError,
    blast_top_hits,
    kmer_top_hits,
    sintax_classify,
    sintax_headers,
    strip_seqid_prefix,
    vsearch_top_hits,
)
from barcodefm.models.dna import InvalidSequenceError

needs_blast = pytest.mark.skipif(
    shutil.which("blastn") is None or shutil.which("makeblastdb") is None,
    reason="BLAST+ not installed (apt-get install ncbi-blast+)",
)
needs_vsearch = pytest.mark.skipif(
    shutil.which("vsearch") is None, reason="VSEARCH not installed (apt-get install vsearch)"
)

RANKS = ["order", "family", "genus", "species"]


@pytest.fixture(scope="module")
def coi_subset(coi_cap20_table):
    table = coi_cap20_table.sort_values("processid")
    train, test, unseen = (table[table["split"] == s] for s in ("train", "test", "unseen_query"))
    n_train = train["species"].value_counts()
    eligible = sorted(set(n_train[n_train >= 5].index) & set(test["species"]))
    species = eligible[:: len(eligible) // 60][:60]
    references = train[train["species"].isin(species)].groupby("species").head(5)
    seen = test[test["species"].isin(species)].groupby("species").head(2).head(100)
    unseen = unseen[unseen["genus"].isin(set(references["genus"]))].groupby("species").head(1).head(50)
    assert (len(references), len(seen), len(unseen)) == (300, 100, 50)
    assert not set(unseen["species"]) & set(references["species"])
    return references, seen, unseen


def _accuracy(predicted, truth) -> float:
    return 100.0 * float(np.mean([p == t for p, t in zip(predicted, truth)]))


def _top_hit_accuracy(method, references, queries, rank):
    result = method(
        references["dna"].tolist(),
        queries["dna"].tolist(),
        reference_ids=references["processid"].tolist(),
        query_ids=queries["processid"].tolist(),
        reference_labels=references[rank].tolist(),
    )
    assert result.query_ids == queries["processid"].tolist()
    assert result.search_seconds > 0 and result.ms_per_query > 0
    return _accuracy(result.predicted_labels, queries[rank]), result


TOP_HIT_METHODS = [
    pytest.param(blast_top_hits, marks=needs_blast, id="blast"),
    pytest.param(vsearch_top_hits, marks=needs_vsearch, id="vsearch"),
    pytest.param(kmer_top_hits, id="6mer"),
]


@pytest.mark.shared_data
@pytest.mark.parametrize("method", TOP_HIT_METHODS)
def test_top_hit_baselines_on_real_coi(method, coi_subset):
    references, seen, unseen = coi_subset
    seen_accuracy, seen_result = _top_hit_accuracy(method, references, seen, "species")
    assert seen_accuracy >= 97.0
    hit_ids = set(references["processid"])
    assert all(hit in hit_ids for hit in seen_result.hit_ids)
    unseen_accuracy, _ = _top_hit_accuracy(method, references, unseen, "genus")
    assert unseen_accuracy >= 55.0


@pytest.mark.shared_data
@needs_vsearch
def test_sintax_on_real_coi_is_confident_on_seen_and_abstains_on_unseen(coi_subset):
    references, seen, unseen = coi_subset
    taxonomy = references[RANKS]
    on_seen = sintax_classify(references["dna"].tolist(), taxonomy, seen["dna"].tolist())
    assert _accuracy(on_seen.predictions["species"], seen["species"]) >= 97.0  # names with spaces survive
    on_unseen = sintax_classify(
        references["dna"].tolist(), taxonomy, unseen["dna"].tolist(), query_ids=unseen["processid"].tolist()
    )
    assert on_unseen.query_ids == unseen["processid"].tolist()
    confidences = [c for c in on_unseen.confidences["genus"] if c is not None]
    assert confidences and all(0.0 <= c <= 1.0 for c in confidences)
    # Below the 0.8 cutoff SINTAX abstains: fewer genus calls than its best guesses.
    at_cutoff = _accuracy(on_unseen.predictions["genus"], unseen["genus"])
    best_guess = _accuracy(on_unseen.best["genus"], unseen["genus"])
    assert at_cutoff < best_guess and at_cutoff <= 50.0
    for label, confidence in zip(on_unseen.predictions["genus"], on_unseen.confidences["genus"]):
        assert label is None or confidence >= 0.8
    # Reproducible with the fixed seed and one thread.
    again = sintax_classify(references["dna"].tolist(), taxonomy, unseen["dna"].tolist())
    assert again.confidences == on_unseen.confidences and again.predictions == on_unseen.predictions


@pytest.mark.shared_data
@needs_vsearch
def test_vsearch_returns_the_best_identity_not_the_first_accepted(coi_subset):
    references, _, unseen = coi_subset
    args = (references["dna"].tolist(), unseen["dna"].tolist())
    first_accepted = vsearch_top_hits(*args, maxaccepts=1, maxrejects=32)  # VSEARCH's own default
    best = vsearch_top_hits(*args)
    assert np.all(best.identities >= first_accepted.identities)
    assert np.sum(best.identities > first_accepted.identities) >= 5


def _weird_ids_case(coi_cap20_table):
    # One barcode per species: no two references tie as a query's best hit.
    rows = coi_cap20_table.drop_duplicates("species").head(20)
    reference_ids = [f"ref {i} |gb|r1698{i}|;tax=x:{i}" for i in range(20)]
    queries = rows["dna"].tolist()[5:10]
    query_ids = [f"query {i};size=3 |x" for i in range(5)]
    return rows["dna"].tolist(), reference_ids, queries, query_ids


@pytest.mark.shared_data
@pytest.mark.parametrize("method", TOP_HIT_METHODS)
def test_ids_with_spaces_and_pipes_round_trip(method, coi_cap20_table):
    references, reference_ids, queries, query_ids = _weird_ids_case(coi_cap20_table)
    result = method(references, queries, reference_ids=reference_ids, query_ids=query_ids)
    assert result.query_ids == query_ids
    assert result.hit_ids == reference_ids[5:10]  # each query is an exact copy of a reference
    assert result.hit_indices.tolist() == [5, 6, 7, 8, 9]


def test_strip_seqid_prefix():
    assert strip_seqid_prefix("gb|r16984|") == "r16984"
    assert strip_seqid_prefix("lcl|q3") == "q3"
    assert strip_seqid_prefix("r16984") == "r16984"


def test_sintax_headers_from_rank_columns():
    taxonomy = {
        "species": ["Abax parallelepipedus", "Elsino\ufffd ampelina", None],
        "genus": ["Abax", "Elsino\ufffd", "Culex"],
        "order": ["Coleoptera", "Myriangiales", ""],
    }
    headers = sintax_headers(taxonomy)
    # Top-down order, missing ranks left out, names made safe for VSEARCH (no spaces, ASCII).
    assert headers[0] == ";tax=o:Coleoptera,g:Abax,s:Abax_parallelepipedus;"
    assert headers[1] == ";tax=o:Myriangiales,g:Elsino_,s:Elsino__ampelina;"
    assert headers[2] == ";tax=g:Culex;"
    with pytest.raises(ValueError, match="SINTAX cannot use rank 'subfamily'"):
        sintax_headers({"subfamily": ["Harpalinae"]})


@pytest.mark.parametrize(
    "method, package",
    [(blast_top_hits, "ncbi-blast+"), (vsearch_top_hits, "vsearch")],
)
def test_missing_executable_names_the_debian_package(method, package, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no aligner anywhere
    with pytest.raises(MissingExecutableError, match=rf"install the Debian package {package}"):
        method(["ACGTACGT"], ["ACGTACGT"])


def test_missing_vsearch_for_sintax(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install vsearch"):
        sintax_classify(["ACGTACGT"], {"genus": ["Abax"]}, ["ACGTACGT"])


def test_bad_sequence_names_its_record():
    with pytest.raises(InvalidSequenceError, match="invalid character 'X' at position 3 in record 'ref b'"):
        kmer_top_hits(["ACGTACGT", "ACXTACGT"], ["ACGTACGT"], reference_ids=["ref a", "ref b"], progress=False)


@needs_vsearch
def test_a_failing_tool_reports_its_own_error():
    with pytest.raises(RuntimeError, match="vsearch failed with exit code 1: .*--strand must be plus or both"):
        vsearch_top_hits(["ACGTACGTAC"], ["ACGTACGTAC"], strand="sideways")
