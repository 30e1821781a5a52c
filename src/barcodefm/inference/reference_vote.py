"""Identification from the heads AND the nearest training references (TaxoTagger-style).

A BarcodeMamba+ identifier has three ways to name a barcode at each rank:
- ``head``: the rank head, a softmax over the training labels;
- ``reference``: a vote of the training barcodes nearest to it in the model's own embedding
  space (the pooled feature the heads read);
- ``kmer``: a vote of the training barcodes nearest to it in sequence space (cosine of k-mer
  counts, :mod:`.kmer_reference`), present when the folder holds the reference sequences;
- ``align``: a vote of the same k-mer candidates re-ranked by alignment identity (the measure of
  BLAST and VSEARCH, :mod:`.alignment`; which identity, relative to the shorter sequence or
  coverage-aware relative to the query, is chosen with the rules and stored as ``align_identity``).
A rule is one of them or the mean of several ("head+kmer", "head+reference+align"; the older
name "mix" is "head+reference"). The rule and the votes' temperatures are chosen per rank on
validation records when the reference is built, and stored with the model: the network is strong
where it was trained (seen species), the sequence-space vote where it was not (a species the
network never saw still shares most 6-mers with its congeners), and their mean is often better
than either (measured per rank in ``identification.json``).

Files in the model folder (written by :func:`build_reference_set`):
- ``novelty_reference.safetensors``: ``embeddings`` (float16, one row per distinct training
  barcode; also the novelty reference of :mod:`.novelty`);
- ``reference_labels.safetensors``: ``labels.<rank>`` (int32 index into ``config.taxonomy``'s
  label list of that rank, -1 where the record's label is unknown);
- ``reference_sequences.fasta.gz``: the same barcodes as sequences (row order shared);
- ``identification.json``: the votes' ``k``, the rule and temperatures per rank and the
  validation accuracies they were chosen on.

A vote over the ``k`` most similar references weighs each by ``exp((s - s_best) / temperature)``
(``s`` = cosine similarity): a low temperature is nearly the 1-nearest-neighbour call, a higher
one spreads probability when neighbours disagree.

Calibration: a mean of distributions is not a calibrated probability (the mean of a confident
head and a vote that agrees is less sure than either, though right as often). Each rank's final
distribution is therefore raised to the power ``1 / T`` and renormalised, with ``T`` chosen on the
selection records to minimise the expected calibration error of the calls (``calibration`` in
``identification.json``; 1 = unchanged). It never changes which label is called, only how sure the
call says it is, and so what ``--min-prob`` keeps. At the lowest rank the call's probability then
also takes the novelty score into account (``call_confidence``, :mod:`.call_confidence`): a sure
vote for the nearest known species is not a sure name when the barcode looks novel.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .alignment import IDENTITY_DEFINITIONS
from .call_confidence import CallConfidence, choose_call_confidence
from .distance_calibration import DistanceCalibration, fit_distance_calibration
from .kmer_reference import ALIGN_CANDIDATES, KMER_SIZES, MAX_VOTE_BASES, K, KmerReference
from .novelty import NOVELTY_FILE, REFERENCE_FILE, NoveltyScore, calibrate_threshold, choose_novelty_score
from .orientation import MARKER_CHECK_KEY, marker_check_info

logger = logging.getLogger(__name__)

LABELS_FILE = "reference_labels.safetensors"
RULES_FILE = "identification.json"
VOTES = ("reference", "kmer", "align")  # the sources that vote among neighbours
SEQUENCE_VOTES = ("kmer", "align")  # ... found through the reference sequences
SOURCES = ("head", *VOTES)
# Every non-empty combination of the sources, simplest first (the tie-break of choose_rules).
RULES = tuple("+".join(c) for n in (1, 2, 3) for c in itertools.combinations(SOURCES, n))
ALIASES = {"mix": "head+reference"}
DEFAULT_K = 10
TEMPERATURES = (0.002, 0.01, 0.05)


@dataclass
class ReferenceSet:
    embeddings: torch.Tensor  # (n, d) float32, rows L2-normalised
    labels: dict[str, torch.Tensor]  # rank -> (n,) int64 spec indices, -1 unknown
    k: int = DEFAULT_K
    temperature: float = 0.01  # of every vote that has no temperature of its own in ``temperatures``
    rules: dict[str, str] | None = None  # rank -> rule; None = heads only
    kmer: KmerReference | None = None  # the same references as sequences (row order shared)
    temperatures: dict[str, dict[str, float]] | None = None  # rank -> {vote: temperature}
    # Bases of each barcode the sequence-space votes read (None: all). Folders built before the
    # votes read whole barcodes stored their sequences cut to the network's length: the same there.
    sequence_max_length: int | None = None
    # The alignment identity the align vote ranks by (alignment.IDENTITY_DEFINITIONS); folders
    # built before the choice existed used "shorter".
    align_identity: str = "shorter"
    calibration: dict[str, float] | None = None  # rank -> T of p ** (1 / T); None or missing: 1
    novelty: NoveltyScore = NoveltyScore()  # from novelty.json (missing: the embedding distance)
    # The lowest rank's call probability given novelty (:mod:`.call_confidence`); None: unchanged.
    call_confidence: CallConfidence | None = None
    # Each rank's call probability given how far its supporting references are
    # (:mod:`.distance_calibration`); None: unchanged.
    distance_calibration: DistanceCalibration | None = None

    @classmethod
    def load(cls, model_dir: str | Path) -> ReferenceSet | None:
        from safetensors.torch import load_file

        model_dir = Path(model_dir)
        paths = [model_dir / name for name in (REFERENCE_FILE, LABELS_FILE, RULES_FILE)]
        if not all(p.is_file() for p in paths):
            return None
        settings = json.loads(paths[2].read_text())
        embeddings = load_file(str(paths[0]))["embeddings"].float()
        labels = {name.split(".", 1)[1]: t.long() for name, t in load_file(str(paths[1])).items()}
        rules = {rank: ALIASES.get(rule, rule) for rank, rule in settings["rules"].items()}
        novelty_file = model_dir / NOVELTY_FILE
        novelty = NoveltyScore.from_info(json.loads(novelty_file.read_text()) if novelty_file.is_file() else None)
        sources = {v for r in rules.values() for v in r.split("+")} | set(novelty.features)
        kmer = None
        if sources & set(SEQUENCE_VOTES):  # a rule or the novelty score reads the reference sequences
            kmer = KmerReference.load(model_dir, int(settings.get("kmer_k", K)))
            if kmer is None:
                raise FileNotFoundError(
                    f"{model_dir}: identification.json or novelty.json uses a sequence-space vote but the folder "
                    "has no reference_sequences.fasta.gz"
                )
            if len(kmer) != embeddings.shape[0]:
                raise ValueError(f"{model_dir}: {len(kmer)} reference sequences but {embeddings.shape[0]} embeddings")
        return cls(
            torch.nn.functional.normalize(embeddings, dim=1),
            labels,
            int(settings["k"]),
            float(settings["temperature"]),
            rules,
            kmer,
            settings.get("temperatures"),
            settings["sequence_max_length"] if "sequence_max_length" in settings else settings.get("max_length"),
            settings.get("align_identity", "shorter"),
            settings.get("calibration"),
            novelty,
            CallConfidence.from_info(settings.get("call_confidence")),
            DistanceCalibration.from_info(settings.get("distance_calibration")),
        )

    def subset(self, keep: np.ndarray) -> ReferenceSet:
        """The same identifier with only the references where ``keep`` is True (its sequences
        recounted): what it would say had the others never been in its reference set."""
        keep_t = torch.as_tensor(np.asarray(keep, dtype=bool))
        kmer = None
        if self.kmer is not None:
            kmer = KmerReference([s for s, k in zip(self.kmer.sequences, keep) if k], self.kmer.k)
            if self.kmer.ids is not None:
                kmer.ids = [i for i, k in zip(self.kmer.ids, keep) if k]
        return dataclasses.replace(
            self,
            embeddings=self.embeddings[keep_t],
            labels={rank: t[keep_t] for rank, t in self.labels.items()},
            kmer=kmer,
        )

    @property
    def vote_bases(self) -> int:
        """Bases of each query the sequence-space votes read: the folder's limit, at most
        :data:`.kmer_reference.MAX_VOTE_BASES`."""
        return min(self.sequence_max_length or MAX_VOTE_BASES, MAX_VOTE_BASES)

    def vote_sequences(self, sequences: Sequence[str]) -> list[str]:
        """``sequences`` as the sequence-space votes read them: at most :attr:`vote_bases` bases each."""
        return [s[: self.vote_bases] for s in sequences]

    def uses(self, source: str) -> bool:
        """Whether any rank's rule reads ``source``."""
        return any(source in rule.split("+") for rule in (self.rules or {}).values())

    def temperature_of(self, rank: str, source: str) -> float:
        return float(((self.temperatures or {}).get(rank) or {}).get(source, self.temperature))

    def identify(
        self,
        head_probs: dict[str, torch.Tensor],
        embeddings: torch.Tensor,
        sequences: Sequence[str],
        found: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
        """(per-rank distributions of each rank's rule, the novelty evidence of each query:
        :func:`novelty_evidence`, what ``self.novelty`` scores). ``embeddings`` are the network's
        (of the barcodes cut to its length); ``sequences`` the whole barcodes; ``found``: their
        neighbours when already searched (:meth:`find`)."""
        num_classes = {rank: p.shape[1] for rank, p in head_probs.items()}
        if found is None:
            found = self.find(embeddings, sequences)
        out = {}
        for rank, probs in head_probs.items():
            rule = (self.rules or {}).get(rank, "head")
            votes = {
                source: self.distributions(
                    *found[source], {rank: num_classes[rank]}, self.temperature_of(rank, source)
                )[rank]
                for source in rule.split("+")
                if source in found
            }
            out[rank] = calibrate(combine_rule(rule, probs, **votes), (self.calibration or {}).get(rank, 1.0))
        lowest = list(head_probs)[-1]
        evidence = novelty_evidence(found, out[lowest])
        if self.call_confidence is not None:
            out[lowest] = self.call_confidence.apply(out[lowest], self.novelty(evidence))
        if self.distance_calibration is not None:
            out = self.distance_calibration.apply(out, found, self.labels)
        return out, evidence

    def find(
        self, embeddings: torch.Tensor, sequences: Sequence[str] | None = None, sources: Sequence[str] | None = None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The neighbours each vote reads: ``{source: (similarities, indices)}``, each (batch, k).
        ``sources``: the votes wanted (default: those a rule or the novelty score uses; the embedding
        vote always); the sequence-space votes need ``sequences``. One k-mer search serves
        both the k-mer vote (its first ``k``) and the alignment vote (its first
        ``ALIGN_CANDIDATES``, re-ranked)."""
        if sources is None:
            sources = [s for s in SEQUENCE_VOTES if self.uses(s) or s in self.novelty.features]
        wanted = set(sources)
        sequences = None if sequences is None else self.vote_sequences(sequences)
        found = {"reference": self.neighbours(embeddings)}
        if self.kmer is None or sequences is None or not wanted & set(SEQUENCE_VOTES):
            return found
        hits = self.kmer.neighbours(sequences, max(self.k, ALIGN_CANDIDATES) if "align" in wanted else self.k)
        if "kmer" in wanted:
            found["kmer"] = (hits[0][:, : self.k], hits[1][:, : self.k])
        if "align" in wanted:
            found["align"] = self.kmer.aligned_neighbours(
                sequences, self.k, definition=self.align_identity, kmer_hits=hits
            )
        return found

    def neighbours(self, queries: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(cosine similarities, indices), each (batch, k), most similar first (blocked: memory does
        not grow with the number of references)."""
        from ..evaluation.knn import nearest_neighbors

        k = min(k or self.k, self.embeddings.shape[0])
        idx, sims = nearest_neighbors(queries.float(), self.embeddings, k=k, progress=False)
        return torch.from_numpy(sims), torch.from_numpy(idx)

    def distributions(
        self, sims: torch.Tensor, idx: torch.Tensor, num_classes: dict[str, int], temperature: float | None = None
    ) -> dict[str, torch.Tensor]:
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


def novelty_evidence(
    found: dict[str, tuple[torch.Tensor, torch.Tensor]], lowest: torch.Tensor
) -> dict[str, np.ndarray]:
    """Per query, how far it lies from the training barcodes (:data:`.novelty.NOVELTY_EVIDENCE`):
    1 - the similarity of the nearest neighbour of each search in ``found``, and 1 - the probability
    of the call in ``lowest`` (the lowest rank's final distribution)."""
    evidence = {
        "embedding" if source == "reference" else source: 1.0 - sims[:, 0].double().numpy()
        for source, (sims, _) in found.items()
    }
    evidence["call"] = 1.0 - lowest.max(dim=1).values.double().numpy()
    return evidence


def combine_rule(
    rule: str,
    head: torch.Tensor,
    reference: torch.Tensor | None = None,
    kmer: torch.Tensor | None = None,
    align: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mean of the distributions ``rule`` names ("head", and the votes "reference", "kmer",
    "align", joined by "+"). A vote whose neighbours carry no label at this rank (an all-zero
    row) is left out of that query's mean; with nothing left, the head decides."""
    rule = ALIASES.get(rule, rule)
    if rule not in RULES:
        raise ValueError(f"unknown identification rule {rule!r}: one of {', '.join(RULES + tuple(ALIASES))}")
    parts = rule.split("+")
    given = {"head": head, "reference": reference, "kmer": kmer, "align": align}
    missing = [p for p in parts if given[p] is None]
    if missing:
        raise ValueError(f"rule {rule!r} needs the {' and '.join(missing)} vote")
    if parts == ["head"]:
        return head
    total = torch.zeros_like(head)
    count = torch.zeros(head.shape[0], 1)
    for part in parts:
        dist = given[part]
        present = (
            (dist.sum(dim=1, keepdim=True) > 0) if part != "head" else torch.ones(head.shape[0], 1, dtype=torch.bool)
        )
        total = total + dist * present
        count = count + present
    return torch.where(count > 0, total / count.clamp(min=1), head)


def calibrate(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``probs ** (1 / temperature)``, rows renormalised (T > 1 softens, T < 1 sharpens; the
    order of the classes in a row, and so the call, never changes)."""
    if temperature == 1.0:
        return probs
    powered = probs.clamp(min=0) ** (1.0 / temperature)
    total = powered.sum(dim=1, keepdim=True)
    return torch.where(total > 0, powered / total.clamp(min=1e-30), probs)


CALIBRATION_TEMPERATURES = tuple(float(t) for t in np.round(np.geomspace(0.25, 4.0, 25), 4))


def group_masks(known: torch.Tensor, groups=None) -> list[torch.Tensor]:
    """One boolean mask per group of records (``groups``: a value per record; None: one group),
    each limited to the ``known`` records; groups without a known record are left out."""
    if groups is None:
        return [known] if bool(known.any()) else []
    group_of = torch.as_tensor(np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1))
    return [m for g in group_of.unique().tolist() if bool((m := known & (group_of == g)).any())]


def choose_calibration(probs: torch.Tensor, truth: np.ndarray, groups=None) -> tuple[float, dict[str, float]]:
    """The temperature of :data:`CALIBRATION_TEMPERATURES` (or 1) whose calibrated calls have the
    lowest expected calibration error on the records with a known label (the mean over ``groups``,
    as in :func:`choose_rules`); ties: nearest to 1. Returns (T, {"before": ece, "after": ece})."""
    from ..evaluation.metrics import expected_calibration_error

    y = np.asarray(truth)
    masks = [m.numpy() for m in group_masks(torch.as_tensor(y >= 0), groups)]
    if not masks:
        return 1.0, {"before": float("nan"), "after": float("nan")}

    def error(t: float) -> float:
        conf, call = calibrate(probs, t).max(dim=1)
        conf, right = conf.numpy(), (call.numpy() == y)
        return float(np.mean([expected_calibration_error(conf[m], right[m]) for m in masks]))

    scores = {t: error(t) for t in (1.0, *CALIBRATION_TEMPERATURES)}
    best = min(scores, key=lambda t: (round(scores[t], 6), abs(np.log(t))))
    return best, {"before": scores[1.0], "after": scores[best]}


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
    return {
        rank: np.array([-1 if (i := spec.index(rank, v)) is None else i for v in rows[rank]], dtype=np.int64)
        for rank in ranks
    }


@torch.no_grad()
def run_model(model, tokenizer, sequences: Sequence[str], batch_size: int = 64, progress: bool = True):
    """(head probabilities per rank, embeddings) of raw sequences, in order."""
    from tqdm.auto import tqdm

    heads, embs = [], []
    for start in tqdm(range(0, len(sequences), batch_size), desc="embedding", unit="batch", disable=not progress):
        enc = tokenizer(list(sequences[start : start + batch_size]), padding=True, return_tensors="pt")
        enc = {k: v.to(model.device) for k, v in enc.items()}
        probs, emb = heads_and_embeddings(model, enc["input_ids"], enc["attention_mask"])
        heads.append(probs)
        embs.append(emb)
    ranks = heads[0].keys() if heads else []
    return {r: torch.cat([h[r] for h in heads]) for r in ranks}, (torch.cat(embs) if embs else torch.empty(0))


def choose_rules(
    reference: ReferenceSet,
    head_probs,
    embeddings,
    truth: dict[str, np.ndarray],
    sequences: Sequence[str] | None = None,
    groups: Sequence | None = None,
    found: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict:
    """Per rank, the rule and vote temperatures with the best accuracy on the selection records
    whose label at that rank is known to the model (ties: the simpler rule, in ``RULES`` order,
    then the lower temperature). The sequence-space votes (k-mer, alignment) are tried when
    ``reference.kmer`` and the selection ``sequences`` are given, or when ``found`` (the
    neighbours of :meth:`ReferenceSet.find`, already searched) holds them.

    ``groups``: one value per selection record (e.g. whether its species is novel); the accuracy
    is then the mean of the groups' accuracies, so a large group (the thousands of novel-species
    records of a rank above species) does not outvote a small one (the seen species).

    Returns ``{"scores": {rank: {name: accuracy}}, "best": {rank: name}}``; a name is the rule
    followed by its temperatures, e.g. ``head+kmer@kmer=0.05`` (see :func:`parse_choice`)."""
    num_classes = {rank: p.shape[1] for rank, p in head_probs.items()}
    if found is None:
        found = reference.find(embeddings, sequences, sources=SEQUENCE_VOTES)
    scores, best = {}, {}
    for rank in num_classes:
        # Per rank only: a vote is one (records, classes) matrix per temperature (species: large).
        votes = {
            source: {
                t: reference.distributions(*hits, {rank: num_classes[rank]}, temperature=t)[rank] for t in TEMPERATURES
            }
            for source, hits in found.items()
        }
        y = torch.as_tensor(truth[rank])
        known = y >= 0
        parts_known = group_masks(known, groups)  # the accuracy is the mean over these
        scores[rank] = {}
        for rule in RULES:
            parts = rule.split("+")
            if any(p != "head" and p not in votes for p in parts):
                continue
            grid = [TEMPERATURES if source in parts else (None,) for source in VOTES]
            for temps in itertools.product(*grid):
                given = {source: votes[source][t] for source, t in zip(VOTES, temps) if t}
                dist = combine_rule(rule, head_probs[rank], **given)
                right = dist.argmax(dim=1) == y
                acc = float(np.mean([float(right[m].float().mean()) for m in parts_known])) if parts_known else 0.0
                names = [f"{src}={t:g}" for src, t in zip(VOTES, temps) if t]
                scores[rank][rule + ("@" + ",".join(names) if names else "")] = acc
        names = list(scores[rank])
        best[rank] = max(names, key=lambda name: (round(scores[rank][name], 6), -names.index(name)))
    return {"scores": scores, "best": best}


def parse_choice(name: str) -> tuple[str, dict[str, float]]:
    """``"head+kmer@kmer=0.05"`` -> ``("head+kmer", {"kmer": 0.05})``."""
    rule, _, temps = name.partition("@")
    return rule, {src: float(t) for src, t in (part.split("=") for part in temps.split(",") if part)}


# Records of species the training never saw (the split design of the shared data): they calibrate
# novelty and score the ranks above species when the rules are chosen.
NOVEL_SPLITS = ("unseen_key",)


def reference_rows(table, ranks: Sequence[str], splits=None) -> dict[str, list]:
    """The ``train``/``selection`` argument of :func:`build_reference_set` from a ``datasets.Dataset``:
    the records of ``splits`` (all records when None), their labels per rank, their whole sequences,
    and ``novel`` (split in :data:`NOVEL_SPLITS`; False without a split column)."""
    split = list(table["split"]) if "split" in table.column_names else [None] * len(table)
    picked = [i for i, s in enumerate(split) if splits is None or s in splits]
    columns = {name: list(table[name]) for name in ("sequence", *ranks)}  # one read per column
    out = {rank: [columns[rank][i] for i in picked] for rank in ranks}
    out["sequence"] = [columns["sequence"][i] for i in picked]
    out["novel"] = [split[i] in NOVEL_SPLITS for i in picked]
    return out


def build_reference_set(
    model,
    tokenizer,
    model_dir: str | Path,
    train: dict[str, Sequence],
    selection: dict[str, Sequence],
    batch_size: int = 64,
    k: int = DEFAULT_K,
    max_length: int | None = None,
    marker: str | None = None,
) -> dict:
    """Embed the distinct training barcodes, store them (embeddings and sequences) with their
    labels, choose each rank's rule and vote temperatures on ``selection`` records, and write the
    files into ``model_dir``.

    The network reads the first ``max_length`` bases of each barcode (what it was trained on); the
    sequence-space votes read the whole barcode, as BLAST and VSEARCH do (full-length ITS runs to
    ~1,000 bases, and 41% of the MycoAI records are longer than the network's 660).

    ``train`` / ``selection``: {"sequence": [...], rank: [...] for every rank of the model};
    ``selection["novel"]``: True for records of species absent from training (they calibrate the
    novelty threshold against the others). ``marker``: the marker's name (e.g. "COI-5P"), recorded
    with the marker check (:mod:`.orientation`).
    Training records with the same sequence and labels are stored once (the vote is unchanged:
    duplicates have the same similarity, so they only reinforce their own label).
    """
    from safetensors.torch import save_file

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
    _, embeddings = run_model(model, tokenizer, [s[:max_length] for s in sequences], batch_size)
    embeddings = embeddings.half().float()  # stored in float16: choose the rules on what is stored
    sel_heads, sel_emb = run_model(model, tokenizer, [s[:max_length] for s in selection["sequence"]], batch_size)
    truth = encode_labels(spec, ranks, selection)
    truth_with_absent = {r: v.copy() for r, v in truth.items()}  # -1: no label, or one training never held
    # Novel records are of species the training never saw: they score the ranks above species only.
    # (A table joined from two sources can give one a species the other trained on; at that rank it
    # is neither a seen-species record nor a novel one.)
    novel = np.asarray(selection["novel"], dtype=bool)
    truth[ranks[-1]] = np.where(novel, -1, truth[ranks[-1]])
    logger.info("choosing the identification rule per rank on %d selection records", len(selection["sequence"]))
    tried = []
    sel_sequences = list(selection["sequence"])
    sel_found = {"reference": None}
    for k_size in KMER_SIZES:  # the k-mer size and alignment identity with the best rules, summed over ranks
        kmer = KmerReference(sequences, k_size)
        reference = ReferenceSet(
            torch.nn.functional.normalize(embeddings, dim=1),
            {r: torch.as_tensor(v) for r, v in labels.items()},
            k=k,
            kmer=kmer,
        )
        if sel_found["reference"] is None:
            sel_found["reference"] = reference.neighbours(sel_emb)
        hits = kmer.neighbours(sel_sequences, max(k, ALIGN_CANDIDATES))
        sel_found["kmer"] = (hits[0][:, :k], hits[1][:, :k])
        candidates = hits[1][:, : max(k, min(ALIGN_CANDIDATES, len(kmer)))]
        distances = kmer.candidate_distances(sel_sequences, candidates)  # shared by both identities
        for definition in IDENTITY_DEFINITIONS:
            sel_found["align"] = kmer.rank_by_identity(sel_sequences, candidates, distances, k, definition)
            choice = choose_rules(reference, sel_heads, sel_emb, truth, groups=novel, found=dict(sel_found))
            total = sum(choice["scores"][rank][name] for rank, name in choice["best"].items())
            logger.info(
                "k-mer vote with k=%d, %r alignment identity: best rules %s", k_size, definition, choice["best"]
            )
            tried.append((round(total, 6), -len(tried), kmer, definition, reference, choice, dict(sel_found)))
    _, _, kmer, definition, reference, choice, chosen_found = max(tried, key=lambda t: t[:2])
    rules, temps = {}, {}
    for rank, name in choice["best"].items():
        rules[rank], temps[rank] = parse_choice(name)
    reference.rules, reference.temperatures, reference.align_identity = rules, temps, definition
    # Calibration of each rank's final distribution, on the same records (balanced the same way).
    combined, _ = reference.identify(sel_heads, sel_emb, sel_sequences, found=chosen_found)
    calibration, calibration_ece = {}, {}
    for rank in ranks:
        calibration[rank], calibration_ece[rank] = choose_calibration(combined[rank], truth[rank], groups=novel)
    logger.info("calibration temperature per rank: %s", calibration)
    model_dir = Path(model_dir)
    save_file({"embeddings": embeddings.half().contiguous()}, str(model_dir / REFERENCE_FILE))
    save_file(
        {f"labels.{r}": torch.as_tensor(v, dtype=torch.int32) for r, v in labels.items()}, str(model_dir / LABELS_FILE)
    )
    kmer.save(model_dir)
    settings = {
        "k": k,
        "temperature": TEMPERATURES[1],
        "rules": rules,
        "temperatures": temps,
        "kmer_k": kmer.k,
        "align_candidates": ALIGN_CANDIDATES,
        "align_identity": definition,
        "calibration": calibration,
        "selection_calibration_error": calibration_ece,  # rank -> ECE before/after, as chosen
        "kmer_k_tried": {f"{t[2].k}/{t[3]}": t[0] for t in tried},  # "k/identity": summed selection score
        # per rank, the mean of the accuracies on seen-species (val) and novel-species records
        "selection_score": "mean over seen-species and novel-species selection records",
        "selection_accuracy": choice["scores"],
        "n_references": len(keep),
        "n_training_records": len(train["sequence"]),
        "n_selection_records": len(selection["sequence"]),
        "pooling": getattr(model.config, "pooling", "mean"),
        "max_length": max_length,  # bases the network read (classify cuts the same)
        "sequence_max_length": None,  # bases the sequence-space votes read: the whole barcode
        # strand choice and marker check: the references' 12-mers, refusals on the selection records
        MARKER_CHECK_KEY: marker_check_info(sequences, sel_sequences, novel, marker),
    }
    # Novelty: the score and its threshold, chosen on the selection records (seen species = those
    # whose species the model knows, novel = the others), from the calibrated calls.
    reference.calibration = calibration
    combined_calibrated, evidence = reference.identify(sel_heads, sel_emb, sel_sequences, found=chosen_found)
    reference.novelty, auroc = choose_novelty_score(evidence, novel)
    score = reference.novelty(evidence)
    logger.info("novelty score %s (selection AUROC per candidate: %s)", reference.novelty, auroc)
    info = calibrate_threshold(score[~novel], score[novel] if novel.any() else None)
    # The species call's probability given novelty, fitted on the seen-species records as they come
    # (a species the training never held is a wrong call there, as for a user).
    lowest = ranks[-1]
    labelled = ~novel & np.array([bool(v) for v in selection[lowest]])
    p_call, call = combined_calibrated[lowest].max(dim=1)
    right = call.numpy() == truth_with_absent[lowest]
    reference.call_confidence, call_report = choose_call_confidence(
        p_call.numpy()[labelled], right[labelled], score[labelled]
    )
    logger.info("%s call confidence given novelty: %s (%s)", lowest, reference.call_confidence, call_report)
    settings["call_confidence"] = None if reference.call_confidence is None else reference.call_confidence.to_info()
    settings["call_confidence_selection"] = call_report
    # Every rank's call probability given how far its supporting references are, fitted on the same
    # records and on them with their taxa left out (:mod:`.distance_calibration`).
    far = fit_distance_calibration(reference, spec, sel_heads, sel_emb, selection)
    reference.distance_calibration = DistanceCalibration.from_info(far["distance_calibration"])
    logger.info(
        "distance calibration kept: %s", {r: e.get("kept") for r, e in far["distance_calibration_selection"].items()}
    )
    settings.update(far)
    (model_dir / RULES_FILE).write_text(json.dumps(settings, indent=1))
    info.update(
        embedding_threshold=calibrate_threshold(
            evidence["embedding"][~novel], evidence["embedding"][novel] if novel.any() else None
        )["threshold"],
        score=reference.novelty.to_info(),
        selection_auroc=auroc,
        n_references=len(keep),
        n_val_seen=int((~novel).sum()),
        n_val_novel=int(novel.sum()),
        pooling=settings["pooling"],
    )
    (model_dir / NOVELTY_FILE).write_text(json.dumps(info, indent=1))
    return settings | {"novelty": info}
