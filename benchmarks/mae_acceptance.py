"""BarcodeMAE real-data acceptance (issue 4): does hiding [MASK] from the encoder help, at equal
CPU budget? Pretrains a small k=6 BarcodeMAE and the same-size "w/MASK" ablation for the same
CPU time on the cap20 COI split, then runs the 1-NN unseen-genus probe (SPEC 5) on their
encoders and on the untrained encoder.

    python benchmarks/mae_acceptance.py                    # 8 CPU-minutes of pretraining per variant
    python benchmarks/mae_acceptance.py --cpu-minutes 1    # a smoke run

The budget is the process's CPU time (``time.process_time``, all threads), not wall-clock time:
on a shared machine the wall clock also counts other people's work, and the two variants would
not get the same compute. 8 CPU-minutes are 8 minutes of one core (``--threads 1``, the default).

Data: ``../shared/data/insect_coi/bold_insect_coi5p_degobbi.cap20.tsv.gz``. Pretraining uses the
``train`` + ``pretrain_only`` records (never val/test/unseen), k=6 tokens with the random
frame-shift offset. Probe: reference = ``train`` embeddings, queries = ``unseen_query``, cosine
1-NN, target genus (one label map from the reference; see barcodefm.evaluation.knn_probe).
Embeddings: mean of the last encoder layer over real k-mers (``model.embed``).

Optimisation: AdamW (weight decay 1e-5), one-cycle learning rate driven by the spent budget
(linear warm-up over its first 5% to ``--lr``, then cosine decay to 0 at its end), so both
variants follow the same schedule in CPU seconds whatever their speed. Both start from the same
seed; the untrained row is that seed's initial encoder.

Writes ``benchmarks/results/mae_acceptance.md``.
"""

from __future__ import annotations

import argparse
import math
import random
import shlex
import sys
import time
from pathlib import Path

import torch

from barcodefm import BarcodeKmerTokenizer, BarcodeMAEConfig, BarcodeMAEForPreTraining, config_from_tokenizer
from barcodefm.data import load_barcodes
from barcodefm.evaluation import knn_probe

ROOT = Path(__file__).resolve().parents[1]
COI_CAP20 = ROOT / ".." / "shared" / "data" / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz"
RESULTS = Path(__file__).resolve().parent / "results"


def split_rows(dataset, splits):
    keep = [i for i, s in enumerate(dataset["split"]) if s in splits]
    return dataset.select(keep)


def one_cycle_lr(max_lr: float, fraction: float, warmup: float = 0.05) -> float:
    if fraction < warmup:
        return max_lr * fraction / warmup
    return 0.5 * max_lr * (1 + math.cos(math.pi * min(1.0, (fraction - warmup) / (1 - warmup))))


def pretrain(model, sequences, cpu_seconds: float, args, label: str) -> dict:
    """CPU-time-budgeted pretraining; returns steps, sequences seen, wall seconds and the mean loss
    of the last 50 steps."""
    from tqdm.auto import tqdm

    tok = BarcodeKmerTokenizer(k=6, random_offset=True, seed=args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-5)
    order = random.Random(args.seed)
    model.train()
    losses, steps, start, wall_start = [], 0, time.process_time(), time.perf_counter()
    bar = tqdm(total=round(cpu_seconds), desc=f"pretraining {label}", unit="cpu-s")
    while (spent := time.process_time() - start) < cpu_seconds:
        for group in optimizer.param_groups:
            group["lr"] = one_cycle_lr(args.lr, spent / cpu_seconds)
        batch = tok(order.sample(sequences, args.batch_size), padding=True, return_tensors="pt")
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        steps += 1
        bar.update(min(round(time.process_time() - start), bar.total) - bar.n)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", steps=steps)
    bar.close()
    tail = losses[-50:]
    return {
        "steps": steps,
        "sequences": steps * args.batch_size,
        "wall_s": time.perf_counter() - wall_start,
        "final_loss": sum(tail) / max(len(tail), 1),
    }


def probe(encoder, tok, reference, queries) -> dict:
    ref = encoder.embed_sequences(list(reference["sequence"]), tok, batch_size=256, progress=True)
    qry = encoder.embed_sequences(list(queries["sequence"]), tok, batch_size=256, progress=True)
    return knn_probe(ref, list(reference["genus"]), qry, list(queries["genus"]), k=1, progress=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=COI_CAP20)
    parser.add_argument("--cpu-minutes", type=float, default=8.0, help="pretraining CPU-time budget per variant")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2, help="encoder layers (decoder the same)")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    # One thread by default: these small matmuls gain little from a second one, and on a busy
    # shared CPU every op waits for a descheduled second thread (spinning on the CPU budget).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.data.exists():
        sys.exit(f"data not found: {args.data} (the shared COI cap20 table; see ../shared/data/README.md)")
    torch.set_num_threads(args.threads)

    data = load_barcodes(args.data)
    pretraining = list(split_rows(data, {"train", "pretrain_only"})["sequence"])
    reference, queries = split_rows(data, {"train"}), split_rows(data, {"unseen_query"})
    tok = BarcodeKmerTokenizer(k=6)
    sizes = dict(
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        decoder_hidden_size=args.hidden,
        decoder_num_hidden_layers=args.layers,
        decoder_num_attention_heads=args.heads,
        decoder_intermediate_size=4 * args.hidden,
    )

    rows = []
    for label, mask_in_encoder in (("BarcodeMAE", False), ("BarcodeMAE w/MASK", True)):
        torch.manual_seed(args.seed)
        model = BarcodeMAEForPreTraining(
            config_from_tokenizer(tok, config_class=BarcodeMAEConfig, mask_in_encoder=mask_in_encoder, **sizes)
        )
        if not rows:  # the untrained encoder: this seed's initial weights
            rows.append(
                {
                    "model": "untrained encoder",
                    "steps": 0,
                    "sequences": 0,
                    "wall_s": 0.0,
                    "final_loss": float("nan"),
                    **probe(model.encoder, tok, reference, queries),
                }
            )
        trained = pretrain(model, pretraining, 60 * args.cpu_minutes, args, label)
        rows.append({"model": label, **trained, **probe(model.encoder, tok, reference, queries)})
        print(rows[-1])

    command = "python benchmarks/mae_acceptance.py" + "".join(" " + shlex.quote(a) for a in (argv or sys.argv[1:]))
    params = sum(p.numel() for p in model.encoder.parameters()) / 1e6
    lines = [
        "# BarcodeMAE vs BarcodeMAE w/MASK at equal CPU budget: 1-NN unseen-genus probe (COI cap20)",
        "",
        f"Command: `{command}`. Encoder and decoder: hidden {args.hidden}, {args.layers} layers, {args.heads} heads "
        f"(encoder {params:.2f}M parameters), k=6, batch {args.batch_size}, lr {args.lr:g}, {args.cpu_minutes:g} CPU-minutes "
        f"of pretraining per variant ({args.threads} thread(s); {len(pretraining)} train + pretrain_only barcodes). Probe: reference "
        f"= train ({len(reference)}), queries = unseen_query ({len(queries)}), cosine 1-NN, genus; percentages.",
        "",
        "| model | steps | sequences seen | wall s | final MAE loss | 1-NN acc | balanced acc | macro F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['steps']} | {r['sequences']} | {r['wall_s']:.0f} | {r['final_loss']:.3f} | {r['accuracy']:.1f} | "
            f"{r['balanced_accuracy']:.1f} | {r['macro_f1']:.1f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mae_acceptance.md").write_text(table)


if __name__ == "__main__":
    main()
