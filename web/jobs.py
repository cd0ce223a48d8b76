"""Batch transcription jobs: uploaded recordings run one by one through the same pipeline.

One worker thread per process, so a batch never takes more than its share of the decoder
(live calls go first in the decoder's priority queue). Jobs are kept in memory; their drafts
land in the ticket store like live calls, so nothing is lost if the server restarts after a
file finished (a job interrupted by a restart has to be resubmitted).
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web.metrics import Metrics

log = logging.getLogger("hotline.server.jobs")


@dataclass
class JobFile:
    name: str
    path: str
    call_id: str
    status: str = "queued"  # queued, running, done, failed
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
    status: str = "queued"  # queued, running, done
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> int:
        return sum(1 for f in self.files if f.status in ("done", "failed"))

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
            "started_at": self.started_at, "finished_at": self.finished_at,
            "progress": {"done": self.done, "total": len(self.files)}, "files": files,
        }


def safe_name(name: str) -> str:
    base = Path(name or "audio").name
    return re.sub(r"[^\w.\-]+", "_", base)[:100] or "audio"


class JobManager:
    def __init__(
        self,
        run_file: Callable[[str, str], dict[str, Any]],
        workdir: Path,
        metrics: Metrics,
    ) -> None:
        """run_file(path, call_id) -> final draft dict; it runs in the worker thread."""
        self._run_file = run_file
        self.workdir = workdir
        self.metrics = metrics
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def create(self, owner: str, uploads: list[tuple[str, bytes]]) -> Job:
        job_id = "job-" + uuid.uuid4().hex[:10]
        folder = self.workdir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        job = Job(id=job_id, owner=owner, created_at=time.time())
        for i, (name, data) in enumerate(uploads, start=1):
            path = folder / f"{i:03d}-{safe_name(name)}"
            path.write_bytes(data)
            job.files.append(JobFile(name=name, path=str(path), call_id=f"{job_id}-{i:03d}"))
        with self._lock:
            self.jobs[job_id] = job
        self._ensure_worker()
        self._queue.put(job_id)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def pending(self) -> int:
        return sum(1 for j in self.jobs.values() for f in j.files if f.status in ("queued", "running"))

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="hotline-batch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            job = self.jobs.get(job_id)
            if job is None:
                continue
            job.status, job.started_at = "running", time.time()
            for f in job.files:
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
                    f.status, f.error = "failed", str(exc) or type(exc).__name__
                f.duration_s = round(time.monotonic() - started, 3)
                self.metrics.observe("hotline_stage_seconds", f.duration_s, stage="batch_file")
                self.metrics.inc("hotline_batch_files_total", status=f.status)
                log.info("job %s: %d/%d files", job.id, job.done, len(job.files))
            job.status, job.finished_at = "done", time.time()
