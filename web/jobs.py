"""Batch transcription jobs: uploaded recordings run one by one through the same pipeline.

One worker thread per process, so a batch never takes more than its share of the decoder
(live calls go first in the decoder's priority queue). Jobs are kept in memory; their drafts
land in the ticket store like live calls, so nothing is lost if the server restarts after a
file finished (a job interrupted by a restart has to be resubmitted).

Nothing grows without end: uploads are streamed to disk (never held in memory), a job and its
folder are removed `retention_s` after it finished (HOTLINE_JOB_RETENTION_S), a cancelled job's
files are deleted at once, and folders left by an earlier process are removed at start-up.
A file that cannot be read fails with its own error; the rest of the job goes on.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile

from web.metrics import Metrics

log = logging.getLogger("hotline.server.jobs")

FINISHED = ("done", "failed", "cancelled")


@dataclass
class JobFile:
    name: str
    path: str
    call_id: str
    status: str = "queued"  # queued, running, done, failed, cancelled
    error: str | None = None
    duration_s: float | None = None
    ticket_id: int | None = None
    draft: dict[str, Any] | None = None


@dataclass
class Job:
    id: str
    owner: str
    created_at: float
    files: list[JobFile] = field(default_factory=list)
    status: str = "queued"  # queued, running, done, cancelled
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None  # set when the job finishes: then it and its files are removed

    @property
    def done(self) -> int:
        return sum(1 for f in self.files if f.status in FINISHED)

    def to_dict(self, with_drafts: bool = True) -> dict[str, Any]:
        files = []
        for f in self.files:
            item = asdict(f)
            item.pop("path")
            if not with_drafts:
                item.pop("draft")
            files.append(item)
        return {
            "id": self.id, "owner": self.owner, "status": self.status, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at, "expires_at": self.expires_at,
            "progress": {"done": self.done, "total": len(self.files)}, "files": files,
        }


def safe_name(name: str) -> str:
    base = Path(name or "audio").name
    return re.sub(r"[^\w.\-]+", "_", base)[:100] or "audio"


Upload = tuple[str, "bytes | BinaryIO"]


class JobManager:
    def __init__(
        self,
        run_file: Callable[[str, str], dict[str, Any]],
        workdir: Path,
        metrics: Metrics,
        retention_s: float = 86400.0,
    ) -> None:
        """run_file(path, call_id) -> final draft dict; it runs in the worker thread."""
        self._run_file = run_file
        self.workdir = workdir
        self.metrics = metrics
        self.retention_s = retention_s
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._remove_leftovers()

    # -- jobs in ------------------------------------------------------------------------------
    def create(self, owner: str, uploads: list[Upload]) -> Job:
        """uploads: (file name, bytes or a binary file object, copied to disk in chunks)."""
        self.sweep()
        job_id = "job-" + uuid.uuid4().hex[:10]
        folder = self.workdir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        job = Job(id=job_id, owner=owner, created_at=time.time())
        for i, (name, data) in enumerate(uploads, start=1):
            path = folder / f"{i:03d}-{safe_name(name)}"
            with open(path, "wb") as out:
                if isinstance(data, (bytes, bytearray)):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 1 << 20)
            item = JobFile(name=name, path=str(path), call_id=f"{job_id}-{i:03d}")
            if path.stat().st_size == 0:
                item.status, item.error = "failed", f"{name}: empty file"
            job.files.append(item)
        with self._lock:
            self.jobs[job_id] = job
        self._ensure_worker()
        self._queue.put(job_id)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def pending(self) -> int:
        return sum(1 for j in list(self.jobs.values()) for f in j.files if f.status in ("queued", "running"))

    def cancel(self, job_id: str) -> Job | None:
        """Stop a job: its queued files are not run, and its uploads are deleted now (a file being
        decoded finishes from the open file; its draft is still stored)."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.status not in ("done", "cancelled"):
            for f in job.files:
                if f.status == "queued":
                    f.status, f.error = "cancelled", "job cancelled"
            job.status = "cancelled"
            self._finished(job)
        self._delete_files(job)
        return job

    # -- clean-up -----------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> list[str]:
        """Remove jobs whose retention time is over, with their files; returns their ids."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [j for j in self.jobs.values() if j.expires_at is not None and j.expires_at <= now]
            for job in expired:
                del self.jobs[job.id]
        for job in expired:
            self._delete_files(job)
            log.info("job %s removed (retention %.0f s over)", job.id, self.retention_s)
        return [j.id for j in expired]

    def _finished(self, job: Job) -> None:
        job.finished_at = time.time()
        job.expires_at = job.finished_at + self.retention_s

    def _delete_files(self, job: Job) -> None:
        shutil.rmtree(self.workdir / job.id, ignore_errors=True)

    def _remove_leftovers(self) -> None:
        """Folders of jobs from an earlier process, older than the retention time (another server
        on the same HOTLINE_HOME may still be running its newer ones)."""
        if not self.workdir.is_dir():
            return
        cutoff = time.time() - self.retention_s
        for folder in self.workdir.glob("job-*"):
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                log.info("removed %s, left by an earlier server process", folder)

    # -- the worker ---------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="hotline-batch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)

    def _work(self) -> None:
        while True:
            try:
                job_id = self._queue.get(timeout=min(60.0, max(1.0, self.retention_s)))
            except queue.Empty:
                self.sweep()
                continue
            if job_id is None:
                return
            job = self.jobs.get(job_id)
            if job is None or job.status == "cancelled":
                continue
            job.status, job.started_at = "running", time.time()
            for f in job.files:
                if job.status == "cancelled":
                    break
                if f.status != "queued":
                    continue
                self._run_one(job, f)
            if job.status != "cancelled":
                job.status = "done"
                self._finished(job)
            self.sweep()

    def _run_one(self, job: Job, f: JobFile) -> None:
        f.status = "running"
        started = time.monotonic()
        try:
            draft = self._run_file(f.path, f.call_id)
            f.draft = draft
            tid = draft.get("ticket_id") if isinstance(draft, dict) else None
            f.ticket_id = tid if isinstance(tid, int) else None
            f.status = "done"
        except Exception as exc:  # one bad file must not stop the batch
            log.warning("job %s: %s failed: %s", job.id, f.name, exc)
            # the operator knows the file by its upload name, not by the server's folder
            f.status, f.error = "failed", (str(exc) or type(exc).__name__).replace(f.path, f.name)
        f.duration_s = round(time.monotonic() - started, 3)
        self.metrics.observe("hotline_stage_seconds", f.duration_s, stage="batch_file")
        self.metrics.inc("hotline_batch_files_total", status=f.status)
        log.info("job %s: %d/%d files", job.id, job.done, len(job.files))


def build_router(jobs: JobManager, principal: Callable[..., Any], *, max_files: int = 100,
                 max_bytes: int = 200 * 1024 * 1024) -> Any:
    """The /api/jobs routes (included under the app's /api router, behind its token check)."""
    router = APIRouter(tags=["batch"])

    def owned(job_id: str, who: Any) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id} (unknown, or removed after the retention time)")
        if job.owner != who.name and not who.is_admin:
            raise HTTPException(403, "this job belongs to another operator")
        return job

    @router.post("/jobs", status_code=202, summary="Upload recordings for batch transcription")
    async def create_job(files: list[UploadFile] = File(...), who: Any = Depends(principal)) -> dict[str, Any]:
        if not files or len(files) > max_files:
            raise HTTPException(422, f"upload 1 to {max_files} files")
        for f in files:
            size = f.size if f.size is not None else len(await f.read())
            if size > max_bytes:
                raise HTTPException(413, f"{f.filename}: larger than {max_bytes // 2**20} MB")
            await f.seek(0)
        uploads = [(f.filename or "audio", f.file) for f in files]
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(None, jobs.create, who.name, uploads)
        return job.to_dict(with_drafts=False)

    @router.get("/jobs", summary="Batch jobs and their progress")
    def list_jobs() -> list[dict[str, Any]]:
        return [j.to_dict(with_drafts=False) for j in list(jobs.jobs.values())]

    @router.get("/jobs/{job_id}", summary="A job's progress and the drafts of finished files")
    def get_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id} (unknown, or removed after the retention time)")
        return job.to_dict()

    @router.delete("/jobs/{job_id}", summary="Cancel a job: queued files are skipped, its uploads deleted")
    def cancel_job(job_id: str, who: Any = Depends(principal)) -> dict[str, Any]:
        owned(job_id, who)
        return jobs.cancel(job_id).to_dict(with_drafts=False)

    return router
