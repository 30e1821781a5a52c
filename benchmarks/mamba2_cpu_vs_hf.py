"""BarcodeMamba's pure-PyTorch Mamba-2 path vs Hugging Face's own `Mamba2Model` torch path, CPU.

Equal work (SPEC 7): HF's Mamba2 blocks have no MLP, so our model runs with d_intermediate=0;
the MLP configuration is reported in separate rows. Both fp32, same sizes, same threads, in one
run; the table reports tokens/s, our/HF ratios and the achieved GFLOP/s of our forward.

    python benchmarks/mamba2_cpu_vs_hf.py            # full table (several minutes on 2 cores)
    python benchmarks/mamba2_cpu_vs_hf.py --quick    # one size, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def forward_flops(d_model, headdim, d_state, n_layer, length, batch, chunk, d_intermediate=0):
    """Multiply-adds x2 of one forward (projections, conv, SSD terms, MLP); norms ignored."""
    d_inner = 2 * d_model
    h = d_inner // headdim
    conv_dim = d_inner + 2 * d_state
    per_token = 2 * d_model * (2 * d_inner + 2 * d_state + h) + 2 * d_inner * d_model + 2 * 4 * conv_dim
    T = min(chunk, length)
    # intra-chunk C.B^T, scores@X, chunk states, state->output (per token, averaged over a chunk)
    per_token += 2 * T * d_state + 2 * T * headdim * h / 2 + 2 * 2 * headdim * d_state * h
    per_token += 4 * d_model * d_intermediate
    return per_token * length * batch * n_layer


def time_call(fn, repeats):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def bench(model, ids, repeats, backward, block_rows=None):
    """Seconds per call on the whole batch; ``block_rows`` runs it as row blocks (outputs concatenated)."""
    block_rows = block_rows or ids.shape[0]

    def run():
        out = [model(input_ids=ids[i : i + block_rows]).last_hidden_state for i in range(0, ids.shape[0], block_rows)]
        return torch.cat(out)

    if backward:
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            run().float().pow(2).mean().backward()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                run()

    return time_call(step, repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=64, help="our pure path's chunk size")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from transformers import Mamba2Config, Mamba2Model
    from transformers.utils import logging as hf_logging

    from barcodefm import BarcodeMambaConfig, BarcodeMambaModel

    hf_logging.set_verbosity_error()
    sizes = [(256, 64)] if args.quick else [(256, 64), (384, 48)]
    lengths = [660] if args.quick else [660, 110]
    rows = []
    for d_model, headdim in sizes:
        for length in lengths:
            ids = torch.randint(3, 8, (args.batch, length))
            common = dict(
                vocab_size=16,
                pad_token_id=None,
                d_model=d_model,
                headdim=headdim,
                d_state=64,
                n_layer=2,
                embed_dropout=0.0,
                torch_chunk_size=args.chunk,
                use_kernels="never",
            )
            ours = BarcodeMambaModel(BarcodeMambaConfig(d_intermediate=0, **common))
            ours_unblocked = BarcodeMambaModel(BarcodeMambaConfig(d_intermediate=0, cpu_block_tokens=0, **common))
            ours_unblocked.load_state_dict(ours.state_dict())
            block_rows = max(1, ours.config.cpu_block_tokens // length)
            ours_mlp = BarcodeMambaModel(BarcodeMambaConfig(**common))
            hf = Mamba2Model(
                Mamba2Config(
                    vocab_size=16,
                    hidden_size=d_model,
                    num_hidden_layers=2,
                    head_dim=headdim,
                    num_heads=2 * d_model // headdim,
                    state_size=64,
                    expand=2,
                    n_groups=1,
                )
            )
            n_tok = args.batch * length
            for mode in ("forward", "forward+backward"):
                bw = mode != "forward"
                reps = max(1, args.repeats - (1 if bw else 0))
                t_ours = bench(ours, ids, reps, bw)
                t_hf = bench(hf, ids, reps, bw)
                t_unblocked = bench(ours_unblocked, ids, reps, bw)
                t_hf_blocked = bench(hf, ids, reps, bw, block_rows)
                t_mlp = bench(ours_mlp, ids, reps, bw)
                flops = forward_flops(d_model, headdim, 64, 2, length, args.batch, args.chunk) * (3 if bw else 1)
                rows.append(
                    dict(
                        d_model=d_model,
                        headdim=headdim,
                        length=length,
                        mode=mode,
                        block_rows=block_rows,
                        ours_tok_s=n_tok / t_ours,
                        hf_tok_s=n_tok / t_hf,
                        ratio=t_hf / t_ours,
                        ours_unblocked_tok_s=n_tok / t_unblocked,
                        hf_blocked_tok_s=n_tok / t_hf_blocked,
                        ratio_same_blocks=t_hf_blocked / t_ours,
                        ours_gflop_s=flops / t_ours / 1e9,
                        ours_mlp_tok_s=n_tok / t_mlp,
                    )
                )
                r = rows[-1]
                print(
                    f"d={d_model} L={length} {mode:17s} ours {r['ours_tok_s']:9.0f} tok/s  HF {r['hf_tok_s']:9.0f} "
                    f"tok/s  ratio {r['ratio']:.2f}x  (HF in our row blocks: {r['ratio_same_blocks']:.2f}x; "
                    f"{r['ours_gflop_s']:.1f} GFLOP/s)",
                    flush=True,
                )
    write(rows, args)


def write(rows, args):
    RESULTS.mkdir(parents=True, exist_ok=True)
    cmd = "python benchmarks/mamba2_cpu_vs_hf.py" + (" --quick" if args.quick else "")
    lines = [
        f"Mamba-2 CPU throughput, fp32, batch {args.batch}, {args.threads} threads, 2 layers, d_state 64; "
        f"ours: pure-PyTorch chunked SSD (chunk {args.chunk}) with d_intermediate=0 (equal work), run as "
        "the model runs by default on CPU, in row blocks of `cpu_block_tokens` (8,192) tokens; "
        '"unblocked": the same weights with `cpu_block_tokens=0`. '
        "HF: `transformers.Mamba2Model` torch path at its defaults (chunk 256), on the whole batch and, to show "
        "what the blocking alone buys, called on our row blocks. "
        f"Command: `{cmd}`. Device: {torch.get_num_threads()}-thread CPU, torch {torch.__version__}.",
        "",
        "| d_model | headdim | L | pass | ours tok/s | HF tok/s | **ours / HF** | ours unblocked tok/s "
        "| HF in our row blocks tok/s | ours / HF in row blocks | ours GFLOP/s | ours + MLP (4d) tok/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['d_model']} | {r['headdim']} | {r['length']} | {r['mode']} | {r['ours_tok_s']:.0f} | "
            f"{r['hf_tok_s']:.0f} | **{r['ratio']:.2f}x** | {r['ours_unblocked_tok_s']:.0f} | "
            f"{r['hf_blocked_tok_s']:.0f} | {r['ratio_same_blocks']:.2f}x | {r['ours_gflop_s']:.1f} | "
            f"{r['ours_mlp_tok_s']:.0f} |"
        )
    (RESULTS / "mamba2_cpu_vs_hf.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "mamba2_cpu_vs_hf.json").write_text(json.dumps(rows, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"d{r['d_model']} L{r['length']}\n{r['mode'].replace('forward+backward', 'fwd+bwd')}" for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows)), 4))
    ax.bar([i - 0.2 for i in x], [r["ours_tok_s"] for r in rows], width=0.4, label="barcodefm (pure PyTorch)")
    ax.bar(
        [i + 0.2 for i in x], [r["hf_tok_s"] for r in rows], width=0.4, label="transformers Mamba2Model (torch path)"
    )
    for i, r in enumerate(rows):
        ax.text(i, max(r["ours_tok_s"], r["hf_tok_s"]), f"{r['ratio']:.1f}x", ha="center", va="bottom")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("tokens / s")
    ax.set_title("Mamba-2 on CPU (fp32, equal work)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "mamba2_cpu_vs_hf.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
