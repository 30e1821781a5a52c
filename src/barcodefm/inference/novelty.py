"""Novelty: how far a query's embedding lies from every training barcode (issue 5).

At fine-tune time the embeddings of the training references are saved next to the model
(``novelty_reference.safetensors``) with a distance threshold calibrated on validation data
(``novelty.json``). At classify time ``novelty`` = cosine distance of the query to its nearest
reference, and ``likely_novel`` = novelty above the threshold.

Calibration: with validation queries of seen species AND of species absent from training (the
``unseen_*`` splits), the threshold maximises balanced accuracy (Youden's J) of "distance > t"
as a novel-species detector; with seen-species validation only, it is the 95th percentile of
their distances (5% false alarms on known species).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

REFERENCE_FILE = "novelty_reference.safetensors"
NOVELTY_FILE = "novelty.json"


def nearest_distance(queries, references) -> np.ndarray:
    """Cosine distance (1 - cosine similarity) of each query to its nearest reference."""
    from ..evaluation.knn import nearest_neighbors

    _, sims = nearest_neighbors(queries, references, k=1, progress=False)
    return 1.0 - sims[:, 0]


def calibrate_threshold(seen: np.ndarray, novel: np.ndarray | None = None, quantile: float = 0.95) -> dict:
    seen = np.asarray(seen, dtype=np.float64)
    if novel is None or len(novel) == 0:
        t = float(np.quantile(seen, quantile))
        return {
            "threshold": t,
            "method": f"{quantile:.0%} quantile of seen-species validation distances",
            "false_alarm_rate": float((seen > t).mean()),
        }
    novel = np.asarray(novel, dtype=np.float64)
    candidates = np.unique(np.concatenate([seen, novel]))
    best_t, best_j = float(candidates[0]), -1.0
    for t in candidates:
        j = (novel > t).mean() + (seen <= t).mean() - 1.0
        if j > best_j:
            best_t, best_j = float(t), float(j)
    return {
        "threshold": best_t,
        "method": "max balanced accuracy (Youden J) on seen vs unseen-species validation",
        "detection_rate": float((novel > best_t).mean()),
        "false_alarm_rate": float((seen > best_t).mean()),
        "balanced_accuracy": float((best_j + 1.0) / 2.0),
    }


def build_novelty_reference(
    model,
    tokenizer,
    train_sequences,
    val_seen_sequences,
    val_novel_sequences=None,
    batch_size: int = 64,
    pooling: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """Embed the references, measure validation distances, calibrate. Returns (embeddings, info)."""
    kw = dict(batch_size=batch_size, pooling=pooling, progress=True)
    reference = model.embed_sequences(list(train_sequences), tokenizer, **kw)
    seen = nearest_distance(model.embed_sequences(list(val_seen_sequences), tokenizer, **kw), reference)
    novel = None
    if val_novel_sequences:
        novel = nearest_distance(model.embed_sequences(list(val_novel_sequences), tokenizer, **kw), reference)
    info = calibrate_threshold(seen, novel)
    info.update(
        n_references=int(reference.shape[0]),
        n_val_seen=int(len(seen)),
        n_val_novel=0 if novel is None else int(len(novel)),
        pooling=pooling or model.config.pooling,
    )
    return reference, info


def save_novelty_reference(model_dir: str | Path, reference: torch.Tensor, info: dict) -> None:
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    save_file({"embeddings": reference.float().contiguous()}, str(model_dir / REFERENCE_FILE))
    (model_dir / NOVELTY_FILE).write_text(json.dumps(info, indent=1))


def load_novelty_reference(model_dir: str | Path) -> tuple[torch.Tensor, dict] | None:
    model_dir = Path(model_dir)
    if not (model_dir / REFERENCE_FILE).exists():
        return None
    from safetensors.torch import load_file

    info = json.loads((model_dir / NOVELTY_FILE).read_text())
    return load_file(str(model_dir / REFERENCE_FILE))["embeddings"].float(), info  # stored as float16 or 32
