"""Batch transcription jobs: uploaded recordings run one by one through the same pipeline.

One worker thread per process, so a batch never takes more than its share of the decoder
(live calls go first in the decoder's priority queue). Jobs live in the shared store
(ticketing/job_store.py) and their uploads in the jobs folder (HOTLINE_JOBS_DIR, default
HOTLINE_HOME/jobs; servers of one centre share it): any server answers for any job, each
server's worker claims the next queued file of any job, and the files of a server that died
(no heartbeat for `stale_s`) are run again by a survivor. Drafts land in the ticket store like
live calls.

Nothing grows without end: uploads are streamed to disk (never held in memory), a job and its
folder are removed `retention_s` after it finished (HOTLINE_JOB_RETENTION_S), a cancelled job's
files are deleted at once, and folders no job knows are removed at start-up once older than the
retention time. A file that cannot be read fails with its own error; the rest of the job goes on.
"""
from __future__ import annotations

import asyncio
import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile

from ticketing.job_store import FINISHED, FileRow, JobRow, JobStore
from web.metrics import Metrics

log = logging.getLogger("hotline.server.jobs")

Job = JobRow
JobFile = FileRow


def job_dict(job: JobRow, with_drafts: bool = True) -> dict[str, Any]:
    files = []
    for f in job.files:
        item = {"name": f.name, "call_id": f.call_id, "status": f.status, "error": f.error,
                "duration_s": f.duration_s, "ticket_id": f.ticket_id}
        if with_drafts:
            item["draft"] = f.draft
        files.append(item)
    done = sum(1 for f in job.files if f.status in FINISHED)
    return {
        "id": job.id, "owner": job.owner, "status": job.status, "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at, "expires_at": job.expires_at,
        "progress": {"done": done, "total": len(job.files)}, "files": files,
    }


def safe_name(name: str) -> str:
    base = Path(name or "audio").name
    return re.sub(r"[^\w.\-]+", "_", base)[:100] or "audio"


Upload = tuple[str, "bytes | BinaryIO"]


def file_runner(get_pipeline: Callable[[], Any],
                ticket_id: Callable[[str], int | None]) -> Callable[[str, str], dict[str, Any]]:
    """JobManager's run_file: one recording through the pipeline (its process_file, or a call fed
    the whole recording at once), the final draft with its ticket id."""

    def run_file(path: str, call_id: str) -> dict[str, Any]:
        pipe = get_pipeline()
        runner = getattr(pipe, "process_file", None)
        if runner is not None:
            draft = runner(path, call_id=call_id)
        else:
            from stt.audio import load_audio

            audio = load_audio(path)
            session = pipe.open_call(call_id=call_id, sample_rate=audio.sample_rate, channels=audio.channels,
                                     on_event=lambda event: None, adapt_hotwords=False)
            session.feed(audio.samples)
            draft = session.end()
        draft = dict(draft)
        if "ticket_id" not in draft:
            draft["ticket_id"] = ticket_id(call_id)
        return draft

    return run_file


