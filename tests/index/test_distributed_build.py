"""`index build` and `embed` on 2 CPU processes (torchrun, gloo): a process killed after its first
shard, then a restart with --resume, gives the index one process builds; `embed` on 2 processes
writes the single-process output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("faiss", reason='the reference index needs faiss-cpu (pip install "barcodefm[index]")')
from index_fixtures import built_index, references, sample_records  # noqa: F401

from barcodefm.index.shards import STOP_AFTER_SHARDS, STOP_EXIT_CODE, iter_shards, shard_numbers

pytestmark = pytest.mark.slow


def _torchrun(args, env_extra=None, check=True):
    if shutil.which("torchrun") is None and not os.path.exists(
        os.path.join(os.path.dirname(sys.executable), "torchrun")
    ):
        pytest.skip("torchrun not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "barcodefm.cli", *args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout[-2000:] + proc.stderr[-4000:])
    return proc


def _stored(folder):
    ids, labels, vectors = [], {}, []
    for shard_ids, shard_labels, shard_vectors in iter_shards(
        folder / "embeddings", shard_numbers(folder / "embeddings")
    ):
        ids += shard_ids
        for rank, values in shard_labels.items():
            labels.setdefault(rank, []).extend(values)
        vectors.append(shard_vectors)
    return ids, labels, np.concatenate(vectors)


def test_killed_two_process_build_resumes_to_the_single_process_index(
    built_index,
    tiny_taxonomy_dir,
    references,
    tmp_path,  # noqa: F811
):
    out = tmp_path / "idx"
    build = ["index", "build", "--model", str(tiny_taxonomy_dir), str(references), "-o", str(out)]
    build += ["--shard-size", "32", "--batch-size", "32"]
    killed = _torchrun(build, {STOP_AFTER_SHARDS: "1"}, check=False)
    assert killed.returncode != 0 and f"exitcode  : {STOP_EXIT_CODE}" in killed.stdout + killed.stderr
    assert not (out / "index.json").exists()
    assert 1 <= len(shard_numbers(out / "embeddings")) < 5  # finished shards survived the kill
    _torchrun([*build, "--resume"])
    ids, labels, vectors = _stored(out)
    ids1, labels1, vectors1 = _stored(built_index)
    assert ids == ids1 and labels == labels1
    np.testing.assert_allclose(vectors, vectors1, atol=1e-5)
    assert (out / "ids.txt").read_text() == (built_index / "ids.txt").read_text()
    assert (out / "label_names.json").read_text() == (built_index / "label_names.json").read_text()


def test_two_process_embed_matches_one_process(tiny_lm_dir, references, tmp_path):  # noqa: F811
    from barcodefm.inference import embed_file

    embed_file(tiny_lm_dir, references, tmp_path / "one.npy", batch_size=16)
    two = tmp_path / "two.npy"
    args = ["embed", str(tiny_lm_dir), str(references), "-o", str(two), "--batch-size", "16", "--shard-size", "48"]
    killed = _torchrun(args, {STOP_AFTER_SHARDS: "1"}, check=False)
    assert killed.returncode != 0 and not two.exists()  # the process that stopped exited with STOP_EXIT_CODE
    _torchrun([*args, "--resume"])
    assert (tmp_path / "two.ids.txt").read_text() == (tmp_path / "one.ids.txt").read_text()
    np.testing.assert_allclose(np.load(two), np.load(tmp_path / "one.npy"), atol=1e-5)
    assert not (tmp_path / "two.npy.partial").exists()
