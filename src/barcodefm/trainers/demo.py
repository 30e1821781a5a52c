"""``barcodefm demo``: the whole workflow on the real COI sample bundled with the package.

1. pretrain a small BarcodeMamba-2 (non-overlapping 6-mer tokens, as the published ``k_mer``
   models; next-token prediction) on the sample's ``train`` + ``pretrain_only`` barcodes;
2. fine-tune it to classify species on ``train``;
3. score species accuracy on the held-out ``test`` split (all records and those whose exact
   sequence is not in train) next to a 6-mer frequency 1-NN baseline on the same split;
4. reload the saved folder ``DIR/model`` with ``AutoModelForSequenceClassification
   .from_pretrained(..., trust_remote_code=True)`` and classify ``DIR/query.fasta`` (a few
   held-out barcodes) into ``DIR/predictions.tsv``;
5. BarcodeMamba+ on the bundled fungal ITS sample: one head per rank (phylum .. species) with
   hierarchical label smoothing and the class-weighted loss, saved with its novelty reference as
   ``DIR/taxonomy-model``, which then classifies ``DIR/its_query.fasta`` (held-out barcodes of
   seen and of unseen species) into ``DIR/taxonomy_predictions.tsv`` exactly as ``barcodefm
   classify`` does.

The output folder must be new or empty, or one a demo run left unfinished (it holds
:data:`INCOMPLETE` until the run ends): that one is started again in place. Library chatter
(``datasets`` progress bars, transformers' load reports, the Trainer's raw log dicts) is silenced
while the demo runs; the training step bars stay. This module prints nothing itself: it hands
each numbered step line and each step's numbers to a ``report(event, value)`` callback as the run
goes (:data:`STEP`, :data:`SPECIES_RESULTS`, :data:`TAXONOMY_RESULTS`), and the ``barcodefm demo``
command (:mod:`barcodefm.commands.demo`) prints them.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .options import MAX_BASES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSizes:
    """Model and schedule of one demo variant."""

    tokenizer: str
    k: int
    d_model: int
    n_layer: int
    headdim: int
    d_state: int
    d_intermediate: int
    max_length: int
    batch_size: int
    pretrain_steps: int
    finetune_steps: int
    pretrain_lr: float
    finetune_lr: float
    n_queries: int
    # Step 5 (ITS taxonomy, trained from scratch: ITS2 barcodes are ~180 bases, ~30 6-mers).
    # FULL's 400 steps, measured on the loaded 2-core machine with one torch thread: 47 s,
    # test accuracy phylum 100%, genus 98.0%, species 72.4% (dedup 61.4%); with two threads
    # competing with other jobs the same steps ran up to 10x slower.
    taxonomy_steps: int = 400
    taxonomy_lr: float = 4e-3
    n_taxonomy_queries: int = 5  # half (rounded up) from test, the rest from unseen_query

    def model_options(self) -> dict:
        """The tokenizer and model-size options of a new model of this variant."""
        names = ("tokenizer", "k", "d_model", "n_layer", "headdim", "d_state", "d_intermediate")
        return {name: getattr(self, name) for name in names}


# 6-mers make a 660-base barcode 110 tokens: 6x less work per barcode than characters, and
# the tokens are already discriminative. Measured on the project's 2-core machine while other
# jobs loaded it (load average 4-5): 6 min wall time (pretrain 110 s, fine-tune 256 s), 94.0%
# species accuracy on test and 86.0% on its de-duplicated part; an idle machine needs about half.
FULL = DemoSizes(
    tokenizer="kmer",
    k=6,
    d_model=64,
    n_layer=2,
    headdim=32,
    d_state=32,
    d_intermediate=128,
    max_length=MAX_BASES,
    batch_size=32,
    pretrain_steps=60,
    finetune_steps=200,
    pretrain_lr=4e-3,
    finetune_lr=4e-3,
    n_queries=8,
    taxonomy_steps=400,
    n_taxonomy_queries=5,
)
# Seconds: exercises every step on tiny sizes (the test suite runs this one).
QUICK = replace(
    FULL,
    d_model=32,
    n_layer=1,
    headdim=16,
    d_state=16,
    d_intermediate=0,
    max_length=300,
    batch_size=16,
    pretrain_steps=4,
    finetune_steps=6,
    n_queries=4,
    taxonomy_steps=6,
    n_taxonomy_queries=2,
)


# The events ``report(event, value)`` receives, in this order: STEP (value: the numbered line of a
# step about to start) before each step, SPECIES_RESULTS (the species summary) after step 4, and
# TAXONOMY_RESULTS (step 5's numbers) at the end.
STEP = "step"
SPECIES_RESULTS = "species_results"
TAXONOMY_RESULTS = "taxonomy_results"
Report = Callable[[str, object], None]


def log_steps(event: str, value) -> None:
    """The default ``report``: step lines to the log, numbers only in the returned summary."""
    if event == STEP:
        logger.info("%s", value)


# Written first into the output folder and removed when the demo finishes: a folder holding it is an
# unfinished demo run, which the next run may start again in place.
INCOMPLETE = "DEMO_INCOMPLETE.txt"
# What a demo run writes into its folder (removed before a rerun into an unfinished one).
_DEMO_ENTRIES = (
    "pretrained",
    "model",
    "query.fasta",
    "predictions.tsv",
    "taxonomy-model",
    "its_query.fasta",
    "taxonomy_predictions.tsv",
)


def _claim_output(out: Path) -> Path:
    """Make ``out`` ready for a run (new, empty, or an unfinished demo's) and mark it unfinished."""
    marker = out / INCOMPLETE
    if marker.is_file():
        logger.info("%s holds an unfinished demo run: starting it again", out)
        for name in _DEMO_ENTRIES:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"demo output {out} is not an empty folder: choose another --output")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        "A `barcodefm demo` run writing into this folder has not finished (stopped or crashed).\n"
        "Run the same command again: it starts over in this folder.\n",
        encoding="utf-8",
    )
    return marker


