"""One worker runs the model; uploads wait their turn in a bounded queue.

A job is one upload's clean records. A full queue answers "busy, retry" at once
(:meth:`JobQueue.check_room` raises :class:`Busy`) before an upload is received; once its body is
in, :meth:`JobQueue.reserve` holds a place while its records are read (so an upload that is slow
to arrive, or stalls, holds none), and the place becomes a job with :meth:`JobQueue.submit` or is
given back with :meth:`JobQueue.release`. The worker thread takes jobs in order, reports progress
per chunk of records and stops between chunks (about a second each) when a job is cancelled.
Finished jobs keep their results for :data:`KEEP_SECONDS`, for the page and its download: the
newest :data:`KEEP_FINISHED` of them, and no more than :data:`KEEP_ROWS` rows in all (memory stays
bounded however many users come).
Job ids are random tokens: one user cannot guess another's.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from .identifier import Cancelled
from .uploads import one_line

logger = logging.getLogger(__name__)

KEEP_SECONDS = 3600
KEEP_FINISHED = 32
KEEP_ROWS = 100_000  # about 0.5 GB of results (a row holds its calls and five neighbours)
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class Busy(Exception):
    """The queue is full: retry later."""


@dataclass
class Job:
    name: str
    records: list[dict]
    rejects: list[dict]
    summary: str
    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    state: str = QUEUED
    done: int = 0
    rows: list[dict] | None = None
    error: str | None = None
    seconds: float | None = None
    finished_at: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    total: int = 0  # records to name (the records themselves are dropped once the job ends)

    def __post_init__(self) -> None:
        self.total = len(self.records)


class JobQueue:
    """``identifier.identify(records, on_batch=, cancelled=)`` run by one thread, at most
    ``max_waiting`` jobs (and uploads being received) waiting behind the running one."""

    def __init__(self, identifier, max_waiting: int = 8, batch_size: int = 64):
        if max_waiting < 1:
            raise ValueError(f"the queue must hold at least 1 job, got {max_waiting}")
        self.identifier = identifier
        self.max_waiting = max_waiting
        self.batch_size = batch_size
        self.jobs: dict[str, Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()
        self._reserved = 0
        self._lock = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="barcodefm-serve-worker", daemon=True)
        self._worker.start()

    def check_room(self) -> None:
        """:class:`Busy` when no place is free (nothing is held: :meth:`reserve` takes one)."""
        with self._lock:
            if len(self._waiting) + self._reserved >= self.max_waiting:
                raise Busy(f"busy: {self.max_waiting} uploads are already waiting for the model; retry in a minute")

    def reserve(self) -> None:
        with self._lock:
            self.check_room()  # the lock is reentrant (a Condition over an RLock)
            self._reserved += 1

    def release(self) -> None:
        with self._lock:
            self._reserved -= 1

    def submit(self, job: Job) -> Job:
        """Queue ``job`` in the place :meth:`reserve` held."""
        with self._lock:
            self._reserved -= 1
            self._forget_old()
            self.jobs[job.id] = job
            self._waiting.append(job)
            self._lock.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def position(self, job: Job) -> int:
        """Jobs ahead of ``job`` (the running one included); 0 once it runs."""
        with self._lock:
            if job.state != QUEUED:
                return 0
            ahead = next((i for i, j in enumerate(self._waiting) if j is job), 0)
            running = any(j.state == RUNNING for j in self.jobs.values())
            return ahead + int(running)

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            job.cancel_requested.set()
            if job.state == QUEUED:
                self._waiting.remove(job)
                self._finish(job, CANCELLED)
            return job

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            for job in self.jobs.values():
                job.cancel_requested.set()
            self._lock.notify_all()
        self._worker.join(timeout)

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        job.state, job.error, job.finished_at = state, error, time.time()
        job.records = []  # the rows (or the error) are what is kept

    def _forget_old(self) -> None:
        finished = sorted((j for j in self.jobs.values() if j.finished_at), key=lambda j: j.finished_at)
        rows = sum(len(j.rows or ()) for j in finished)
        now = time.time()
        for i, job in enumerate(finished):  # oldest first
            if now - job.finished_at > KEEP_SECONDS or i < len(finished) - KEEP_FINISHED or rows > KEEP_ROWS:
                rows -= len(job.rows or ())
                del self.jobs[job.id]

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._waiting.popleft()
                job.state = RUNNING
            self._run(job)

    def _run(self, job: Job) -> None:
        start = time.perf_counter()

        def progress(n_done: int) -> None:
            job.done = n_done

        try:
            rows = self.identifier.identify(
                job.records, batch_size=self.batch_size, on_batch=progress, cancelled=job.cancel_requested.is_set
            )
        except Cancelled:
            with self._lock:
                self._finish(job, CANCELLED)
            logger.info("job %s cancelled after %d of %d records", job.id[:6], job.done, job.total)
            return
        except Exception as exc:  # a failed job must not stop the worker: report it and go on
            logger.exception("job %s failed", job.id[:6])
            with self._lock:
                # The log has the traceback; the page gets the message's first line.
                self._finish(job, FAILED, one_line(f"the model failed on this upload: {type(exc).__name__}: {exc}"))
            return
        with self._lock:
            job.rows, job.seconds = rows, time.perf_counter() - start
            self._finish(job, DONE)
        logger.info("job %s: %d records in %.1f s", job.id[:6], len(rows), job.seconds)
