"""Identification from the heads AND the nearest training references (TaxoTagger-style).

A BarcodeMamba+ model has two ways to name a barcode at each rank: its rank head (a softmax over
the training labels), and a vote of the training barcodes nearest to it in the model's own
embedding space (the pooled feature the heads read). The vote is what alignment tools do in
sequence space; it is strong for species with few training records, where a head is weak. The
rule per rank ("head", "reference" or "mix" = the mean of both distributions) is chosen on
validation data when the reference is built, and stored with the model.

Files in the model folder (written by :func:`build_reference_set`):
- ``novelty_reference.safetensors``: ``embeddings`` (float16, one row per distinct training
  barcode; also the novelty reference of :mod:`.novelty`);
- ``reference_labels.safetensors``: ``labels.<rank>`` (int32 index into ``config.taxonomy``'s
  label list of that rank, -1 where the record's label is unknown);
- ``identification.json``: the vote's ``k`` and ``temperature``, the rule per rank and the
  validation accuracies it was chosen on.

The vote over the ``k`` most similar references weighs each by ``exp((s - s_best) / temperature)``
(``s`` = cosine similarity): a low temperature is nearly the 1-nearest-neighbour call, a higher
one spreads probability when neighbours disagree.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)

LABELS_FILE = "reference_labels.safetensors"
RULES_FILE = "identification.json"
RULES = ("head", "reference", "mix")
DEFAULT_K = 10
TEMPERATURES = (0.002, 0.01, 0.05)


@dataclass
class ReferenceSet:
    embeddings: torch.Tensor  # (n, d) float32, rows L2-normalised
    labels: dict[str, torch.Tensor]  # rank -> (n,) int64 spec indices, -1 unknown
    k: int = DEFAULT_K
    temperature: float = 0.01
    rules: dict[str, str] | None = None  # rank -> rule; None = heads only

    @classmethod
    def load(cls, model_dir: str | Path) -> "ReferenceSet | None":
        from safetensors.torch import load_file

        from .novelty import REFERENCE_FILE

        model_dir = Path(model_dir)
        paths = [model_dir / name for name in (REFERENCE_FILE, LABELS_FILE, RULES_FILE)]
        if not all(p.is_file() for p in paths):
            return None
        settings = json.loads(paths[2].read_text())
        embeddings = load_file(str(paths[0]))["embeddings"].float()
        labels = {name.split(".", 1)[1]: t.long() for name, t in load_file(str(paths[1])).items()}
        return cls(torch.nn.functional.normalize(embeddings, dim=1), labels, int(settings["k"]),
                   float(settings["temperature"]), dict(settings["rules"]))

    def neighbours(self, queries: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(cosine similarities, indices), each (batch, k), most similar first (blocked: memory does
        not grow with the number of references)."""
        from ..evaluation.knn import nearest_neighbors

        k = min(k or self.k, self.embeddings.shape[0])
        idx, sims = nearest_neighbors(queries.float(), self.embeddings, k=k, progress=False)
        return torch.from_numpy(sims), torch.from_numpy(idx)

    def distributions(self, sims: torch.Tensor, idx: torch.Tensor, num_classes: dict[str, int],
                      temperature: float | None = None) -> dict[str, torch.Tensor]:
        """Per rank, the similarity-weighted vote of the neighbours as (batch, C_rank) probabilities
        (all zero for a query whose neighbours all lack a label at that rank)."""
        t = temperature or self.temperature
        weights = torch.exp((sims - sims[:, :1]) / t)
        out = {}
        for rank, n_classes in num_classes.items():
            labels = self.labels[rank][idx]  # (batch, k)
            known = labels >= 0
            w = weights * known
            dist = torch.zeros(labels.shape[0], n_classes)
            dist.scatter_add_(1, labels.clamp(min=0), w)
            total = dist.sum(dim=1, keepdim=True)
            out[rank] = torch.where(total > 0, dist / total.clamp(min=1e-12), dist)
        return out

    def combine(self, head_probs: dict[str, torch.Tensor], vote: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The per-rank distribution of each rank's rule."""
        return {rank: combine_rule((self.rules or {}).get(rank, "head"), head_probs[rank], vote[rank])
                for rank in head_probs}


def combine_rule(rule: str, head: torch.Tensor, vote: torch.Tensor) -> torch.Tensor:
    no_vote = vote.sum(dim=1, keepdim=True) == 0  # no labelled neighbour: the head decides
    if rule == "head":
        return head
    if rule == "reference":
        return torch.where(no_vote, head, vote)
    if rule == "mix":
        return torch.where(no_vote, head, 0.5 * (head + vote))
    raise ValueError(f"unknown identification rule {rule!r}: one of {RULES}")


@torch.no_grad()
def heads_and_embeddings(model, input_ids, attention_mask) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One backbone pass: per-rank head probabilities and the pooled embedding the heads read."""
    pooled = model.embed(input_ids, attention_mask)
    logits = model.taxonomy(pooled)
    return {rank: torch.softmax(x.float(), dim=-1).cpu() for rank, x in logits.items()}, pooled.float().cpu()


def as_logits(probs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Probabilities as logits for :func:`barcodefm.taxonomy.predict` (softmax(log p) = p)."""
    return [torch.log(p.clamp(min=1e-12)) for p in probs.values()]


def encode_labels(spec, ranks: Sequence[str], rows: dict[str, Sequence]) -> dict[str, np.ndarray]:
    """Spec indices of each record's label per rank (-1: unknown or not in the spec)."""
    return {rank: np.array([-1 if (i := spec.index(rank, v)) is None else i for v in rows[rank]], dtype=np.int64)
            for rank in ranks}


@torch.no_grad()
def run_model(model, tokenizer, sequences: Sequence[str], batch_size: int = 64, progress: bool = True):
    """(head probabilities per rank, embeddings) of raw sequences, in order."""
    from tqdm.auto import tqdm

    heads, embs = [], []
    for start in tqdm(range(0, len(sequences), batch_size), desc="embedding", unit="batch", disable=not progress):
        enc = tokenizer(list(sequences[start:start + batch_size]), padding=True, return_tensors="pt")
        enc = {k: v.to(model.device) for k, v in enc.items()}
        probs, emb = heads_and_embeddings(model, enc["input_ids"], enc["attention_mask"])
        heads.append(probs)
        embs.append(emb)
    ranks = heads[0].keys() if heads else []
    return {r: torch.cat([h[r] for h in heads]) for r in ranks}, (torch.cat(embs) if embs else torch.empty(0))


def choose_rules(reference: ReferenceSet, head_probs, embeddings, truth: dict[str, np.ndarray]) -> dict:
    """Per rank, the (rule, temperature) with the best accuracy on the selection records whose
    label at that rank is known to the model (ties: the simpler rule, head < reference < mix)."""
    num_classes = {rank: p.shape[1] for rank, p in head_probs.items()}
    sims, idx = reference.neighbours(embeddings)
    scores, best = {}, {}
    for t in TEMPERATURES:
        vote = reference.distributions(sims, idx, num_classes, temperature=t)
        for rank in num_classes:
            y = torch.as_tensor(truth[rank])
            known = y >= 0
            for rule in RULES:
                if rule == "head" and t != TEMPERATURES[0]:
                    continue
                pred = combine_rule(rule, head_probs[rank], vote[rank]).argmax(dim=1)
                acc = float((pred[known] == y[known]).float().mean()) if known.any() else 0.0
                scores.setdefault(rank, {})[f"{rule}@{t:g}" if rule != "head" else "head"] = acc
    for rank, by_rule in scores.items():
        best[rank] = max(by_rule, key=lambda name: (round(by_rule[name], 6), -list(by_rule).index(name)))
    return {"scores": scores, "best": best}


def build_reference_set(model, tokenizer, model_dir: str | Path, train: dict[str, Sequence],
                        selection: dict[str, Sequence], batch_size: int = 64, k: int = DEFAULT_K,
                        max_length: int | None = None) -> dict:
    """Embed the distinct training barcodes, store them with their labels, choose each rank's rule
    (and one vote temperature) on ``selection`` records, and write the files into ``model_dir``.

    ``train`` / ``selection``: {"sequence": [...], rank: [...] for every rank of the model};
    ``selection["novel"]``: True for records of species absent from training (they calibrate the
    novelty threshold against the others).
    Training records with the same sequence and labels are stored once (the vote is unchanged:
    duplicates have the same similarity, so they only reinforce their own label).
    """
    from safetensors.torch import save_file

    from .novelty import NOVELTY_FILE, REFERENCE_FILE, calibrate_threshold

    spec = model.taxonomy.spec
    ranks = list(spec.ranks)
    seen, keep = set(), []
    for i, key in enumerate(zip(train["sequence"], *(train[r] for r in ranks))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    sequences = [train["sequence"][i] for i in keep]
    labels = encode_labels(spec, ranks, {r: [train[r][i] for i in keep] for r in ranks})
    logger.info("reference: %d distinct training barcodes of %d", len(keep), len(train["sequence"]))
    _, embeddings = run_model(model, tokenizer, sequences, batch_size)
    embeddings = embeddings.half().float()  # stored in float16: choose the rules on what is stored
    reference = ReferenceSet(torch.nn.functional.normalize(embeddings, dim=1),
                             {r: torch.as_tensor(v) for r, v in labels.items()}, k=k)
    sel_heads, sel_emb = run_model(model, tokenizer, list(selection["sequence"]), batch_size)
    truth = encode_labels(spec, ranks, selection)
    choice = choose_rules(reference, sel_heads, sel_emb, truth)
    temperatures = [float(name.split("@")[1]) for name in choice["best"].values() if "@" in name]
    # One temperature for all ranks: the most common among the ranks' best rules.
    temperature = max(set(temperatures), key=temperatures.count) if temperatures else TEMPERATURES[1]
    rules = {rank: name.split("@")[0] for rank, name in choice["best"].items()}
    model_dir = Path(model_dir)
    save_file({"embeddings": embeddings.half().contiguous()}, str(model_dir / REFERENCE_FILE))
    save_file({f"labels.{r}": torch.as_tensor(v, dtype=torch.int32) for r, v in labels.items()},
              str(model_dir / LABELS_FILE))
    settings = {"k": k, "temperature": temperature, "rules": rules, "selection_accuracy": choice["scores"],
                "n_references": len(keep), "n_training_records": len(train["sequence"]),
                "n_selection_records": len(selection["sequence"]),
                "pooling": getattr(model.config, "pooling", "mean"),
                "max_length": max_length}  # bases the sequences were cut to (classify does the same)
    (model_dir / RULES_FILE).write_text(json.dumps(settings, indent=1))
    # Novelty: distance to the nearest stored reference, calibrated on the selection records
    # (seen species = those whose species the model knows, novel = the others).
    sims, _ = reference.neighbours(sel_emb, k=1)
    dist = (1.0 - sims[:, 0]).numpy()
    novel = np.asarray(selection["novel"], dtype=bool)
    info = calibrate_threshold(dist[~novel], dist[novel] if novel.any() else None)
    info.update(n_references=len(keep), n_val_seen=int((~novel).sum()), n_val_novel=int(novel.sum()),
                pooling=settings["pooling"])
    (model_dir / NOVELTY_FILE).write_text(json.dumps(info, indent=1))
    return settings | {"novelty": info}
