"""Batch jobs in the shared store: any `hotline serve` on the same database answers for any job,
and the files of a server that died are run again by a survivor.

A job row and one row per uploaded file (the uploads themselves lie in the jobs folder that the
servers share). A server's worker *claims* a queued file with one conditional UPDATE (of two
servers trying at once exactly one wins), refreshes `claimed_at` of its running files while it
works (one UPDATE per server per period), and finishes it. A file still `running` whose
`claimed_at` is older than `stale_s` lost its server: it goes back to the queue under a new
call id (the dead server may have stored part of the old call). Times are epoch seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import sqlalchemy as sa

from ticketing.models import BatchJob, BatchJobFile

JOB = BatchJob.__table__
FILE = BatchJobFile.__table__
FINISHED = ("done", "failed", "cancelled")
OPEN = ("queued", "running")


@dataclass
class FileRow:
    id: int
    job_id: str
    seq: int
    name: str
    path: str
    call_id: str
    status: str = "queued"
    error: str | None = None
    duration_s: float | None = None
    ticket_id: int | None = None
    draft: dict[str, Any] | None = None


@dataclass
class JobRow:
    id: str
    owner: str
    status: str
    folder: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    files: list[FileRow] = field(default_factory=list)


def _file(r: Any) -> FileRow:
    return FileRow(id=r.id, job_id=r.job_id, seq=r.seq, name=r.name, path=r.path, call_id=r.call_id,
                   status=r.status, error=r.error, duration_s=r.duration_s, ticket_id=r.ticket_id, draft=getattr(r, "draft", None))


class JobStore:
    """The job tables of one database, seen from one server (`server_id`)."""

    def __init__(self, engine: sa.Engine, server_id: str) -> None:
        self.engine = engine
        self.server_id = server_id

    # -- jobs in ------------------------------------------------------------------------------
    def create(self, job_id: str, owner: str, folder: str, files: Iterable[dict[str, Any]]) -> None:
        """files: dicts with seq, name, path, call_id and optionally status/error (a file that is
        known bad at upload, e.g. empty, is stored failed)."""
        now = time.time()
        rows = [{"job_id": job_id, "status": "queued", "error": None, **f} for f in files]
        with self.engine.begin() as conn:
            conn.execute(JOB.insert().values(id=job_id, owner=owner, status="queued", folder=folder, created_at=now))
            if rows:
                conn.execute(FILE.insert(), rows)
        self._complete(job_id)  # a job whose every file failed at upload is done at once

    def job(self, job_id: str, *, with_drafts: bool = True) -> JobRow | None:
        jobs = self._load(sa.select(JOB).where(JOB.c.id == job_id), with_drafts)
        return jobs[0] if jobs else None

    def jobs(self, owner: str | None = None) -> list[JobRow]:
        stmt = sa.select(JOB).order_by(JOB.c.created_at)
        if owner is not None:
            stmt = stmt.where(JOB.c.owner == owner)
        return self._load(stmt, with_drafts=False)

    def _load(self, stmt: sa.Select, with_drafts: bool) -> list[JobRow]:
        with self.engine.connect() as conn:
            jobs = {r.id: JobRow(id=r.id, owner=r.owner, status=r.status, folder=r.folder, created_at=r.created_at,
                                 started_at=r.started_at, finished_at=r.finished_at, expires_at=r.expires_at)
                    for r in conn.execute(stmt)}
            if jobs:
                cols = [c for c in FILE.c if with_drafts or c.name != "draft"]
                for r in conn.execute(sa.select(*cols).where(FILE.c.job_id.in_(list(jobs))).order_by(FILE.c.seq)):
                    jobs[r.job_id].files.append(_file(r))
        return list(jobs.values())

    def pending(self) -> int:
        """Files queued or running, on every server."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(FILE)
                                    .where(FILE.c.status.in_(OPEN))).scalar_one())

    # -- the worker's side --------------------------------------------------------------------
    def claim(self) -> FileRow | None:
        """The oldest queued file, now running on this server; None when there is none (or
        another server took each candidate first)."""
        for _ in range(5):
            with self.engine.connect() as conn:
                cand = conn.execute(sa.select(FILE).where(FILE.c.status == "queued")
                                    .order_by(FILE.c.id).limit(1)).first()
            if cand is None:
                return None
            now = time.time()
            with self.engine.begin() as conn:
                won = conn.execute(FILE.update().where(FILE.c.id == cand.id, FILE.c.status == "queued")
                                   .values(status="running", server_id=self.server_id, claimed_at=now)).rowcount
                if won:
                    conn.execute(JOB.update().where(JOB.c.id == cand.job_id, JOB.c.status == "queued")
                                 .values(status="running", started_at=now))
            if won:
                f = _file(cand)
                f.status = "running"
                return f
        return None

    def heartbeat(self) -> int:
        """Refresh this server's running files (one UPDATE); returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(FILE.update().where(FILE.c.server_id == self.server_id, FILE.c.status == "running")
                                .values(claimed_at=time.time())).rowcount

    def requeue_stale(self, stale_s: float) -> list[str]:
        """Files whose server stopped beating for `stale_s` go back to the queue, each under a new
        call id; returns those new call ids."""
        cutoff = time.time() - stale_s
        out = []
        with self.engine.connect() as conn:
            stale = list(conn.execute(sa.select(FILE.c.id, FILE.c.call_id)
                                      .where(FILE.c.status == "running", FILE.c.claimed_at < cutoff)))
        for row in stale:
            base, _, tries = row.call_id.rpartition("-r")
            n = int(tries) + 1 if base and tries.isdigit() else 2
            call_id = f"{base if base and tries.isdigit() else row.call_id}-r{n}"
            with self.engine.begin() as conn:
                if conn.execute(FILE.update().where(FILE.c.id == row.id, FILE.c.status == "running",
                                                    FILE.c.claimed_at < cutoff)
                                .values(status="queued", server_id=None, claimed_at=None, call_id=call_id)).rowcount:
                    out.append(call_id)
        return out

    def finish(self, f: FileRow, *, retention_s: float) -> None:
        """Store a file's outcome (only while this server still holds it) and close its job
        when nothing of it is left to run."""
        with self.engine.begin() as conn:
            conn.execute(FILE.update().where(FILE.c.id == f.id, FILE.c.status == "running",
                                             FILE.c.server_id == self.server_id)
                         .values(status=f.status, error=f.error, duration_s=f.duration_s, ticket_id=f.ticket_id,
                                 draft=f.draft, claimed_at=None))
        self._complete(f.job_id, retention_s)

    def _complete(self, job_id: str, retention_s: float = 86400.0) -> None:
        now = time.time()
        still = sa.select(FILE.c.id).where(FILE.c.job_id == job_id, FILE.c.status.in_(OPEN)).exists()
        with self.engine.begin() as conn:
            conn.execute(JOB.update().where(JOB.c.id == job_id, JOB.c.status.in_(OPEN), ~still)
                         .values(status="done", finished_at=now, expires_at=now + retention_s))

    # -- operators' side and clean-up ---------------------------------------------------------
    def cancel(self, job_id: str, retention_s: float) -> bool:
        """Queued files are cancelled (a running one finishes and keeps its result); False when
        the job had already ended."""
        now = time.time()
        with self.engine.begin() as conn:
            changed = conn.execute(JOB.update().where(JOB.c.id == job_id, JOB.c.status.in_(OPEN))
                                   .values(status="cancelled", finished_at=now, expires_at=now + retention_s)).rowcount
            conn.execute(FILE.update().where(FILE.c.job_id == job_id, FILE.c.status == "queued")
                         .values(status="cancelled", error="job cancelled"))
        return bool(changed)

    def expired(self, now: float | None = None) -> list[tuple[str, str]]:
        """(id, folder) of the jobs whose retention time is over."""
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            return [(r.id, r.folder) for r in conn.execute(
                sa.select(JOB.c.id, JOB.c.folder).where(JOB.c.expires_at.is_not(None), JOB.c.expires_at <= now))]

    def delete(self, job_id: str) -> bool:
        with self.engine.begin() as conn:
            conn.execute(FILE.delete().where(FILE.c.job_id == job_id))
            return bool(conn.execute(JOB.delete().where(JOB.c.id == job_id)).rowcount)

    def known(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        with self.engine.connect() as conn:
            return {r.id for r in conn.execute(sa.select(JOB.c.id).where(JOB.c.id.in_(ids)))}
