"""The recipes of the two bundled identifiers (``barcodefm recipe coi-insect|its-fungi``).

Why these settings (measured on the shared data on a 2-core CPU; see the model cards):
- BarcodeMamba+ from scratch, no self-supervised pretraining: at this budget every CPU-minute
  spent on labelled steps bought more validation accuracy than pretraining did (the pretrained
  90-second backbones of the benchmark lost to a plain from-scratch fine-tune).
- BPE tokens (768): ~4 bases per token, so a 660-base COI barcode is ~150 tokens instead of 660
  characters, and the vocabulary does not depend on the reading frame (6-mers do).
- Mamba-2, width 128, 2 blocks, headdim 32: small enough for many epochs on a CPU, and the
  weights plus the training-reference embeddings stay far below the 25 MB budget.
- AdamW lr 2e-3, batch 32, cosine to 10%; HLS and n^-0.5 class weights (SPEC 4 defaults).
- Identification (the fine-tuning export, :mod:`barcodefm.inference.reference_vote`): per rank the
  head, the embedding-space vote, the k-mer vote (k 6 or 8), the alignment vote or a mean of
  several, chosen on the mean of the val accuracy (seen species) and the unseen_key accuracy
  (novel species), so the thousands of novel-species records do not outvote the seen ones at the
  ranks above species. The network alone trails k-mer nearest neighbours on species it never saw (COI
  unseen_query genus 64.7 vs 85.1 for 6-mer 1-NN); with the sequence-space votes the identifier
  leads every classic tool there (91.1; VSEARCH 90.4), and a mean of head and votes beats its parts on ITS.
Everything else is the finetune command's default. ``--max-steps`` counts optimiser steps, so the
recipe is the same run on 1 CPU or under ``accelerate launch`` on GPUs (keep the global batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..trainers.options import MAX_BASES
from .training_tables import COI_TABLE, its_fungi_table, require


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    options: dict = field(default_factory=dict)
    # a shared-data table read as it is, or None: the table is built into the run folder by ``build``
    shared_table: str | None = None
    build: Callable[[str | Path, Path], Path] | None = None
    marker: str | None = None  # the marker's name, recorded with the marker check

    def table_path(self, data_dir: str | Path, run_dir: str | Path) -> Path:
        if self.shared_table:
            return require(data_dir, self.shared_table)
        run_dir = Path(run_dir)  # beside the run folder: a new run needs an empty folder
        return run_dir.with_name(run_dir.name + ".training_table.tsv.gz")

    def prepare(self, data_dir: str | Path, run_dir: str | Path) -> Path:
        """The table to train on (built on first use; deterministic, so a rebuild is identical)."""
        path = self.table_path(data_dir, run_dir)
        if self.build is not None:
            self.build(data_dir, path)
        return path


COMMON = dict(
    from_scratch=True,
    task="taxonomy",
    tokenizer="bpe",
    bpe_vocab_size=768,
    family="barcodemamba",
    d_model=128,
    n_layer=2,
    headdim=32,
    batch_size=32,
    lr=2e-3,
    warmup=0.02,
    seed=0,
    max_length=MAX_BASES,
    save_steps=500,
    save_total_limit=2,
    logging_steps=50,
    eval_splits=("val",),
    test_splits=("test", "unseen_query"),
)

RECIPES = {
    "coi-insect": Recipe(
        name="coi-insect",
        description="insect COI-5P, ranks order..species, BOLD train split (60,811 barcodes, 1,023 species)",
        shared_table=COI_TABLE,
        marker="COI-5P",
        options=dict(
            COMMON,
            ranks=("order", "family", "subfamily", "genus", "species"),
            train_splits=("train",),
            max_steps=7000,
            eval_steps=1000,
        ),
    ),
    "its-fungi": Recipe(
        name="its-fungi",
        description="fungal ITS, ranks phylum..species, CBS ITS2 + MycoAI train and train_singleton",
        build=its_fungi_table,
        marker="ITS",
        options=dict(
            COMMON,
            ranks=("phylum", "class", "order", "family", "genus", "species"),
            train_splits=("train", "train_singleton"),
            max_steps=6000,
            eval_steps=1000,
        ),
    ),
}


# Records that choose the identification rule per rank and calibrate novelty: validation records
# of seen species and the unseen_key species (never test or unseen_query, which report).
SELECTION_SPLITS = ("val", "unseen_key")  # val + reference_vote.NOVEL_SPLITS, as the fine-tuning export uses


def build_identification_reference(recipe: Recipe, data_dir: str | Path, run_dir: str | Path) -> dict:
    """After training: the reference set of :mod:`barcodefm.inference.reference_vote` (training
    barcodes, their labels, the rule per rank) saved into the run folder."""
    import torch

    from ..factory import load_model, load_tokenizer
    from ..inference.reference_vote import build_reference_set, reference_rows
    from ..trainers.data_selection import read_barcodes

    run_dir = Path(run_dir)
    model = load_model(run_dir, "AutoModel").eval()
    tokenizer = load_tokenizer(run_dir)
    records = read_barcodes(recipe.table_path(data_dir, run_dir))
    ranks = list(model.taxonomy.spec.ranks)
    max_bases = recipe.options["max_length"]
    torch.manual_seed(0)
    settings = build_reference_set(
        model,
        tokenizer,
        run_dir,
        reference_rows(records, ranks, splits=set(recipe.options["train_splits"])),
        reference_rows(records, ranks, splits=set(SELECTION_SPLITS)),
        batch_size=64,
        max_length=max_bases,
        marker=recipe.marker,
    )
    store_reference_ids(run_dir, records, ranks, recipe.options["train_splits"])
    return settings


def reference_ids(records, ranks, splits) -> tuple[list[str], list[str], dict[str, list]]:
    """(ids, sequences, labels per rank) of the references :func:`build_reference_set` stores for
    the training records of ``splits`` in ``records`` (a ``datasets.Dataset`` with ``id``): their
    distinct (sequence, labels), the first record of each in table order, as it keeps them."""
    from ..inference.reference_vote import reference_rows

    splits = set(splits)
    rows = reference_rows(records, ranks, splits=splits)
    ids = [i for i, split in zip(records["id"], records["split"]) if split in splits]  # reference_rows' order
    if len(ids) != len(rows["sequence"]):
        raise ValueError(f"{len(ids)} ids for {len(rows['sequence'])} training records")
    seen, keep = set(), []
    for i, key in enumerate(zip(rows["sequence"], *(rows[r] for r in ranks))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return [ids[i] for i in keep], [rows["sequence"][i] for i in keep], {r: [rows[r][i] for i in keep] for r in ranks}


def store_reference_ids(model_dir: str | Path, records, ranks, splits) -> Path:
    """Name the records of ``model_dir``'s ``reference_sequences.fasta.gz`` by the ids of the
    training records they are (``reference_ids``; ``ref<i>`` as :func:`build_reference_set` writes
    them otherwise): BOLD process ids, CBS/MycoAI accessions. Checked first, row by row: the same
    sequences, and the same labels as ``reference_labels.safetensors`` holds (a ValueError
    otherwise, and the file is left as it was)."""
    import json

    from safetensors.numpy import load_file

    from ..inference.kmer_reference import read_reference_records, write_reference_sequences
    from ..inference.reference_vote import LABELS_FILE

    model_dir = Path(model_dir)
    ids, sequences, labels = reference_ids(records, ranks, splits)
    stored = read_reference_records(model_dir)
    if stored is None:
        raise FileNotFoundError(f"{model_dir} has no reference sequences")
    if len(stored[1]) != len(sequences):
        raise ValueError(f"{model_dir}: {len(stored[1])} references stored, {len(sequences)} rebuilt from the table")
    wrong = next((i for i, (a, b) in enumerate(zip(stored[1], sequences)) if a != b), None)
    if wrong is not None:
        raise ValueError(f"{model_dir}: reference {wrong} is not the sequence of training record {ids[wrong]}")
    names = json.loads((model_dir / "config.json").read_text())["taxonomy"]["labels"]
    codes = load_file(str(model_dir / LABELS_FILE))
    for rank in ranks:
        position = {label: j for j, label in enumerate(names[rank])}
        expected = [position.get(label, -1) if label else -1 for label in labels[rank]]
        found = codes[f"labels.{rank}"].tolist()
        wrong = next((i for i, (a, b) in enumerate(zip(found, expected)) if a != b), None)
        if wrong is not None:
            raise ValueError(f"{model_dir}: reference {wrong} does not have the {rank} of training record {ids[wrong]}")
    path = write_reference_sequences(model_dir, sequences, ids)
    if read_reference_records(model_dir) != (ids, sequences):
        raise RuntimeError(f"{path} does not read back as written")
    return path


def restore_reference_ids(name: str, data_dir: str | Path, model_dir: str | Path | None = None) -> Path:
    """:func:`store_reference_ids` for the bundled identifier ``name`` (its folder in the package,
    or ``model_dir``), from its recipe's training table in the shared ``data_dir``: for a folder
    built before the references carried their ids. Run once per folder::

        python -c "from barcodefm.recipes.bundled import restore_reference_ids as r; r('coi-insect', '../shared/data')"
    """
    import tempfile

    from ..registry import bundled_model_path
    from ..trainers.data_selection import read_barcodes

    recipe = RECIPES[name]
    model_dir = Path(model_dir) if model_dir is not None else Path(bundled_model_path(name))
    with tempfile.TemporaryDirectory() as tmp:
        records = read_barcodes(recipe.prepare(data_dir, Path(tmp) / "run"))  # a built table goes beside it
        return store_reference_ids(model_dir, records, list(recipe.options["ranks"]), recipe.options["train_splits"])


def bundle(recipe: Recipe, run_dir: str | Path, dest: str | Path, extra_card: str = "") -> Path:
    """Write the finished run as a checked, self-contained model folder at ``dest`` (the package's
    ``bundled_models/NAME`` in a source checkout): weights, config, code, tokenizer, reference
    files and a model card, through ``barcodefm release``'s checks (a fresh process without
    barcodefm must reproduce the model's outputs). ``extra_card`` is appended to the card."""
    import shutil

    from ..release import release_model
    from ..release.release import CardOptions

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    card = CardOptions(
        dataset_name=recipe.description,
        training_data=f"{recipe.description}.",
        tags=["barcodefm-bundled", recipe.name],
        example_sample="coi" if "coi" in recipe.name else "its",  # the usage snippet quotes barcodes of its marker
    )
    release_model(run_dir, repo_id=f"barcodefm/{recipe.name}", output=dest, card=card)
    if extra_card:
        readme = dest / "README.md"
        readme.write_text(
            readme.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + extra_card.strip() + "\n", encoding="utf-8"
        )
    return dest


