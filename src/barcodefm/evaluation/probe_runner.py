"""`barcodefm probe`: the published probes of a saved model on a user's labelled barcode file.

Embeds each split once (``model.embed_sequences``, the model's pooling unless overridden) and
runs, as asked:
- ``linear``: linear probe, fit on ``train_split``, scored on ``test_split`` (species);
- ``knn``: 1-NN, reference = ``train_split``, queries = ``query_split`` (genus: unseen species);
- ``zsc``: zero-shot clustering of ``test_split`` + ``query_split`` (species or BIN), AMI x 100,
  and the harmonic mean with the 1-NN accuracy when both ran;
- ``perplexity``: next-token perplexity on ``query_split`` (causal LMs only).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .clustering import zero_shot_clustering
from .knn import knn_probe
from .linear_probe import linear_probe
from .metrics import harmonic_mean

logger = logging.getLogger(__name__)

PROBES = ("linear", "knn", "zsc", "perplexity")


def _split(dataset, name: str):
    if "split" not in dataset.column_names:
        raise ValueError("the data has no 'split' column: make one with `barcodefm split`")
    subset = dataset.filter(lambda s: s == name, input_columns="split")
    if len(subset) == 0:
        raise ValueError(f"no records in split {name!r}; splits present: {sorted(set(dataset['split']))}")
    return subset


def run_probes(
    model_dir: str | Path,
    data: str | Path,
    probes=("linear", "knn", "zsc"),
    train_split: str = "train",
    test_split: str = "test",
    query_split: str = "unseen_query",
    species_column: str = "species",
    genus_column: str = "genus",
    cluster_column: str | None = None,
    pooling: str | None = None,
    batch_size: int = 64,
    max_records: int | None = None,
    linear_method: str = "sgd",
    seed: int = 0,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """The asked probes of the model in ``model_dir`` (see the module docstring).
    ``trust_remote_code`` lets a folder that is not a barcodefm model run its own code."""
    import torch

    from ..data import load_barcodes
    from ..factory import load_model, load_tokenizer

    unknown = set(probes) - set(PROBES)
    if unknown:
        raise ValueError(f"unknown probe(s) {sorted(unknown)}; choose from {PROBES} or 'all'")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    model = load_model(model_dir, "AutoModel", trust_remote_code=trust_remote_code).to(device).eval()
    dataset = load_barcodes(data)
    cache: dict[str, tuple[np.ndarray, object]] = {}

    def embedded(split):
        if split not in cache:
            subset = _split(dataset, split)
            if max_records and len(subset) > max_records:
                subset = subset.shuffle(seed=seed).select(range(max_records))
            emb = model.embed_sequences(
                subset["sequence"], tokenizer, batch_size=batch_size, pooling=pooling, progress=True
            ).numpy()
            cache[split] = (emb, subset)
        return cache[split]

    results = {"model": str(model_dir), "data": str(data), "pooling": pooling or model.config.pooling}
    if "linear" in probes:
        (tr, trs), (te, tes) = embedded(train_split), embedded(test_split)
        results["linear"] = linear_probe(
            tr, trs[species_column], te, tes[species_column], method=linear_method, seed=seed
        )
        results["linear"].update(train=train_split, test=test_split, target=species_column, method=linear_method)
    if "knn" in probes:
        (tr, trs), (q, qs) = embedded(train_split), embedded(query_split)
        results["knn"] = knn_probe(tr, trs[genus_column], q, qs[genus_column], progress=False)
        results["knn"].update(reference=train_split, queries=query_split, target=genus_column)
    if "zsc" in probes:
        (te, tes), (q, qs) = embedded(test_split), embedded(query_split)
        column = cluster_column or species_column
        labels = list(tes[column]) + list(qs[column])
        results["zsc"] = zero_shot_clustering(np.concatenate([te, q]), labels, random_state=seed)
        results["zsc"].update(splits=[test_split, query_split], target=column)
        if "knn" in results:
            results["harmonic_mean"] = harmonic_mean(results["knn"]["accuracy"], results["zsc"]["ami"])
    if "perplexity" in probes:
        from ..factory import load_model as _load
        from .lm_perplexity import sequence_perplexity

        lm = _load(model_dir, "AutoModelForCausalLM", trust_remote_code=trust_remote_code).to(device)
        subset = _split(dataset, query_split)
        if max_records and len(subset) > max_records:
            subset = subset.shuffle(seed=seed).select(range(max_records))
        results["perplexity"] = sequence_perplexity(lm, tokenizer, subset["sequence"], batch_size=batch_size)
        results["perplexity"]["split"] = query_split
    return results


def write_results(results: dict, output: str | Path) -> None:
    Path(output).write_text(json.dumps(results, indent=1, default=float))
