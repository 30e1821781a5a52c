"""``barcodefm classify``: a taxonomy table from a FASTA/TSV with a saved BarcodeMamba+ model, or
a label table with a species classifier (a ``*ForSequenceClassification`` folder, e.g. from
``barcodefm finetune`` or the demo's ``DIR/model``: columns ``id``, ``<label>``, ``<label>_prob``,
the label column being the run's ``--label-column``, ``species`` by default).

Columns: ``id``; per rank ``<rank>`` and ``<rank>_prob``; ``consistent`` (every predicted child
belongs to the predicted parent); ``novelty`` (how unlike the training barcodes the
query is: the folder's novelty score, :mod:`.novelty`) and ``likely_novel`` (above the folder's
threshold) when the model folder carries a novelty reference; with a reference set, before them,
the evidence of each call: ``nearest_reference``, ``nearest_identity``, ``nearest_by`` (the
nearest training reference by its own id, its alignment identity to the query and how it was
found: :mod:`.nearest`), for records of another marker too. With
``min_prob`` the assignment stops at the first rank below it (SINTAX-style): those cells are
empty rather than a guess. Rows are written and flushed batch by batch, one per kept record in
input order (a repeated id gets a row each time); ``resume=True`` keeps an existing output and
continues after its last complete row (by record position, checking the ids match). Beside the
table, ``OUT.provenance.json`` records the run: model and weights hash, versions, thresholds,
options, times and counts (:mod:`barcodefm.provenance`).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import iter_barcodes
from ..data.readers import no_records_error
from ..data.writers import from_spreadsheet_safe, spreadsheet_safe
from ..inputs import require_barcode_file
from ..models.taxonomy import predict
from ..outputs import Interrupted, claim_outputs, partial_path
from ..provenance import provenance_path
from .batching import iter_batches
from .kmer_reference import MAX_VOTE_BASES
from .nearest import NEAREST_COLUMNS, nearest_cells, nearest_references, reference_records
from .novelty import NOVELTY_FILE, NoveltyScore, index_distance_threshold, load_novelty_reference, nearest_distance
from .orientation import ORIENTATION_COLUMNS, MarkerProfile
from .progress import Progress, reader_total
from .reference_vote import ReferenceSet, as_logits, heads_and_embeddings

logger = logging.getLogger(__name__)


def _done_rows(path: Path) -> tuple[list[str], list[str]]:
    """(header, ids of the complete rows in order) of an output being resumed: its ``OUT.partial``
    when an interrupted ``--overwrite`` run left one (that is what :class:`_RowWriter` continues),
    else the output itself. Ids are read back from their spreadsheet-safe form.

    A kill can tear the last row anywhere, even inside its last cell, where it still parses to the
    right number of cells: a last row that does not end in a newline, or that has another width
    than the header, is cut off the file (and its record classified again). A wrong width before
    the last row is no kill's doing: the file is refused."""
    partial = partial_path(path)
    path = partial if partial.exists() else path
    header: list[str] | None = None
    ids: list[str] = []
    kept = 0  # bytes of the header and the complete rows
    torn = None
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):  # cells never hold a line break: one row a line
            if torn is not None:
                raise ValueError(
                    f"{path}: line {torn:,} does not have the header's {len(header or [])} cells: not a table "
                    "barcodefm classify wrote? pass --overwrite to start it again"
                )
            cells = next(csv.reader([raw.decode("utf-8", errors="replace").rstrip("\r\n")], delimiter="\t"), [])
            if not raw.endswith(b"\n") or (header is not None and len(cells) != len(header)):
                torn = number
                continue
            if header is None:
                header = cells
            else:
                ids.append(from_spreadsheet_safe(cells[0]))
            kept += len(raw)
    if torn is not None:
        logger.warning("%s: its last row was cut off by the interruption: it is classified again", path)
        with open(path, "r+b") as f:
            f.truncate(kept)
    return header or [], ids


def _table_counts(path: Path) -> dict:
    """Records read on the reverse strand and of another marker in a finished output."""
    n_reverse = n_other = 0
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            n_reverse += row.get("strand") == "reverse"
            n_other += row.get("status") == "other_marker"
    return {"reverse_strand": n_reverse, "other_marker": n_other}


