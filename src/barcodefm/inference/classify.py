"""``barcodefm classify``: a taxonomy table from a FASTA/TSV with a saved BarcodeMamba+ model.

Columns: ``id``; per rank ``<rank>`` and ``<rank>_prob``; ``consistent`` (every predicted child
belongs to the predicted parent); ``novelty`` (cosine distance to the nearest training
reference) and ``likely_novel`` when the model folder carries a novelty reference. With
``min_prob`` the assignment stops at the first rank below it (SINTAX-style): those cells are
empty rather than a guess. Rows are written and flushed batch by batch; ``resume=True`` keeps an
existing output and skips the ids already in it.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import iter_barcodes
from ..taxonomy import predict
from .batching import iter_batches
from .novelty import NOVELTY_FILE, load_novelty_reference, nearest_distance
from .reference_vote import ReferenceSet, as_logits, heads_and_embeddings

logger = logging.getLogger(__name__)


def _done_ids(path: Path) -> set[str]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    # A kill can leave a half-written last line: keep only complete rows.
    width = len(rows[0]) if rows else 0
    complete = [r for r in rows[1:] if len(r) == width]
    if len(complete) != len(rows) - 1:
        with open(path, "w", newline="") as f:
            csv.writer(f, delimiter="\t", lineterminator="\n").writerows([rows[0]] + complete)
    return {r[0] for r in complete}


def trained_max_length(model_dir: str | Path) -> int | None:
    """The ``--max-length`` (bases) the model in ``model_dir`` was fine-tuned with: from the run's
    ``run_options.json`` (a ``barcodefm finetune`` folder) or ``identification.json`` (a released
    or bundled identifier); None otherwise."""
    for name in ("run_options.json", "identification.json"):
        path = Path(model_dir) / name
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                value = json.load(f).get("max_length")
            if value:
                return int(value)
    return None

def classify_file(
    model_dir: str | Path,
    input_path: str | Path,
    output: str | Path,
    batch_size: int = 64,
    min_prob: float | None = None,
    resume: bool = False,
    device: str | None = None,
    format: str = "auto",
    marker: str | None = "COI-5P",
    rejects_path: str | Path | None = None,
    max_length: int | None = None,
) -> dict:
    """Classify every barcode of ``input_path`` into ``output`` (TSV, flushed per batch).

    Barcodes are cut to ``max_length`` bases; by default to the run's ``--max-length`` (from
    ``run_options.json`` in ``model_dir``), as in fine-tuning and in the novelty reference.
    """
    from ..factory import load_model, load_tokenizer

    if not Path(input_path).exists():  # before the model loads: a typo should fail at once
        raise FileNotFoundError(f"barcode file not found: {input_path}")
    max_length = trained_max_length(model_dir) if max_length is None else max_length
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 base, got {max_length}")
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, "AutoModel").eval()
    if not hasattr(model, "predict_taxonomy"):
        raise ValueError(f"{model_dir} holds a {type(model).__name__}, not a taxonomic classifier "
                         "(train one with `barcodefm finetune --task taxonomy`)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    spec = model.taxonomy.spec
    reference = ReferenceSet.load(model_dir)  # heads + nearest training references, rule per rank
    if reference is not None and (Path(model_dir) / NOVELTY_FILE).is_file():
        # The same embeddings: read only the threshold, not the embeddings file a second time.
        novelty = (reference.embeddings, json.loads((Path(model_dir) / NOVELTY_FILE).read_text()))
    elif reference is None:
        novelty = load_novelty_reference(model_dir)
    else:
        novelty = None
    if reference is not None:
        logger.info("identification: %s (k=%d nearest of %d training barcodes)",
                    ", ".join(f"{r} {rule}" for r, rule in reference.rules.items()), reference.k,
                    reference.embeddings.shape[0])
    if novelty is None:
        logger.warning("%s has no novelty reference: the novelty columns are left out", model_dir)
    columns = ["id"] + [c for r in spec.ranks for c in (r, f"{r}_prob")] + ["consistent"]
    if novelty is not None:
        columns += ["novelty", "likely_novel"]
    output = Path(output)
    done = set()
    if output.exists() and resume:
        done = _done_ids(output)
        logger.info("resuming: %d records already classified", len(done))
    elif output.exists():
        raise ValueError(f"{output} exists: pass --resume to continue it, or choose another output")
    reader = iter_barcodes(input_path, format=format, marker=marker, rejects_path=rejects_path)
    progress = tqdm(desc="classifying", unit=" seq", disable=None)
    n_new = n_cut = 0
    with open(output, "a", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        if not done:
            writer.writerow(columns)
        for batch in iter_batches(reader, batch_size, skip_ids=done):
            sequences = [r["sequence"] for r in batch]
            if max_length is not None:
                n_cut += sum(len(seq) > max_length for seq in sequences)
                sequences = [seq[:max_length] for seq in sequences]
            enc = tokenizer(sequences, padding=True, return_tensors="pt").to(device)
            with torch.no_grad():
                if reference is not None:
                    probs, emb = heads_and_embeddings(model, enc["input_ids"], enc["attention_mask"])
                    sims, idx = reference.neighbours(emb)
                    vote = reference.distributions(sims, idx, {r: p.shape[1] for r, p in probs.items()})
                    preds = predict(as_logits(reference.combine(probs, vote)), spec, min_prob=min_prob)
                    dist = (1.0 - sims[:, 0]).numpy()  # the novelty reference holds the same embeddings
                else:
                    out = model(**enc)
                    preds = model.predict_from_logits(out.logits, min_prob=min_prob)
                    if novelty is not None:
                        emb = model.embed(enc["input_ids"], enc["attention_mask"], pooling=novelty[1].get("pooling"))
                        dist = nearest_distance(emb.float().cpu(), novelty[0])
            for i, (record, pred) in enumerate(zip(batch, preds)):
                row = [record["id"]]
                for rank in spec.ranks:
                    label = pred["labels"][rank]
                    row += [label or "", "" if label is None else f"{pred['probs'][rank]:.4f}"]
                row.append(str(pred["consistent"]).lower())
                if novelty is not None:
                    row += [f"{max(float(dist[i]), 0.0):.4f}", str(bool(dist[i] > novelty[1]["threshold"])).lower()]
                writer.writerow(row)
            f.flush()  # an interrupted run keeps every finished batch
            n_new += len(batch)
            progress.update(len(batch))
    progress.close()
    if reader.rejects.total:
        logger.warning("skipped %s", reader.rejects.summary())
    if n_cut:
        logger.info("%d barcode(s) longer than %d bases were cut to their first %d bases, as in training",
                    n_cut, max_length, max_length)
    return {"classified": n_new + len(done), "new": n_new, "cut_to_max_length": n_cut, "max_length": max_length,
            "skipped_records": reader.rejects.total,
            "rejects": reader.rejects.summary() if reader.rejects.total else ""}
