"""The few lines ``barcodefm finetune`` and ``barcodefm pretrain`` print when they finish: where the
model is and each split's headline numbers. Every metric stays in the run folder's
``eval_results.json`` (and ``train_log.jsonl``, ``predictions_<split>.tsv``)."""

from __future__ import annotations

import math
from pathlib import Path

from .run_directory import RESULTS_FILE


def _pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _number(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def _training_line(verb: str, what: str, results: dict) -> str:
    return (
        f"{verb} {what} on {results.get('n_train', 0):,} barcodes: {results.get('global_step', 0):,} steps, "
        f"train loss {_number(results.get('train_loss'))}"
    )


def _split_line(name: str, metrics: dict, ranks: list[str] | None) -> str:
    everything, dedup = metrics.get("all", {}), metrics.get("dedup", {})
    if ranks:  # taxonomy: accuracy per rank, the last rank also on the sequences not in training
        last = ranks[-1]
        per_rank = ", ".join(f"{rank} {_pct(everything.get(rank, {}).get('accuracy'))}" for rank in ranks)
        return (
            f"  {name}: accuracy {per_rank}; {last} {_pct(dedup.get(last, {}).get('accuracy'))} on sequences "
            f"not in train; consistent {_pct(metrics.get('consistent'))}"
        )
    return (
        f"  {name} ({everything.get('n', 0):,} barcodes): accuracy {_pct(everything.get('accuracy'))}, "
        f"macro F1 {_pct(everything.get('macro_f1'))}; on the {dedup.get('n', 0):,} sequences not in train "
        f"{_pct(dedup.get('accuracy'))}"
    )


def finetune_summary(results: dict, output: str | Path) -> str:
    """A few lines from :func:`~barcodefm.trainers.finetuning.run_finetuning`'s results."""
    ranks = results.get("ranks")
    if results.get("task") == "taxonomy" and ranks:
        n_labels = results.get("n_labels") or {}
        what = "a taxonomic classifier (" + ", ".join(f"{n_labels.get(r, '?')} {r}" for r in ranks) + ")"
    else:
        ranks = None
        what = f"a {results.get('label_column', 'species')} classifier ({results.get('n_labels', '?')} labels)"
    lines = [_training_line("fine-tuned", what + (" with LoRA" if results.get("lora") else ""), results)]
    lines += [
        _split_line(name, metrics, ranks)
        for name, metrics in results.items()
        if isinstance(metrics, dict) and "all" in metrics
    ]
    novelty = results.get("novelty")
    if isinstance(novelty, dict) and novelty.get("saved"):
        lines.append(
            f"  novelty: score > {_number(novelty.get('threshold'))} flags "
            f"{_pct(novelty.get('detection_rate'))} of unseen-species and "
            f"{_pct(novelty.get('false_alarm_rate'))} of seen-species validation barcodes"
        )
    lines.append(f"model saved to {output}; every metric in {Path(output) / RESULTS_FILE}")
    return "\n".join(lines)


def pretrain_summary(results: dict, output: str | Path) -> str:
    """A few lines from :func:`~barcodefm.trainers.pretraining.run_pretraining`'s results."""
    lines = [_training_line("pretrained", f"{results.get('family')} ({results.get('objective')})", results)]
    for name, metrics in (results.get("eval") or {}).items():
        ppl = f", perplexity {_number(metrics['perplexity'])}" if "perplexity" in metrics else ""
        lines.append(f"  {name} ({metrics.get('n', 0):,} barcodes): loss {_number(metrics.get('loss'))}{ppl}")
    lines.append(f"model saved to {output}; every metric in {Path(output) / RESULTS_FILE}")
    return "\n".join(lines)