class _RowWriter:
    """The output TSV, opened at the first row: a run that fails before classifying anything
    (an empty or unreadable input) leaves no file behind, and an output it was to replace intact.

    A new output is written in place, flushed batch by batch: a killed run keeps its rows for
    ``--resume``. An existing one (``--overwrite``) is replaced through ``OUT.partial``, renamed
    over it once every record is classified: a run that fails or is interrupted leaves the old
    output as it was and its finished rows in ``OUT.partial``, which ``--resume`` continues (and
    ``--overwrite`` starts again). Cells are written spreadsheet-safe. Ctrl-C ends the run with
    :class:`~barcodefm.outputs.Interrupted` (how many rows the file holds, and where).
    ``on_open(path)`` is called when the rows file opens, with the path the rows go to."""

    def __init__(self, path: Path, header: list[str], append: bool, on_open: Callable[[Path], None] | None = None):
        self.final, self.header, self.append, self.on_open = path, header, append, on_open
        partial = partial_path(path)
        # Continuing: where _done_rows found the finished rows. Starting: beside an old output.
        self.path = partial if (partial.exists() if append else path.exists()) else path
        self._file = self._writer = None

    @staticmethod
    def claim(
        output: str | Path, input_path: str | Path, rejects_path, overwrite: bool, resume: bool
    ) -> tuple[Path, Path | None]:
        """The output rule for ``output``, its provenance record and the rejects file
        (:func:`~barcodefm.outputs.claim_outputs`)."""
        output, rejects_path = claim_outputs(
            output, input_path, rejects_path, overwrite=overwrite, resume=resume, also=[provenance_path(output)]
        )
        partial = partial_path(output)
        if resume and not output.exists() and partial.exists():
            partial.replace(output)  # an interrupted replacement whose old output is gone: its rows are the output
            sidecar = provenance_path(output)
            if partial_path(sidecar).exists():
                partial_path(sidecar).replace(sidecar)
        return output, rejects_path

    def writerow(self, row: list[str]) -> None:
        if self._file is None:
            if self.path == self.final:  # a new output supersedes the rows of an older replacement
                partial_path(self.final).unlink(missing_ok=True)
                partial_path(provenance_path(self.final)).unlink(missing_ok=True)
            self._file = open(self.path, "a" if self.append else "w", encoding="utf-8", newline="")
            if self.on_open is not None:
                self.on_open(self.path)
            self._writer = csv.writer(self._file, delimiter="\t", lineterminator="\n")
            if not self.append:
                self._writer.writerow(self.header)
        self._writer.writerow([spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in row])

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._file is not None:
            self._file.close()
        if exc_type is None:
            if self.path != self.final and (self._file is not None or self.append):
                self.path.replace(self.final)  # the replacement is whole: only now does the old output go
        elif issubclass(exc_type, KeyboardInterrupt) and not isinstance(exc, Interrupted):
            n_rows = 0
            if self.path.exists():
                with open(self.path, "rb") as f:
                    n_rows = max(sum(1 for _ in f) - 1, 0)
            raise Interrupted(n_rows, self.path) from None


def trained_max_length(model_dir: str | Path) -> int | None:
    """The ``--max-length`` (bases) the model in ``model_dir`` was fine-tuned with: from the run's
    ``run_options.json`` (a ``barcodefm finetune`` folder) or ``identification.json`` (a released
    or bundled identifier); None otherwise."""
    for name in ("run_options.json", "identification.json"):
        path = Path(model_dir) / name
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                value = json.load(f).get("max_length")
            if value:
                return int(value)
    return None


def sequence_classifier_label(model_dir: str | Path) -> str | None:
    """The label column (``species`` unless the run's ``run_options.json`` names another) when
    ``model_dir`` holds a ``*ForSequenceClassification`` model with a label map; None otherwise."""
    from ..factory import _config_dict

    config = _config_dict(model_dir)
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures) or not config.get("id2label"):
        return None
    path = Path(model_dir) / "run_options.json"
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            return str(json.load(f).get("label_column") or "species")
    return "species"


