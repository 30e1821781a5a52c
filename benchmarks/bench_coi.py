"""The COI benchmark set and the four pretrained models shared by the accuracy table, the cost
benchmark and the UMAP plot: pretrained once per work folder and size, reused afterwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench_common import BenchContext
from bench_data import BenchData, load_bench_data
from bench_training import ModelSpec, TrainRecord, coi_models, pretrain
from tqdm.auto import tqdm

logger = logging.getLogger("benchmarks")

COI_PRETRAIN_SPLITS = ("train", "pretrain_only")


@dataclass
class PretrainedModel:
    spec: ModelSpec
    record: TrainRecord


_cache: dict[tuple, object] = {}


def coi_data(ctx: BenchContext) -> BenchData:
    """Train and pretrain_only whole; test and unseen_query subsampled as the size says."""
    key = ("coi", ctx.size.name, str(ctx.work))
    if key not in _cache:
        _cache[key] = load_bench_data(
            ctx,
            ctx.size.coi_data,
            "coi",
            train_splits=("train",),
            pretrain_splits=COI_PRETRAIN_SPLITS,
            query_limits={"test": ctx.size.n_test_queries, "unseen_query": ctx.size.n_unseen_queries},
            reference_limit=ctx.size.n_train_reference,
        )
    return _cache[key]


def pretrained_coi_model(ctx: BenchContext, spec: ModelSpec) -> PretrainedModel:
    """One COI model, pretrained for ``size.pretrain_seconds`` on train + pretrain_only."""
    key = ("coi-model", spec.slug, ctx.size.name, str(ctx.work))
    if key not in _cache:
        record = pretrain(
            ctx,
            spec,
            coi_data(ctx).path,
            COI_PRETRAIN_SPLITS,
            ctx.size.pretrain_seconds,
            ctx.work_dir("coi") / spec.slug / "pretrained",
        )
        _cache[key] = PretrainedModel(spec, record)
    return _cache[key]


def pretrained_coi_models(ctx: BenchContext, names: list[str] | None = None) -> list[PretrainedModel]:
    """The COI models (all four, or those named), pretrained with equal budgets."""
    specs = [s for s in coi_models() if names is None or s.name in names]
    if names is not None and len(specs) != len(names):
        known = ", ".join(s.name for s in coi_models())
        raise ValueError(f"unknown COI model(s) among {names}; the benchmark models are: {known}")
    return [pretrained_coi_model(ctx, spec) for spec in tqdm(specs, desc="pretrained COI models", unit="model")]
