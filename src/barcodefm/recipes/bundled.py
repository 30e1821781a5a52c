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
    return build_reference_set(
        model,
        tokenizer,
        run_dir,
        reference_rows(records, ranks, splits=set(recipe.options["train_splits"])),
        reference_rows(records, ranks, splits=set(SELECTION_SPLITS)),
        batch_size=64,
        max_length=max_bases,
        marker=recipe.marker,
    )


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
`reference_sequences.fasta.gz` holds the training barcodes the votes read, for BLAST or VSEARCH too.
This folder ships inside the barcodefm package (no download): in Python,
`AutoModel.from_pretrained(barcodefm.registry.bundled_model_path("{recipe.name}"), trust_remote_code=True)`.
"""