def classify_file(
    model_dir: str | Path,
    input_path: str | Path,
    output: str | Path,
    batch_size: int = 64,
    min_prob: float | None = None,
    resume: bool = False,
    device: str | None = None,
    format: str = "auto",
    marker: str | None = "COI-5P",
    rejects_path: str | Path | None = None,
    max_length: int | None = None,
    overwrite: bool = False,
    trust_remote_code: bool = False,
    index: str | Path | None = None,
    index_k: int = 10,
    model_name: str | None = None,
) -> dict:
    """Classify every barcode of ``input_path`` into ``output`` (TSV, flushed per batch).

    With ``index`` (a folder of ``barcodefm index build``, made with this model) each row also gets
    the ``index_k`` nearest references, their per-rank vote and the call combining it with the
    model's (:mod:`barcodefm.index.nearest_calls`); ``min_prob`` then cuts the combined call, and a
    query is ``likely_novel`` only if it is new to the index too: its nearest index reference lies
    beyond the folder's embedding-distance threshold (:func:`.novelty.index_distance_threshold`);
    ``novelty`` stays the model's own score.

    Barcodes are cut to ``max_length`` bases; by default to the run's ``--max-length`` (from
    ``run_options.json`` in ``model_dir``), as in fine-tuning and in the novelty reference.
    An existing ``output`` is continued with ``resume`` (record by record position: the input's
    first rows must be the ones it holds), replaced with ``overwrite``, and refused otherwise.
    ``trust_remote_code`` lets a folder that is not a barcodefm model run its own code
    (barcodefm's own folders always load with the installed classes).

    ``OUT.provenance.json`` (:mod:`barcodefm.provenance`) records the run; ``model_name``: the
    model as the user named it (default: ``model_dir``). With ``resume``, rows made with other
    weights or other ``min_prob``, ``max_length``, ``index`` or ``index_k`` are refused.
    """
    from .. import provenance
    from ..factory import load_model, load_tokenizer

    started = provenance.now()
    require_barcode_file(input_path)  # before the model loads: a typo should fail at once
    output, rejects_path = _RowWriter.claim(output, input_path, rejects_path, overwrite=overwrite, resume=resume)
    reader = iter_barcodes(input_path, format=format, marker=marker, rejects_path=rejects_path)  # sniffed now
    given = {
        "min_prob": min_prob,
        "max_length": max_length,
        "batch_size": batch_size,
        "device": device,
        "format": format,
        "marker": marker,
        "rejects": None if rejects_path is None else str(rejects_path),
        "index": None if index is None else str(Path(index).resolve()),
        "index_k": index_k,
        "resume": resume,
        "overwrite": overwrite,
        "trust_remote_code": trust_remote_code,
    }
    max_length = trained_max_length(model_dir) if max_length is None else max_length
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 base, got {max_length}")
    # The folder is checked (a missing, empty or foreign one is named in one line) before its
    # weights are hashed for the run's record.
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    run_record = {
        "command": "barcodefm classify",
        "output": str(output.resolve()),
        "model": provenance.model_record(model_name, model_dir),
        "input": {"path": str(Path(input_path).resolve()), "sha256": provenance.file_sha256(input_path)},
        "versions": provenance.versions(),
        "options": given,
        # what the rows depend on besides the weights: --resume refuses other values
        "result_options": {
            "min_prob": min_prob,
            "max_length": max_length,
            "index": given["index"],
            "index_k": None if index is None else index_k,
        },
        "started": started,
        "resumed": [],
        "finished": None,
    }
    continuing = resume and (output.exists() or partial_path(output).exists())
    if continuing:  # read back before any work: the rows must be this model's with these options
        stored = provenance.read(output)
        if stored is None:
            logger.warning("%s has no provenance record: cannot check it was made with this model", output)
        else:
            provenance.check_resume(stored, run_record, output)
            run_record["started"] = stored.get("started", started)
            run_record["resumed"] = [*stored.get("resumed", []), started]
    label = sequence_classifier_label(model_dir)  # a species classifier: one label per barcode
    auto_class = "AutoModel" if label is None else "AutoModelForSequenceClassification"
    model = load_model(model_dir, auto_class, trust_remote_code=trust_remote_code).eval()
    if label is None and not hasattr(model, "predict_taxonomy"):
        raise ValueError(
            f"{model_dir} holds a {type(model).__name__}, not a taxonomic or species classifier "
            "(train one with `barcodefm finetune --task taxonomy` or `--task species`)"
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    if label is not None:
        spec = None
        ranks = [label]
        id2label = {int(i): name for i, name in model.config.id2label.items()}
        reference = None
        # finetune saves no novelty reference with a species classifier: columns only if one was added
        novelty = load_novelty_reference(model_dir) if hasattr(model, "embed") else None
    else:
        spec = model.taxonomy.spec
        ranks = list(spec.ranks)
        reference = ReferenceSet.load(model_dir)  # heads + nearest training references, rule per rank
        if reference is not None and (Path(model_dir) / NOVELTY_FILE).is_file():
            # The same embeddings: read only the threshold, not the embeddings file a second time.
            novelty = (reference.embeddings, json.loads((Path(model_dir) / NOVELTY_FILE).read_text()))
        elif reference is None:
            novelty = load_novelty_reference(model_dir)
        else:
            novelty = None
    if reference is not None:
        logger.info(
            "identification per rank: %s (votes of the %d nearest of %d distinct training barcodes)",
            ", ".join(f"{r} {rule}" for r, rule in reference.rules.items()),
            reference.k,
            reference.embeddings.shape[0],
        )
        reference_ids, reference_sequences = reference_records(reference, model_dir)
    # Strand and marker check from the folder's reference barcodes (none: records read as given).
    profile = MarkerProfile.load(
        model_dir, references=reference.kmer.sequences if reference and reference.kmer else None
    )
    if profile is None:
        logger.warning("%s has no reference sequences: records are read on the strand given, unchecked", model_dir)
    else:
        logger.info("strand: the one sharing more %d-mers with the references; %s", profile.k, profile.describe())
    novelty_score = NoveltyScore.from_info(novelty[1] if novelty is not None else None)
    index_threshold = index_distance_threshold(novelty[1]) if novelty is not None else None
    if novelty is None and label is None:  # a species classifier never had one: nothing to warn about
        logger.warning("%s has no novelty reference: the novelty columns are left out", model_dir)
    columns = ["id"] + ([] if profile is None else list(ORIENTATION_COLUMNS))
    columns += [c for r in ranks for c in (r, f"{r}_prob")] + ([] if label else ["consistent"])
    if reference is not None:
        columns += NEAREST_COLUMNS
    if novelty is not None:
        columns += ["novelty", "likely_novel"]
    index_calls = None
    if index is not None:  # the model's own call stays whole: min_prob cuts the combined call
        from ..index import IndexCalls

        index_calls = IndexCalls(index, model_dir, ranks, k=index_k, min_prob=min_prob)
        columns += index_calls.columns
        min_prob = None
    done: list[str] = []
    if output.exists() and resume:
        header, done = _done_rows(output)
        if header and header != columns:
            raise ValueError(
                f"{output} has other columns than this model writes ({', '.join(header)}): it was "
                "written by another model or barcodefm version; pass --overwrite to start it again"
            )
        logger.info("resuming: %d records already classified", len(done))
    run_record["thresholds"] = {
        "min_prob": run_record["result_options"]["min_prob"],
        "max_length": max_length,
        "novelty_threshold": None if novelty is None else novelty[1].get("threshold"),
        "index_distance_threshold": index_threshold if index_calls is not None else None,
        "marker_check": None
        if profile is None
        else {"marker": profile.marker, "k": profile.k, "min_shared_kmers": profile.threshold},
        "rules": None if reference is None else reference.rules,
    }
    run_record["columns"] = columns
    sidecar = provenance_path(output)

    def record_unfinished(rows: Path) -> None:  # beside the rows: what --resume reads back
        provenance.write(sidecar if rows == output else partial_path(sidecar), run_record)

    progress = Progress("classifying", "classified", total=reader_total(reader))  # bar, or log lines
    n_new = n_cut = n_long = n_reverse = n_other = 0
    with _RowWriter(output, columns, append=bool(done), on_open=record_unfinished) as writer:
        for batch in iter_batches(reader, batch_size, done=done, output=output):
            sequences = whole = [r["sequence"] for r in batch]  # the sequence-space votes read all of it
            n_long += sum(len(seq) > MAX_VOTE_BASES for seq in sequences)
            if profile is not None:
                oriented = profile.orient(sequences)
                sequences = whole = oriented.sequences
                n_reverse += int(oriented.reverse.sum())
                n_other += int((~oriented.on_marker).sum())
            if max_length is not None:
                n_cut += sum(len(seq) > max_length for seq in sequences)
                sequences = [seq[:max_length] for seq in sequences]
            enc = tokenizer(sequences, padding=True, return_tensors="pt").to(device)
            with torch.no_grad():
                if label is not None:
                    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
                    best, index = logits.float().softmax(-1).max(-1)
                    preds = []
                    for p, i in zip(best.tolist(), index.tolist()):
                        keep = min_prob is None or p >= min_prob
                        preds.append(
                            {"labels": {label: id2label[i] if keep else None}, "probs": {label: p}, "consistent": None}
                        )
                elif reference is not None:
                    probs, emb = heads_and_embeddings(model, enc["input_ids"], enc["attention_mask"])
                    queries = reference.vote_sequences(whole)
                    found = reference.find(emb, queries)  # once: the votes and the nearest reference
                    combined, evidence = reference.identify(probs, emb, whole, found=found)
                    preds = predict(as_logits(combined), spec, min_prob=min_prob)
                    nearest = nearest_references(
                        found, queries, reference_ids, reference_sequences, reference.align_identity
                    )
                else:
                    out = model(**enc)
                    preds = model.predict_from_logits(out.logits, min_prob=min_prob)
                if novelty is not None and reference is None:  # a novelty-only folder: its own embedding pass
                    emb = model.embed(enc["input_ids"], enc["attention_mask"], pooling=novelty[1].get("pooling"))
                    evidence = {"embedding": nearest_distance(emb.float().cpu(), novelty[0])}
                if index_calls is not None:
                    query = emb if reference is not None else model.embed(enc["input_ids"], enc["attention_mask"])
                    extra, index_distance = index_calls.rows(query.float().cpu(), preds)
                if novelty is not None:
                    dist = novelty_score(evidence)
                    novel = dist > novelty[1]["threshold"]
                    if index_calls is not None and index_threshold is not None:  # and new to the index too
                        novel &= index_distance > index_threshold
            for i, (record, pred) in enumerate(zip(batch, preds)):
                row = [record["id"]]
                named = profile is None or bool(oriented.on_marker[i])  # another marker gets no name
                if profile is not None:
                    status = "identified" if named else "other_marker"
                    row += [oriented.strands[i], f"{oriented.shared[i]:.4f}", status]
                for rank in ranks:
                    call = pred["labels"][rank] if named else None
                    row += [call or "", "" if call is None else f"{pred['probs'][rank]:.4f}"]
                if label is None:
                    row.append(str(pred["consistent"]).lower() if named else "")
                if reference is not None:  # evidence: another marker's record gets it too
                    row += nearest_cells(nearest[i])
                if novelty is not None:
                    row += [f"{max(float(dist[i]), 0.0):.4f}", str(bool(novel[i])).lower() if named else ""]
                if index_calls is not None:
                    row += extra[i]
                writer.writerow(row)
            writer.flush()  # an interrupted run keeps every finished batch
            n_new += len(batch)
            progress.update_to(reader.rejects.n_read, len(batch))  # records read, skipped ones too
    progress.close()
    if not n_new and not done:
        raise no_records_error(reader)  # the reader has logged what it skipped, once
    if n_reverse:
        logger.info("%d barcode(s) were read on the reverse strand: classified as their reverse complement", n_reverse)
    if n_other:
        logger.warning(
            "%d record(s) are not the model's marker (%s): status other_marker, no name at any rank",
            n_other,
            profile.describe(),
        )
    if n_long:
        logger.warning(
            "%d record(s) longer than %d bases (no barcode is): the sequence votes read their first %d bases",
            n_long,
            MAX_VOTE_BASES,
            MAX_VOTE_BASES,
        )
    if n_cut:
        logger.info(
            "%d barcode(s) longer than %d bases were cut to their first %d bases, as in training",
            n_cut,
            max_length,
            max_length,
        )
    counts = {"classified": n_new + len(done), "rejected": reader.rejects.total}
    if done:  # a resumed run: counted on the whole table
        counts |= _table_counts(output)
    else:
        counts |= {"reverse_strand": n_reverse, "other_marker": n_other}
    run_record.update(finished=provenance.now(), counts=counts)
    provenance.write(sidecar, run_record)
    partial_path(sidecar).unlink(missing_ok=True)
    return {
        "classified": n_new + len(done),
        "new": n_new,
        "cut_to_max_length": n_cut,
        "reverse_strand": n_reverse,
        "other_marker": n_other,
        "max_length": max_length,
        "skipped_records": reader.rejects.total,
        "rejects": reader.rejects.summary() if reader.rejects.total else "",
        "provenance": str(sidecar),
    }
