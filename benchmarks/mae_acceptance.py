"""BarcodeMAE acceptance (issue 4): does hiding [MASK] from the encoder help, at equal budget?

BarcodeMAE and its "w/MASK" ablation (the encoder sees [MASK] in place, SPEC 3.1) are the two
BarcodeMAE models of the accuracy table: the same size, pretrained for the same seconds on the COI
``train`` + ``pretrain_only`` records through the package's trainer (``barcodefm.trainers``, the code
behind ``barcodefm pretrain``; see ``bench_training.py``), and reused from the work folder when that
table trained them already. Beside them, the untrained encoder: the same configuration built with
the trainer's seed, i.e. the encoder weights both runs start from. Each encoder is scored by the 1-NN
unseen-genus probe (SPEC 5): reference = ``train`` embeddings, queries = ``unseen_query``, cosine
1-NN, target genus. Embeddings: the model's pooling (mean of the last encoder layer over real k-mers).

Part of the benchmark report, and runnable alone:

    python benchmarks/run_benchmarks.py --only mae_acceptance     # in the report (--size ci)
    python benchmarks/mae_acceptance.py --data-dir ../shared/data   # alone, same thing

Writes ``<output>/mae_acceptance.{md,json,png}`` (default output ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402
    COI_CAP20,
    DEFAULT_WORK_DIR,
    PRESETS,
    RESULTS_DIR,
    SHARED_DATA,
    BenchContext,
    bar_chart,
    data_label,
    fmt,
    markdown_table,
    offline_environment,
    write_markdown,
)

logger = logging.getLogger("benchmarks")

NAME = "mae_acceptance"
TITLE = "BarcodeMAE vs BarcodeMAE w/MASK at equal budget: 1-NN genus of unseen species"
MODELS = ("BarcodeMAE", "BarcodeMAE w/MASK")
UNTRAINED = "untrained encoder"
SCORES = (("accuracy", "1-NN acc"), ("balanced_accuracy", "balanced acc"), ("macro_f1", "macro F1"))


def untrained_encoder(ctx: BenchContext, pretrained: Path) -> Path:
    """A folder holding BarcodeMAE as its pretraining starts: the configuration of ``pretrained``,
    initialised with the trainer's seed (as the trainer does before building the model)."""
    from bench_training import SEED
    from transformers import set_seed

    from barcodefm import BarcodeMAEConfig, BarcodeMAEForPreTraining, load_tokenizer

    folder = ctx.work_dir("coi", "barcodemae-untrained")
    set_seed(SEED)
    BarcodeMAEForPreTraining(BarcodeMAEConfig.from_pretrained(str(pretrained))).save_pretrained(str(folder))
    load_tokenizer(pretrained).save_pretrained(str(folder))
    return folder


def _probe(ctx: BenchContext, data, label: str, folder: Path) -> dict:
    from bench_embed import Embedder

    from barcodefm.evaluation import knn_probe

    embedder = Embedder(folder, ctx.size.max_bases)
    reference, _ = embedder(list(data.reference["sequence"]), desc=f"{label}: train (reference)")
    queries, _ = embedder(data.sequences("unseen_query"), desc=f"{label}: unseen_query")
    return knn_probe(
        reference,
        list(data.reference["genus"]),
        queries,
        data.labels("unseen_query", "genus"),
        k=1,
        progress=False,
    )


def run(ctx: BenchContext) -> dict:
    from bench_coi import coi_data, pretrained_coi_models

    size = ctx.size
    data = coi_data(ctx)
    models = pretrained_coi_models(ctx, list(MODELS))
    untrained = untrained_encoder(ctx, models[0].record.path)
    rows = [
        {"model": UNTRAINED, "steps": 0, "seconds": 0.0, "train_loss": None, **_probe(ctx, data, UNTRAINED, untrained)}
    ]
    for model in models:
        record = model.record
        rows.append(
            {
                "model": model.spec.name,
                "steps": record.steps,
                "seconds": record.seconds,
                "train_loss": record.results.get("train_loss"),
                **_probe(ctx, data, model.spec.name, record.path),
            }
        )
    ctx.path(f"{NAME}.json").write_text(json.dumps(rows, indent=1, default=float))
    bar_chart(
        ctx.path(f"{NAME}.png"),
        TITLE,
        [title for _, title in SCORES],
        [(r["model"], [r[key] for key, _ in SCORES], None) for r in rows],
        ylabel="% (genus of unseen species)",
        figsize=(8, 4.5),
    )
    body = markdown_table(
        ["model", "pretraining steps", "seconds", "mean train loss", *(title for _, title in SCORES)],
        [
            [r["model"], r["steps"], fmt(r["seconds"], 0), fmt(r["train_loss"], 3), *(r[key] for key, _ in SCORES)]
            for r in rows
        ],
    )
    caption = [
        f"Data: {data_label(size.coi_data)}; pretraining on train + pretrain_only, probe reference",
        f"{data.describe_reference()}, queries {data.describe('unseen_query')} (species absent from training,",
        "genus seen); cosine 1-NN, target genus, percentages.",
        f"Both models: width {size.d_model}, depth {size.n_layer} (encoder and decoder alike), 6-mer tokens, batch",
        f"{size.batch_size}, first {size.max_bases} bases, AdamW lr {size.lr:g}, each pretrained for",
        f"{size.pretrain_seconds:.0f} s (runs end by the clock). The untrained encoder is the same",
        "configuration with the same seed: the encoder weights both runs start from.",
    ]
    write_markdown(ctx, NAME, TITLE, caption, body, images=(f"{NAME}.png",))
    return {"rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=SHARED_DATA,
        help=f"the shared data folder holding {COI_CAP20.relative_to(SHARED_DATA)} (default ../shared/data)",
    )
    parser.add_argument(
        "--size", choices=list(PRESETS), default="ci", help="model sizes and budgets, as run_benchmarks.py (default ci)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="folder of the table and plot")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="models (reused by later runs)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--fresh", action="store_true", help="retrain the models even if the work folder holds them")
    args = parser.parse_args(argv)
    offline_environment()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    size = PRESETS[args.size]
    if not size.coi_data.startswith("sample:"):
        data = args.data_dir / COI_CAP20.relative_to(SHARED_DATA)
        if not data.is_file():
            sys.exit(f"data not found: {data} (the shared COI cap20 table; see ../shared/data/README.md)")
        size = replace(size, coi_data=str(data))
    import torch

    torch.set_num_threads(args.threads)
    base_command = ["--size", args.size, "--threads", str(args.threads)]
    run(BenchContext(size, args.output, args.work_dir, args.threads, args.fresh, base_command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