def best_per_part(by_name: dict[str, float]) -> dict[str, float]:
    """From one rank's selection accuracies (names as in ``choose_rules``): the best of the head,
    each vote alone (embedding, k-mer, alignment), and of the rule chosen (the best overall)."""
    from ..inference.reference_vote import parse_choice

    out = {}
    for part in ("head", "reference", "kmer", "align"):
        accs = [acc for name, acc in by_name.items() if parse_choice(name)[0] == part]
        if accs:
            out[part] = max(accs)
    out["chosen"] = max(by_name.values())
    return out


def card_section(recipe: Recipe, run_dir: str | Path) -> str:
    """The model card's account of how this bundled model was made: command, seed, data, time,
    the identification rule per rank and why."""
    import json

    from ..inference.novelty import NOVELTY_FILE, NoveltyScore

    run_dir = Path(run_dir)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    timed = [x for x in log if "time" in x]
    wall_min = (timed[-1]["time"] - timed[0]["time"]) / 60 if len(timed) > 1 else float("nan")
    cpu_min = max((x.get("cpu_s", 0) for x in log), default=0) / 60
    ident = json.loads((run_dir / "identification.json").read_text())
    novelty_file = run_dir / NOVELTY_FILE
    novelty_info = json.loads(novelty_file.read_text()) if novelty_file.is_file() else None
    novelty_words = NoveltyScore.from_info(novelty_info).describe()
    call_words = (
        "gives the species call a probability refitted from its calibrated probability and the novelty score "
        "(`call_confidence` in `identification.json`: a sure vote for the nearest known species is not a sure "
        "name for a barcode that looks novel)"
        if ident.get("call_confidence")
        else "keeps the species call's calibrated probability (a refit given the novelty score did not lower the "
        "held-out calibration error on `val`)"
    )
    o = recipe.options
    rules = ", ".join(f"{rank}: {rule}" for rank, rule in ident["rules"].items())
    kmer_k = ident.get("kmer_k", 6)
    scores = "; ".join(
        f"{rank}: " + ", ".join(f"{part} {100 * acc:.1f}" for part, acc in best_per_part(by_name).items())
        for rank, by_name in ident["selection_accuracy"].items()
    )
    return f"""## How this bundled model was made

Regenerate it with one command (the shared data folder of the barcodefm project; on a 2-core CPU, or
unchanged under `accelerate launch` on GPUs):

```bash
barcodefm recipe {recipe.name} --data-dir ../shared/data --output runs/{recipe.name}
```

- Data: {recipe.description}; trained on the `{",".join(o["train_splits"])}` split(s) only; `val` was
  scored during training (the learning curve), `val` + `unseen_key` chose the identification rule and the
  novelty threshold; `test` and `unseen_query` were used for reporting only.
- Model: BarcodeMamba-2 from scratch, BPE {o["bpe_vocab_size"]} tokens, width {o["d_model"]}, {o["n_layer"]} blocks,
  headdim {o["headdim"]}; first {o["max_length"]} bases. Optimisation: AdamW lr {o["lr"]:g}, batch {o["batch_size"]},
  {o["max_steps"]:,} steps, cosine schedule, hierarchical label smoothing, class weights n^-0.5. Seed {o["seed"]}.
- Training: {wall_min:.0f} min wall clock, {cpu_min:.0f} CPU-minutes (one thread, on a 2-core machine shared
  with a second job), then the reference step (embedding the {ident["n_references"]:,} distinct training
  barcodes).
- Identification: per rank, the head ("head"), the similarity-weighted vote of the {ident["k"]} nearest
  training barcodes in the network's embedding space ("reference"), in {kmer_k}-mer space ("kmer": cosine of
  {kmer_k}-mer counts over the stored training sequences; k = 6 or 8, the better on the selection records) or
  by alignment identity ("align": the {ident.get("align_candidates", 50)} nearest by k-mers re-ranked by the
  identity of a semi-global alignment, the measure BLAST and VSEARCH rank by; identity relative to the
  shorter sequence or to the query, the better on the selection records: here "{ident.get("align_identity", "shorter")}"),
  or the mean of several, with the votes' temperatures, whichever scored best on the mean of the `val`
  accuracy (seen species) and the `unseen_key` accuracy (novel species):
  {rules}. Best selection accuracy (%) of each part alone and of the chosen rule: {scores}.
  Why: the network is as good as any tool on species it was trained on, but places a species it never
  saw far from its congeners; the sequence-space votes are strong there (alignment identity ranks close
  relatives better than k-mer counts), and the mean of a vote and the head is often better than either
  (the scores above; `identification.json` lists every rule tried).

With barcodefm installed, `barcodefm classify QUERIES.fasta --model {recipe.name} -o calls.tsv` runs the
heads and the votes by these rules, and
- adds a novelty score: {novelty_words} (`novelty.json` holds it with its threshold and the selection
  AUROC of every candidate score);
- {call_words}.

Loaded with plain `AutoModel` (no barcodefm),
`model.predict_taxonomy(...)` gives the heads' calls only (the "heads only" rows of the benchmark);
`reference_sequences.fasta.gz` holds the training barcodes the votes read, each named by its training
record's id (what `classify` reports as `nearest_reference`), for BLAST or VSEARCH too.
This folder ships inside the barcodefm package (no download): in Python,
`AutoModel.from_pretrained(barcodefm.registry.bundled_model_path("{recipe.name}"), trust_remote_code=True)`.
"""
