"""Why BarcodeMAE's embeddings look collapsed after a short CPU pretraining (issue 12).

Pretrains a small BarcodeMAE (width 64, 2 layers, 6-mers) on the bundled COI sample with
`barcodefm pretrain` (checkpoints every 100 steps), then for each checkpoint measures:
- the mean cosine of the train embeddings to their centroid and the share of their energy in the
  common component (|mean|^2 / mean |x|^2): 1.0 = every embedding is the same vector plus noise;
- 1-NN genus accuracy of unseen species, with raw and with centred embeddings;
- the masked-token loss, and the same loss with the encoder's output replaced by its batch mean:
  equal losses mean the decoder does not use the encoder at all.

    python benchmarks/mae_collapse.py [--steps 400] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from barcodefm import load_tokenizer
    from barcodefm.data import iter_barcodes, sample_path
    from barcodefm.evaluation.knn import knn_predict
    from barcodefm.models.configuration_barcodemae import BarcodeMAEConfig
    from barcodefm.models.modeling_barcodemae import BarcodeMAEForPreTraining, BarcodeMAEModel
    from barcodefm.trainers.options import MAX_BASES

    run = Path(tempfile.mkdtemp(prefix="mae-collapse-")) / "run"
    cmd = [
        sys.executable,
        "-m",
        "barcodefm.cli",
        "pretrain",
        "--model",
        "barcodemae",
        "--data",
        str(sample_path("coi")),
        "--output",
        str(run),
        "--d-model",
        "64",
        "--n-layer",
        "2",
        "--max-steps",
        str(args.steps),
        "--save-steps",
        "100",
        "--save-total-limit",
        "100",
        "--keep-checkpoints",
        "--batch-size",
        "32",
        "--lr",
        "2e-3",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    records = list(iter_barcodes(sample_path("coi")))
    train = [r for r in records if r["split"] == "train"][:800]
    unseen = [r for r in records if r["split"] == "unseen_query"]
    val = [r["sequence"][:MAX_BASES] for r in records if r["split"] == "val"][:128]
    tok = load_tokenizer(run)
    enc = tok(val, padding=True, return_tensors="pt")
    rows = []
    for step in range(0, args.steps + 1, 100):
        if step == 0:
            torch.manual_seed(0)
            full = BarcodeMAEForPreTraining(BarcodeMAEConfig.from_pretrained(run))
        else:
            full = BarcodeMAEForPreTraining.from_pretrained(run / "checkpoints" / f"checkpoint-{step}")
        full.eval()
        encoder: BarcodeMAEModel = full.encoder
        with torch.no_grad():
            ref = encoder.embed_sequences([r["sequence"][:MAX_BASES] for r in train], tok, batch_size=64).double()
            qry = encoder.embed_sequences([r["sequence"][:MAX_BASES] for r in unseen], tok, batch_size=64).double()
            torch.manual_seed(0)
            loss = full(**enc).loss.item()
            hook = full.projection.register_forward_hook(
                lambda m, a, out: out.mean(dim=(0, 1), keepdim=True).expand_as(out)
            )
            torch.manual_seed(0)
            blind = full(**enc).loss.item()
            hook.remove()
        centre = ref.mean(0)
        cosine = torch.nn.functional.cosine_similarity(ref, centre[None], dim=1).mean().item()
        share = (centre.norm() ** 2 / (ref.norm(dim=1) ** 2).mean()).item()
        genus = [r["genus"] for r in unseen]
        labels = [r["genus"] for r in train]
        raw = sum(a == b for a, b in zip(knn_predict(ref, labels, qry, progress=False), genus)) / len(genus)
        cen = sum(a == b for a, b in zip(knn_predict(ref - centre, labels, qry - centre, progress=False), genus)) / len(
            genus
        )
        rows.append(dict(step=step, cosine=cosine, share=share, raw=raw, centred=cen, loss=loss, blind=blind))
    lines = [
        "| step | centroid cosine | common-component energy | 1-NN genus (unseen), raw | centred | masked-token loss | loss, encoder output replaced by its mean |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['step']} | {r['cosine']:.6f} | {r['share']:.4f} | {100 * r['raw']:.1f} | {100 * r['centred']:.1f} | "
        f"{r['loss']:.3f} | {r['blind']:.3f} |"
        for r in rows
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    (out / "mae_collapse.json").write_text(json.dumps(rows, indent=1))
    (out / "mae_collapse_table.md").write_text(
        f"Command: `python benchmarks/mae_collapse.py --steps {args.steps}`\n\n{text}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
