"""A reference index: labelled barcodes embedded once by a model, searched by nearest neighbour.

An index folder holds:

- ``embeddings/shard-*.safetensors``: the references' embeddings (float32, as the model gives
  them) in finished shards of consecutive records, with their ids and labels (:mod:`.shards`);
  ``embeddings/plan.json`` records the shard size, so a killed build continues where it stopped;
- ``ids.txt``: the reference ids, one per line, in index order;
- ``labels.safetensors``: ``labels.<rank>`` (int32 codes into ``label_names.json``'s list for that
  rank, -1 where the reference has no label at that rank);
- ``index.faiss``: the FAISS index over the L2-normalised embeddings (:mod:`.vector_search`);
- ``index.json``: the model (name and weights SHA-256), the embedding settings, the number of
  references, the ranks, the search kind and its parameters, the sources and build commands;
- ``README.md``: a card describing it, so the folder can be released to the Hub like a model.

``build_index`` makes one, ``add_to_index`` appends references (new shards; the FAISS index is
extended, or rebuilt when its kind changes), ``ReferenceIndex.load`` opens one for searching.
Both embed on every process of a ``torchrun`` / ``accelerate launch`` run (:mod:`.shards`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import vector_search
from .processes import barrier, finish_distributed, is_main_process, join_process_group, process_device, process_share
from .shards import (
    PLAN_FILE,
    SHARD_SIZE,
    check_plan,
    embed_in_shards,
    iter_shards,
    shard_numbers,
    shard_path,
)

logger = logging.getLogger(__name__)

INDEX_FILE = "index.json"
SHARDS_DIR = "embeddings"
FAISS_FILE = "index.faiss"
IDS_FILE = "ids.txt"
LABELS_FILE = "labels.safetensors"
LABEL_NAMES_FILE = "label_names.json"
ADD_PLAN_FILE = "adding.json"  # an add in progress: its inputs and first shard
FORMAT = "barcodefm-reference-index"
VERSION = 1


@dataclass(frozen=True)
class Reading:
    """How the references are read and embedded (the options ``index build`` and ``add`` share)."""

    batch_size: int = 64
    device: str | None = None
    format: str = "auto"
    marker: str | None = "COI-5P"
    trust_remote_code: bool = False


class _Embedder:
    """The model's embedding of barcodes as classify computes it: the first ``max_length`` bases
    (the fine-tuning run's), the model's own pooling."""

    def __init__(self, model_dir, reading: Reading):
        from ..factory import _config_dict, load_model, load_tokenizer
        from ..inference.classify import trained_max_length
        from ..inference.orientation import Strands

        self.tokenizer = load_tokenizer(model_dir, trust_remote_code=reading.trust_remote_code)
        self.model = load_model(model_dir, "AutoModel", trust_remote_code=reading.trust_remote_code).eval()
        self.model.to(process_device(reading.device))
        self.max_length = trained_max_length(model_dir)
        self.pooling = getattr(self.model.config, "pooling", None) or _config_dict(model_dir).get("pooling")
        self.strands = Strands.of(model_dir)  # references are embedded on the model's strand, as queries

    def __call__(self, sequences: list[str]) -> np.ndarray:
        import torch

        cut = [s[: self.max_length] for s in self.strands(sequences)]
        with torch.no_grad():
            return self.model.embed_sequences(cut, self.tokenizer, batch_size=len(cut)).numpy()


def _readers(references: Sequence[str | Path], reading: Reading):
    from ..data import iter_barcodes

    paths = [Path(p) for p in references]
    for path in paths:  # before the model loads: a typo fails at once
        if not path.exists():
            raise FileNotFoundError(f"reference file not found: {path}")
        if path.is_dir():
            raise IsADirectoryError(f"expected a barcode file, got a directory: {path}")
    return [iter_barcodes(p, format=reading.format, marker=reading.marker) for p in paths]


def _check_labelled(readers, allow_unlabelled: bool) -> None:
    """Refuse files that carry no taxonomic labels at all (a plain FASTA, a table without rank
    columns) before the model loads: their references could be found as neighbours but never vote,
    so an index of them gives no per-rank calls. ``allow_unlabelled`` takes them (a logged warning)."""
    bare = [r.path.name for r in readers if not r.ranks]
    if not bare:
        return
    what = (
        f"{', '.join(bare)} {'carries' if len(bare) == 1 else 'carry'} no taxonomic labels (no rank columns or headers)"
    )
    if not allow_unlabelled:
        raise ValueError(
            f"{what}: {'its' if len(bare) == 1 else 'their'} references could not vote, so the index would give "
            "nearest references but no per-rank calls. Give labelled references (BOLD TSV, UNITE/SINTAX/BOLD "
            "FASTA headers), or pass --allow-unlabelled (allow_unlabelled=True) to index them anyway"
        )
    logger.warning("%s: indexed anyway (allow_unlabelled); they are found as neighbours but do not vote", what)


def _records(readers):
    for reader in readers:
        yield from reader


def _ranks_of(readers) -> list[str]:
    from ..data.labels import RANKS

    present = {r for reader in readers for r in reader.ranks}
    return [r for r in RANKS if r in present]


def _embed_references(folder: Path, readers, embedder: _Embedder, ranks: list[str], **options) -> int:
    """Embed this process's shards of the references (progress shown by the first process)."""
    from ..inference.progress import Progress, reader_total

    rank, world = process_share()
    progress = report = None
    if rank == 0:
        totals = [reader_total(r) for r in readers]
        progress = Progress("indexing", "embedded", total=None if None in totals else sum(totals))
        report = lambda n: progress.update_to(sum(r.rejects.n_read for r in readers), n)  # noqa: E731
    n = embed_in_shards(
        _records(readers),
        folder / SHARDS_DIR,
        embedder,
        label_ranks=ranks,
        rank=rank,
        world=world,
        on_records=report,
        **options,
    )
    if progress:
        progress.close()
    return n


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def _label_table(folder: Path, n_shards: int, ranks: list[str]):
    """(ids, {rank: int32 codes}, {rank: names}) over every shard, names in order of first appearance
    (so an ``add`` keeps the codes of the references before it)."""
    from .shards import read_shard_metadata

    ids: list[str] = []
    names: dict[str, dict[str, int]] = {r: {} for r in ranks}
    codes: dict[str, list[int]] = {r: [] for r in ranks}
    for number in range(n_shards):
        shard_ids, labels = read_shard_metadata(shard_path(folder / SHARDS_DIR, number))
        ids += shard_ids
        for r in ranks:
            table = names[r]
            for value in labels.get(r) or [None] * len(shard_ids):
                codes[r].append(-1 if value is None else table.setdefault(value, len(table)))
    return ids, {r: np.asarray(c, dtype=np.int32) for r, c in codes.items()}, {r: list(t) for r, t in names.items()}


def _search_index(folder: Path, settings: dict, numbers: Sequence[int], index=None):
    """The FAISS index over the shards ``numbers`` (added to ``index`` when given)."""
    if index is None:
        training = None
        if settings["kind"] == "ivf":  # k-means cells from up to ~100,000 vectors, some of every shard
            per_shard = max(1, 100_000 // max(1, len(numbers)))
            training = np.concatenate([v[:per_shard] for _, _, v in iter_shards(folder / SHARDS_DIR, numbers)])
        dim = None
        for _, _, vectors in iter_shards(folder / SHARDS_DIR, numbers[:1]):
            dim = vectors.shape[1]
        index = vector_search.new_index(dim, settings, training)
    for _, _, vectors in iter_shards(folder / SHARDS_DIR, numbers):
        index.add(vector_search.normalized(vectors))
    return index


def _finish(folder: Path, info: dict, n_shards: int, previous: dict | None) -> dict:
    """Write the ids, labels, FAISS index, ``index.json`` and card from the shards (first process)."""
    from safetensors.numpy import save_file

    from ..inference.embed import _write_ids
    from .card import write_card

    start = time.perf_counter()
    ids, codes, names = _label_table(folder, n_shards, info["ranks"])
    settings = vector_search.search_settings(len(ids), info["requested_kind"], info["exact_below"])
    if previous is not None and previous["search"]["kind"] == settings["kind"] and (folder / FAISS_FILE).is_file():
        settings = previous["search"]  # the same kind: extend the index with the new shards only
        index = _search_index(
            folder, settings, list(range(previous["n_shards"], n_shards)), vector_search.load(folder / FAISS_FILE)
        )
    else:
        index = _search_index(folder, settings, list(range(n_shards)))
    vector_search.save(index, folder / f".{FAISS_FILE}.tmp")
    os.replace(folder / f".{FAISS_FILE}.tmp", folder / FAISS_FILE)
    _write_ids(folder / IDS_FILE, ids, mode="w")
    save_file({f"labels.{r}": c for r, c in codes.items()}, str(folder / LABELS_FILE))
    _write_json(folder / LABEL_NAMES_FILE, names)
    unlabelled = np.ones(len(ids), dtype=bool)
    for r in info["ranks"]:
        unlabelled &= codes[r] < 0
    _warn_unlabelled(int(unlabelled.sum()), len(ids))
    info.update(
        n_references=len(ids),
        n_shards=n_shards,
        labels_per_rank={r: len(names[r]) for r in info["ranks"]},
        labelled_per_rank={r: int((codes[r] >= 0).sum()) for r in info["ranks"]},
        unlabelled_references=int(unlabelled.sum()),
        search=settings,
        search_build_seconds=round(time.perf_counter() - start, 3),
    )
    _write_json(folder / INDEX_FILE, info)
    write_card(folder, info)
    return info


def _warn_unlabelled(n_unlabelled: int, n: int) -> None:
    if n_unlabelled:
        logger.warning(
            "%s of %s references have no label at any rank: they are returned as nearest references but do not "
            "vote (index info shows the labelled share per rank)",
            f"{n_unlabelled:,}",
            f"{n:,}",
        )


def build_index(
    model: str,
    references: Sequence[str | Path],
    output: str | Path,
    *,
    shard_size: int = SHARD_SIZE,
    kind: str = "auto",
    exact_below: int = vector_search.EXACT_BELOW,
    resume: bool = False,
    overwrite: bool = False,
    allow_unlabelled: bool = False,
    command: str | None = None,
    **reading,
) -> dict:
    """Embed the labelled ``references`` (barcode files of any format the readers take) with
    ``model`` (a bundled name, a folder or a Hub id) into a new index folder ``output``.
    ``reading``: the fields of :class:`Reading` (batch size, device, file format, marker, ...).

    A file without any taxonomic labels is refused before anything is embedded, unless
    ``allow_unlabelled``; references without a label at any rank are counted in ``index.json``
    (``unlabelled_references``) and in a logged warning.

    Resumable: a killed build continues with ``resume=True`` after its finished shards. Under
    ``torchrun`` / ``accelerate launch`` each process embeds its own shards; the first writes the
    index. Returns the index's ``index.json`` content (on every process: read back after the build).
    """
    from ..outputs import OutputClashError, OutputExistsError, claim_output
    from ..registry import resolve_model
    from .model_identity import weights_sha256

    vector_search.search_settings(1, kind, exact_below)  # a bad kind fails before anything slow
    output = Path(output)
    if resume and (output / INDEX_FILE).is_file():
        raise OutputExistsError(f"{output} is a finished index: add references with `barcodefm index add`")
    claim_output(output, overwrite=overwrite, resume=resume, inputs=references)
    inside = [str(p) for p in references if Path(p).resolve().is_relative_to(output.resolve())]
    if inside:  # --overwrite empties the folder first: it must not hold what is read
        raise OutputClashError(f"the index folder {output} holds the reference file {inside[0]}: choose another -o")
    reading = Reading(**reading)
    readers = _readers(references, reading)
    _check_labelled(readers, allow_unlabelled)
    model_dir = resolve_model(model)
    join_process_group()
    if is_main_process() and overwrite and output.exists():
        shutil.rmtree(output)
        output.mkdir(parents=True)
    start = time.perf_counter()
    embedder = _Embedder(model_dir, reading)
    batch_size, shard_size = _sizes(reading.batch_size, shard_size)
    ranks = _ranks_of(readers)
    info = {
        "format": FORMAT,
        "version": VERSION,
        # a folder by its absolute path (so `index add` finds it from anywhere); a bundled name or Hub id as given
        "model": str(Path(model).resolve()) if Path(str(model)).is_dir() else str(model),
        "model_sha256": weights_sha256(model_dir),
        "max_length": embedder.max_length,
        "pooling": embedder.pooling,
        "shard_size": shard_size,
        "ranks": ranks,
        "requested_kind": kind,
        "exact_below": exact_below,
    }
    if is_main_process():
        plan = {k: info[k] for k in ("model_sha256", "max_length", "shard_size", "ranks")}
        check_plan(output / SHARDS_DIR, plan | {"inputs": [str(Path(p).resolve()) for p in references]})
    barrier()  # the output is checked before any process writes to it
    n = _embed_references(output, readers, embedder, ranks, batch_size=batch_size, shard_size=shard_size, first_shard=0)
    embedder.strands.log()
    barrier()
    if is_main_process():
        if not n:
            from ..data.readers import no_records_error

            shutil.rmtree(output, ignore_errors=True)
            raise no_records_error(readers[0])
        info.update(
            sources=[_source(r) for r in readers],
            commands=[command or _command("build", model, references, output)],
            embed_seconds=round(time.perf_counter() - start, 1),
            processes=process_share()[1],
        )
        _finish(output, info, math.ceil(n / shard_size), previous=None)
    finish_distributed()
    return json.loads((output / INDEX_FILE).read_text())


def add_to_index(
    index_dir: str | Path,
    references: Sequence[str | Path],
    *,
    model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    allow_unlabelled: bool = False,
    command: str | None = None,
    **reading,
) -> dict:
    """Append the labelled ``references`` to the index ``index_dir`` (embedded with its model, or
    ``model`` when given: its weights must be the same). An add killed mid-way is continued by
    ``resume=True`` (same references) or dropped by ``overwrite=True``. Unlabelled files: as
    :func:`build_index`. Returns the new ``index.json``."""
    from ..data.labels import RANKS
    from ..registry import resolve_model
    from .model_identity import check_same_model

    folder = Path(index_dir)
    info = load_info(folder)
    reading = Reading(**reading)
    readers = _readers(references, reading)
    _check_labelled(readers, allow_unlabelled)
    model_dir = resolve_model(model or info["model"])
    check_same_model(info, model_dir, str(folder))
    join_process_group()
    first = int(info["n_shards"])
    plan = {"first_shard": first, "inputs": [str(Path(p).resolve()) for p in references]}
    if is_main_process():
        leftover = [n for n in shard_numbers(folder / SHARDS_DIR) if n >= first]
        adding = folder / SHARDS_DIR / ADD_PLAN_FILE
        if (leftover or adding.is_file()) and overwrite:
            for n in leftover:
                shard_path(folder / SHARDS_DIR, n).unlink()
            adding.unlink(missing_ok=True)
        elif (leftover or adding.is_file()) and not resume:
            from ..outputs import OutputExistsError

            raise OutputExistsError(
                f"{folder} holds an unfinished add: pass --resume to continue it (same references) or --overwrite "
                "to drop it"
            )
        _check_add_plan(adding, plan)
    barrier()
    start = time.perf_counter()
    embedder = _Embedder(model_dir, reading)
    batch_size, _ = _sizes(reading.batch_size, info["shard_size"])
    all_ranks = [r for r in RANKS if r in set(info["ranks"]) | set(_ranks_of(readers))]
    n = _embed_references(
        folder, readers, embedder, all_ranks, batch_size=batch_size, shard_size=info["shard_size"], first_shard=first
    )
    embedder.strands.log()
    barrier()
    if is_main_process():
        previous = dict(info)
        info.update(
            ranks=all_ranks,
            sources=info.get("sources", []) + [_source(r) for r in readers],
            commands=info.get("commands", []) + [command or _command("add", None, references, folder)],
            embed_seconds=round(info.get("embed_seconds", 0.0) + time.perf_counter() - start, 1),
        )
        _finish(folder, info, first + math.ceil(n / info["shard_size"]), previous=previous)
        (folder / SHARDS_DIR / ADD_PLAN_FILE).unlink(missing_ok=True)
    finish_distributed()
    return load_info(folder)


def _check_add_plan(path: Path, plan: dict) -> None:
    if path.is_file() and json.loads(path.read_text()) != plan:
        raise ValueError(
            f"{path.parent.parent} holds an unfinished add of other references: pass --overwrite to drop it"
        )
    _write_json(path, plan)


def _sizes(batch_size: int, shard_size: int) -> tuple[int, int]:
    """Shards of whole batches: every batch holds the records it would hold in one process."""
    if batch_size < 1 or shard_size < 1:
        raise ValueError(f"batch size and shard size must be >= 1, got {batch_size} and {shard_size}")
    return batch_size, math.ceil(shard_size / batch_size) * batch_size


def _source(reader) -> dict:
    return {"file": reader.path.name, "records": reader.rejects.n_read, "skipped": reader.rejects.total}


def _command(verb: str, model, references, output) -> str:
    import shlex

    parts = ["barcodefm", "index", verb]
    if verb == "build":
        parts += ["--model", str(model), *map(str, references), "-o", str(output)]
    else:
        parts += [str(output), *map(str, references)]
    return shlex.join(parts)


def load_info(index_dir: str | Path) -> dict:
    """The ``index.json`` of a finished index (a clear error for anything else)."""
    path = Path(index_dir) / INDEX_FILE
    if not path.is_file():
        if (Path(index_dir) / SHARDS_DIR / PLAN_FILE).is_file():
            raise ValueError(
                f"{index_dir} is an unfinished index build: continue it with `barcodefm index build ... --resume`"
            )
        raise FileNotFoundError(f"{index_dir} is not a barcodefm reference index (no {INDEX_FILE})")
    info = json.loads(path.read_text())
    if info.get("format") != FORMAT:
        raise ValueError(f"{path} is not a barcodefm reference index")
    return info


class ReferenceIndex:
    """A finished index, opened for searching: ``search(embeddings, k)`` -> (similarities, rows);
    ``ids``, ``codes`` (rank -> int32 array) and ``names`` (rank -> list) name the rows."""

    def __init__(self, folder: str | Path):
        from safetensors.numpy import load_file

        from ..inference.embed import _read_ids

        self.folder = Path(folder)
        self.info = load_info(self.folder)
        self.ranks: list[str] = list(self.info["ranks"])
        self.ids = _read_ids(self.folder / IDS_FILE)
        labels = load_file(str(self.folder / LABELS_FILE))
        self.codes = {r: labels[f"labels.{r}"] for r in self.ranks}
        self.names = json.loads((self.folder / LABEL_NAMES_FILE).read_text())
        self.index = vector_search.load(self.folder / FAISS_FILE, self.info["search"])
        if len(self.ids) != self.index.ntotal:
            raise ValueError(f"{self.folder}: {len(self.ids)} ids but {self.index.ntotal} indexed embeddings")

    @classmethod
    def load(cls, folder: str | Path) -> ReferenceIndex:
        return cls(folder)

    def __len__(self) -> int:
        return len(self.ids)

    def check_model(self, model_dir: str | Path) -> None:
        """A ValueError unless ``model_dir`` holds the weights the index was built with."""
        from .model_identity import check_same_model

        check_same_model(self.info, model_dir, f"the index {self.folder}")

    def search(self, embeddings, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(cosine similarities, rows), each (n_queries, k), most similar first (-1: no reference)."""
        queries = embeddings.numpy() if hasattr(embeddings, "numpy") else np.asarray(embeddings)
        return vector_search.search(self.index, queries, min(k, len(self)))

    def label(self, rank: str, row: int) -> str | None:
        code = int(self.codes[rank][row]) if rank in self.codes and row >= 0 else -1
        return None if code < 0 else self.names[rank][code]
