"""The start of every training run, shared by pretraining and fine-tuning: claim (or resume) the
run folder, fix the tokenizer, and turn records into the examples the collators read.

Distributed runs: every process makes the read-only checks first; files are written by the
main process only, after a barrier, so no process sees another's half-written folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import datasets

from .augmentation import SequenceAugmentation
from .callbacks import TrainLogCallback
from .data_selection import drop_short, with_index
from .distributed import barrier, is_main_process
from .options import TrainingOptions
from .run_directory import RunDirectory
from .tokenizer_choice import build_tokenizer

logger = logging.getLogger(__name__)

TOKENIZER_MARKER = "tokenizer_config.json"


@dataclass
class RunStart:
    directory: RunDirectory
    checkpoint: Path | None  # resume from here (None: step 0)
    has_tokenizer: bool  # the folder already holds the run's tokenizer (a resumed run)
    session: int = 0


def claim_run_directory(options: TrainingOptions) -> RunStart:
    """Read-only checks of ``--output`` (and ``--resume``): call on every process first."""
    directory = RunDirectory(options.output)
    if options.resume:
        checkpoint = directory.check_resume(options.to_dict())
    else:
        directory.check_new_run()
        checkpoint = None
    has_tokenizer = options.resume and (directory.path / TOKENIZER_MARKER).is_file()
    return RunStart(directory, checkpoint, has_tokenizer)


def open_run_directory(start: RunStart, options: TrainingOptions) -> RunStart:
    """Create the folder, record the options, cut the log back to the checkpoint (main process),
    after every process has made its checks."""
    barrier()
    if is_main_process():
        start.directory.start(options.to_dict())
        if start.checkpoint is not None:
            step = int(start.checkpoint.name.rsplit("-", 1)[1])
            dropped = start.directory.truncate_log(step)
            logger.info("resuming from %s (step %d); %d log line(s) after it dropped", start.checkpoint, step, dropped)
        start.session = start.directory.session()
    barrier()
    return start


def run_tokenizer(start: RunStart, make_tokenizer, trust_remote_code: bool = False):
    """The run's tokenizer: the one saved in the folder when resuming, else ``make_tokenizer()``
    built once by the main process, saved in the folder, and loaded from there by the others.
    ``trust_remote_code``: the run's tokenizer is not barcodefm's and the user trusts its code."""
    from ..factory import load_tokenizer

    folder = start.directory.path
    if start.has_tokenizer:
        return load_tokenizer(folder, trust_remote_code=trust_remote_code)
    tokenizer = None
    if is_main_process():
        tokenizer = make_tokenizer()
        tokenizer.save_pretrained(str(folder))
    barrier()
    return tokenizer if tokenizer is not None else load_tokenizer(folder, trust_remote_code=trust_remote_code)


def new_model_tokenizer(start: RunStart, options: TrainingOptions, family, train_records: datasets.Dataset):
    """The run's tokenizer for a new model: ``--tokenizer`` (default: the family's); a BPE vocabulary
    is trained on the first ``--max-length`` bases of ``train_records``."""
    return run_tokenizer(
        start,
        lambda: build_tokenizer(
            options.tokenizer or family.default_tokenizer,
            max_bases=options.max_length,
            k=options.k,
            bpe_vocab_size=options.bpe_vocab_size,
            bpe_corpus=lambda: (s[: options.max_length] for s in train_records["sequence"]),
            trust_remote_code=options.trust_remote_code,
        ),
        trust_remote_code=options.trust_remote_code,
    )


def train_log(start: RunStart, options: TrainingOptions, args) -> TrainLogCallback:
    """The callback writing the run's ``train_log.jsonl``, its start lines naming the process count
    and the global batch size (``args``: the run's TrainingArguments)."""
    return TrainLogCallback(
        start.directory.log_path,
        session=start.session,
        info={
            "world_size": args.world_size,
            "global_batch_size": options.batch_size * args.world_size * options.grad_accum,
        },
    )


def kmer_size(tokenizer) -> int | None:
    """k of a k-mer tokenizer, None for the others (duck-typed: a tokenizer loaded as remote
    code is not an instance of barcodefm's class)."""
    k = getattr(tokenizer, "k", None)
    return k if isinstance(k, int) else None


def training_augmentation(tokenizer, options: TrainingOptions) -> SequenceAugmentation:
    k = kmer_size(tokenizer)
    return SequenceAugmentation(rc_prob=options.rc_prob, offset_k=k if (k and options.random_offset) else 0)


def as_examples(dataset: datasets.Dataset, tokenizer, source: str, keep=("sequence",)) -> datasets.Dataset:
    """Only the columns a collator reads, short sequences dropped, and the row ``index``."""
    min_bases = 2 * (kmer_size(tokenizer) or 1)  # two tokens: at least one next-token target
    dataset = drop_short(dataset, min_bases, source)
    dataset = dataset.select_columns([c for c in keep if c in dataset.column_names])
    return with_index(dataset)