class JobManager:
    def __init__(
        self,
        run_file: Callable[[str, str], dict[str, Any]],
        workdir: Path,
        metrics: Metrics,
        store: JobStore,
        retention_s: float = 86400.0,
        stale_s: float = 60.0,
        poll_s: float = 1.0,
    ) -> None:
        """run_file(path, call_id) -> final draft dict; it runs in the worker thread."""
        self._run_file = run_file
        self.workdir = workdir
        self.metrics = metrics
        self.store = store
        self.retention_s = retention_s
        self.stale_s = stale_s
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._remove_leftovers()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """The worker (claims queued files of any job) and the janitor (heartbeat, requeue of a dead
        server's files, retention sweep); the server starts them with the app, create() too."""
        if self._threads or self._stop.is_set():
            return
        self._threads = [threading.Thread(target=self._work, name="hotline-batch", daemon=True),
                         threading.Thread(target=self._janitor, name="hotline-batch-janitor", daemon=True)]
        for t in self._threads:
            t.start()

    # -- jobs in ------------------------------------------------------------------------------
    def create(self, owner: str, uploads: list[Upload]) -> Job:
        """uploads: (file name, bytes or a binary file object, copied to disk in chunks)."""
        job_id = "job-" + uuid.uuid4().hex[:10]
        folder = self.workdir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for i, (name, data) in enumerate(uploads, start=1):
            path = folder / f"{i:03d}-{safe_name(name)}"
            with open(path, "wb") as out:
                if isinstance(data, (bytes, bytearray)):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 1 << 20)
            item = {"seq": i, "name": name, "path": str(path), "call_id": f"{job_id}-{i:03d}"}
            if path.stat().st_size == 0:
                item.update(status="failed", error=f"{name}: empty file")
            files.append(item)
        self.store.create(job_id, owner, str(folder), files)
        self.start()
        self._wake.set()
        return self.store.job(job_id)

    def get(self, job_id: str) -> Job | None:
        return self.store.job(job_id)

    def list(self) -> list[Job]:
        return self.store.jobs()

    def pending(self) -> int:
        return self.store.pending()

    def cancel(self, job_id: str) -> Job | None:
        """Stop a job: its queued files are not run, and its uploads are deleted now (a file being
        decoded finishes from the open file; its draft is still stored)."""
        job = self.store.job(job_id, with_drafts=False)
        if job is None:
            return None
        self.store.cancel(job_id, self.retention_s)
        shutil.rmtree(job.folder, ignore_errors=True)
        return self.store.job(job_id, with_drafts=False)

    # -- clean-up -----------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> list[str]:
        """Remove jobs whose retention time is over, with their files; returns their ids."""
        removed = []
        for job_id, folder in self.store.expired(now):
            shutil.rmtree(folder, ignore_errors=True)
            if self.store.delete(job_id):
                removed.append(job_id)
                log.info("job %s removed (retention %.0f s over)", job_id, self.retention_s)
        return removed

    def _remove_leftovers(self) -> None:
        """Folders no job knows (left by a server that died while uploading), older than the
        retention time (another server may be writing a newer one)."""
        if not self.workdir.is_dir():
            return
        cutoff = time.time() - self.retention_s
        old = [f for f in self.workdir.glob("job-*") if f.is_dir() and f.stat().st_mtime < cutoff]
        known = self.store.known(f.name for f in old)
        for folder in old:
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                log.info("removed %s, left by an earlier server process", folder)

    # -- the worker ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _janitor(self) -> None:
        """Heartbeat of this server's running files, survivors' requeue, retention sweep."""
        period = max(0.2, min(10.0, self.stale_s / 3, self.retention_s))
        while not self._stop.wait(period):
            try:
                self.store.heartbeat()
                for call_id in self.store.requeue_stale(self.stale_s):
                    log.warning("batch file requeued as %s: its server stopped for %.0f s", call_id, self.stale_s)
                    self._wake.set()
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - the store may be away for a while; try again
                log.warning("batch janitor: %s", exc)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                f = self.store.claim()
            except Exception as exc:  # noqa: BLE001 - the store may be away for a while
                log.warning("batch worker: %s", exc)
                f = None
            if f is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._run_one(f)

    def _run_one(self, f: JobFile) -> None:
        started = time.monotonic()
        try:
            draft = self._run_file(f.path, f.call_id)
            f.draft = draft
            tid = draft.get("ticket_id") if isinstance(draft, dict) else None
            f.ticket_id = tid if isinstance(tid, int) else None
            f.status = "done"
        except Exception as exc:  # one bad file must not stop the batch
            log.warning("job %s: %s failed: %s", f.job_id, f.name, exc)
            # the operator knows the file by its upload name, not by the server's folder
            f.status, f.error = "failed", (str(exc) or type(exc).__name__).replace(f.path, f.name)
        f.duration_s = round(time.monotonic() - started, 3)
        self.store.finish(f, retention_s=self.retention_s)
        self.metrics.observe("hotline_stage_seconds", f.duration_s, stage="batch_file")
        self.metrics.inc("hotline_batch_files_total", status=f.status)
        log.info("job %s: file %d %s", f.job_id, f.seq, f.status)


def build_router(jobs: JobManager, principal: Callable[..., Any], *, max_files: int = 100,
                 max_bytes: int = 200 * 1024 * 1024) -> Any:
    """The /api/jobs routes (included under the app's /api router, behind its token check)."""
    router = APIRouter(tags=["batch"])

    def owned(job_id: str, who: Any) -> Job:
        job = jobs.store.job(job_id, with_drafts=False)
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
        return job_dict(job, with_drafts=False)

    @router.get("/jobs", summary="Batch jobs and their progress")
    def list_jobs() -> list[dict[str, Any]]:
        return [job_dict(j, with_drafts=False) for j in jobs.list()]

    @router.get("/jobs/{job_id}", summary="A job's progress and the drafts of finished files")
    def get_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id} (unknown, or removed after the retention time)")
        return job_dict(job)

    @router.delete("/jobs/{job_id}", summary="Cancel a job: queued files are skipped, its uploads deleted")
    def cancel_job(job_id: str, who: Any = Depends(principal)) -> dict[str, Any]:
        owned(job_id, who)
        return job_dict(jobs.cancel(job_id), with_drafts=False)

    return router