@contextlib.contextmanager
def _quiet_libraries():
    """``datasets`` progress bars, transformers' warnings (load reports) and its loading bars off;
    restored afterwards."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets_bars = not datasets.are_progress_bars_disabled()
    verbosity, hf_bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if datasets_bars:
            datasets.enable_progress_bars()
        hf_logging.set_verbosity(verbosity)
        if hf_bars:
            hf_logging.enable_progress_bar()


def _train(run) -> dict:
    """``run.train()`` with the Trainer's step bar but without the raw log dicts it prints (the
    run folder's ``train_log.jsonl`` keeps every logged loss)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class StepBar(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass

    run.trainer.pop_callback(ProgressCallback)
    run.trainer.pop_callback(PrinterCallback)
    run.trainer.add_callback(StepBar())
    return run.train()


def _accuracy(truth, predicted) -> float:
    from ..evaluation.metrics import classification_metrics

    return classification_metrics(truth, predicted)["accuracy"]


def _write_fasta(path: Path, records) -> None:
    with open(path, "w", encoding="ascii") as f:
        for record in records:
            f.write(f">{record['id']}\n")
            sequence = record["sequence"]
            for start in range(0, len(sequence), 80):
                f.write(sequence[start : start + 80] + "\n")


def _query_records(test, n: int) -> list[dict]:
    """``n`` test barcodes of distinct species (the first record of each, file order)."""
    chosen, species = [], set()
    for record in test:
        if record["species"] not in species:
            species.add(record["species"])
            chosen.append({"id": record["id"], "sequence": record["sequence"], "species": record["species"]})
        if len(chosen) == n:
            break
    return chosen


def run_demo(output_dir="barcodefm-demo", quick: bool = False, seed: int = 0, report: Report = log_steps) -> dict:
    """Run the demo into ``output_dir`` (new, empty, or an unfinished demo's); returns its numbers
    (those of step 5 under ``"taxonomy"``). ``report`` receives the step lines and the numbers as
    the run goes (see :data:`STEP`)."""
    out = Path(output_dir)
    marker = _claim_output(out)
    with _quiet_libraries():
        summary = _run_steps(out, QUICK if quick else FULL, seed, report)
    marker.unlink()
    return summary


def _run_steps(out: Path, sizes: DemoSizes, seed: int, report: Report) -> dict:
    from transformers import AutoModelForSequenceClassification

    from ..data import iter_barcodes, load_barcodes, sample_path
    from ..evaluation.baselines import kmer_top_hits
    from ..factory import load_tokenizer
    from .finetuning import build_finetuning
    from .options import FinetuneOptions, PretrainOptions
    from .prediction import classify_sequences
    from .pretraining import build_pretraining

    sample = str(sample_path("coi"))
    timings = {}
    common = dict(
        data=sample,
        max_length=sizes.max_length,
        batch_size=sizes.batch_size,
        seed=seed,
        save_steps=0,
        logging_steps=max(1, min(10, sizes.pretrain_steps // 5)),
    )

    report(STEP, f"[1/5] pretraining a small BarcodeMamba-2 ({sizes.k}-mer tokens) on the bundled COI sample")
    start = time.perf_counter()
    pretrained = _train(
        build_pretraining(
            PretrainOptions(
                output=str(out / "pretrained"),
                objective="ntp",
                splits=("train", "pretrain_only"),
                eval_splits=("val",),
                max_steps=sizes.pretrain_steps,
                lr=sizes.pretrain_lr,
                **sizes.model_options(),
                **common,
            )
        )
    )
    timings["pretrain_s"] = time.perf_counter() - start

    report(STEP, "[2/5] fine-tuning it to classify species (label map from the train split)")
    start = time.perf_counter()
    finetuned = _train(
        build_finetuning(
            FinetuneOptions(
                model=str(out / "pretrained"),
                output=str(out / "model"),
                eval_splits=(),
                test_splits=("test",),
                max_steps=sizes.finetune_steps,
                lr=sizes.finetune_lr,
                **common,
            )
        )
    )
    timings["finetune_s"] = time.perf_counter() - start

    report(STEP, "[3/5] 6-mer frequency 1-NN baseline on the same split")
    records = load_barcodes(sample)
    train = records.filter(lambda s: s == "train", input_columns="split")
    test = records.filter(lambda s: s == "test", input_columns="split")
    start = time.perf_counter()
    hits = kmer_top_hits(
        train["sequence"],
        test["sequence"],
        reference_ids=train["id"],
        query_ids=test["id"],
        reference_labels=train["species"],
        k=6,
        progress=False,
    )
    timings["kmer_1nn_s"] = time.perf_counter() - start
    in_train = set(train["sequence"])
    novel = [i for i, s in enumerate(test["sequence"]) if s not in in_train]
    truth = test["species"]
    kmer = {
        "all": _accuracy(truth, hits.predicted_labels),
        "dedup": _accuracy([truth[i] for i in novel], [hits.predicted_labels[i] for i in novel]),
    }

    report(
        STEP,
        f"[4/5] reloading {out / 'model'} with AutoModelForSequenceClassification and classifying {out / 'query.fasta'}",
    )
    queries = _query_records(test, sizes.n_queries)
    _write_fasta(out / "query.fasta", queries)
    model = AutoModelForSequenceClassification.from_pretrained(str(out / "model"), trust_remote_code=True)
    tokenizer = load_tokenizer(out / "model")
    query_reads = list(iter_barcodes(out / "query.fasta"))
    calls = classify_sequences(
        model, tokenizer, [r["sequence"] for r in query_reads], max_bases=sizes.max_length, progress=False
    )
    true_species = {q["id"]: q["species"] for q in queries}
    rows = [
        {"id": r["id"], "predicted_species": label, "probability": round(p, 4), "true_species": true_species[r["id"]]}
        for r, (label, p) in zip(query_reads, calls)
    ]
    with open(out / "predictions.tsv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)

    model_test = finetuned["test"]
    summary = {
        "n_train": finetuned["n_train"],
        "n_test": model_test["all"]["n"],
        "n_test_dedup": model_test["dedup"]["n"],
        "n_species": finetuned["n_labels"],
        "pretrain_val_perplexity": pretrained["eval"].get("val", {}).get("perplexity"),
        "barcodemamba": {"all": model_test["all"]["accuracy"], "dedup": model_test["dedup"]["accuracy"]},
        "kmer_1nn": kmer,
        "queries": rows,
        "timings": timings,
        "output": str(out),
    }
    report(SPECIES_RESULTS, summary)
    summary["taxonomy"] = run_taxonomy_step(out, sizes, seed=seed, report=report)
    timings["taxonomy_s"] = summary["taxonomy"]["seconds"]
    return summary


def _taxonomy_queries(records, n: int) -> list[dict]:
    """``n`` held-out ITS barcodes of distinct species: half (rounded up) from ``test`` (species
    seen in training), the rest from ``unseen_query`` (species absent from it), file order."""
    wanted = {"test": n - n // 2, "unseen_query": n // 2}
    chosen, species = [], set()
    for record in records:
        split = record["split"]
        if wanted.get(split, 0) > 0 and record["species"] not in species:
            species.add(record["species"])
            chosen.append(dict(record))
            wanted[split] -= 1
    return chosen


def run_taxonomy_step(out: Path, sizes: DemoSizes, seed: int = 0, report: Report = log_steps) -> dict:
    """Step 5: BarcodeMamba+ on the bundled ITS sample, saved as ``out/taxonomy-model`` and used
    like ``barcodefm classify`` on a few held-out barcodes. Returns its numbers, also given to
    ``report`` as :data:`TAXONOMY_RESULTS`."""
    from ..data import load_barcodes, sample_path
    from ..inference.classify import classify_file
    from .finetuning import build_finetuning
    from .options import FinetuneOptions

    sample = str(sample_path("its"))
    model_dir = out / "taxonomy-model"
    report(
        STEP,
        "[5/5] BarcodeMamba+ on the bundled fungal ITS sample: one head per rank (phylum .. species), "
        "hierarchical label smoothing + class-weighted loss, novelty reference",
    )
    start = time.perf_counter()
    finetuned = _train(
        build_finetuning(
            FinetuneOptions(
                from_scratch=True,
                task="taxonomy",
                data=sample,
                output=str(model_dir),
                # Singletons teach the higher ranks; val calibrates the novelty threshold with unseen_key.
                train_splits=("train", "train_singleton"),
                eval_splits=("val",),
                test_splits=("test", "unseen_query"),
                max_length=sizes.max_length,
                batch_size=sizes.batch_size,
                max_steps=sizes.taxonomy_steps,
                lr=sizes.taxonomy_lr,
                seed=seed,
                save_steps=0,
                logging_steps=max(1, min(20, sizes.taxonomy_steps // 5)),
                **sizes.model_options(),
            )
        )
    )
    seconds = time.perf_counter() - start

    queries = _taxonomy_queries(load_barcodes(sample), sizes.n_taxonomy_queries)
    _write_fasta(out / "its_query.fasta", queries)
    classify_file(model_dir, out / "its_query.fasta", out / "taxonomy_predictions.tsv")
    with open(out / "taxonomy_predictions.tsv", encoding="utf-8", newline="") as f:
        calls = list(csv.DictReader(f, delimiter="\t"))

    ranks = finetuned["ranks"]
    test, unseen = finetuned["test"], finetuned["unseen_query"]
    results = {
        "ranks": ranks,
        "n_labels": finetuned["n_labels"],
        "n_test": test["all"][ranks[-1]]["n"],
        "test": {r: test["all"][r]["accuracy"] for r in ranks},
        "test_dedup": {r: test["dedup"][r]["accuracy"] for r in ranks},
        "unseen_query": {r: unseen["all"][r]["accuracy"] for r in ranks},
        "novelty": finetuned.get("novelty", {}),
        "queries": calls,
        "true_records": {q["id"]: q for q in queries},  # the queries' true split and labels
        "seconds": seconds,
        "output": str(model_dir),
    }
    report(TAXONOMY_RESULTS, results)
    return results
