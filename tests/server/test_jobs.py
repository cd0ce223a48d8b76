"""Batch jobs (web/jobs.py): bad files fail one by one, cancelled jobs lose their files at once,
finished jobs and their uploads are removed after the retention time. The run_file here is a
stand-in (unit test of the job manager); tests/server/test_faults_inputs.py runs real files."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from web.jobs import JobManager
from web.metrics import Metrics


def _wait(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _runner(gate: threading.Event | None = None):
    seen: list[str] = []

    def run(path: str, call_id: str) -> dict:
        if gate is not None:
            gate.wait(10)
        data = Path(path).read_bytes()
        seen.append(call_id)
        if data.startswith(b"BAD"):
            raise ValueError(f"{path}: not an audio file")
        return {"call_id": call_id, "transcript": data.decode(), "ticket_id": len(seen)}

    return run, seen


def test_bad_files_fail_alone_and_the_rest_finish(tmp_path):
    run, _ = _runner()
    jobs = JobManager(run, tmp_path / "jobs", Metrics(), retention_s=3600)
    job = jobs.create("alice", [("a.wav", b"one"), ("b.wav", b"BAD"), ("c.wav", b""), ("d.wav", b"four")])
    _wait(lambda: job.status == "done")
    status = {f.name: (f.status, f.error) for f in job.files}
    assert status["a.wav"] == ("done", None) and status["d.wav"] == ("done", None)
    assert status["b.wav"] == ("failed", "b.wav: not an audio file")  # the upload name, not the server path
    assert status["c.wav"] == ("failed", "c.wav: empty file")
    assert job.to_dict()["progress"] == {"done": 4, "total": 4} and job.expires_at is not None


def test_cancel_deletes_the_files_and_skips_the_queued(tmp_path):
    gate = threading.Event()
    run, seen = _runner(gate)
    jobs = JobManager(run, tmp_path / "jobs", Metrics(), retention_s=3600)
    job = jobs.create("alice", [(f"{i}.wav", b"x" * 1000) for i in range(5)])
    folder = tmp_path / "jobs" / job.id
    _wait(lambda: job.files[0].status == "running")
    assert len(list(folder.iterdir())) == 5
    jobs.cancel(job.id)
    assert not folder.exists()
    gate.set()
    _wait(lambda: job.files[0].status in ("done", "failed"))
    time.sleep(0.2)
    assert job.status == "cancelled" and len(seen) <= 1
    assert [f.status for f in job.files[1:]] == ["cancelled"] * 4


def test_finished_jobs_are_removed_after_the_retention_time(tmp_path):
    run, _ = _runner()
    jobs = JobManager(run, tmp_path / "jobs", Metrics(), retention_s=0.5)
    job = jobs.create("alice", [("a.wav", b"one")])
    _wait(lambda: job.status == "done")
    assert jobs.sweep(now=time.time() - 10) == []  # not yet
    assert (tmp_path / "jobs" / job.id).exists()
    _wait(lambda: jobs.get(job.id) is None, timeout=5)  # the worker sweeps by itself
    assert not (tmp_path / "jobs" / job.id).exists() and jobs.jobs == {}


def test_a_restart_removes_old_leftover_folders(tmp_path):
    old = tmp_path / "jobs" / "job-old"
    old.mkdir(parents=True)
    (old / "001-a.wav").write_bytes(b"x")
    past = time.time() - 7200
    import os

    os.utime(old, (past, past))
    fresh = tmp_path / "jobs" / "job-fresh"
    fresh.mkdir()
    JobManager(_runner()[0], tmp_path / "jobs", Metrics(), retention_s=3600)
    assert not old.exists() and fresh.exists()


@pytest.fixture()
def client(make_app, fake_pipeline, settings):
    from fastapi.testclient import TestClient

    def process_file(path: str, call_id: str) -> dict:
        data = Path(path).read_bytes()
        if data.startswith(b"BAD"):
            raise ValueError(f"{Path(path).name}: cannot decode audio")
        return {"call_id": call_id, "transcript": "ok"}

    fake_pipeline.process_file = process_file
    with TestClient(make_app(fake_pipeline)) as c:
        yield c


def test_rest_job_with_a_bad_file_and_cancel(client, operator_token, admin_token, tokens, settings):
    h = {"Authorization": f"Bearer {operator_token}"}
    files = [("files", ("good.wav", b"RIFF....", "audio/wav")), ("files", ("bad.wav", b"BAD!", "audio/wav")),
             ("files", ("empty.wav", b"", "audio/wav"))]
    resp = client.post("/api/jobs", files=files, headers=h)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    _wait(lambda: client.get(f"/api/jobs/{job_id}", headers=h).json()["status"] == "done")
    job = client.get(f"/api/jobs/{job_id}", headers=h).json()
    assert [f["status"] for f in job["files"]] == ["done", "failed", "failed"]
    assert "cannot decode" in job["files"][1]["error"] and "empty file" in job["files"][2]["error"]
    other = tokens.create("other-operator", "operator")
    assert client.delete(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 403
    assert client.delete(f"/api/jobs/{job_id}", headers=h).status_code == 200
    assert not (settings.home / "jobs" / job_id).exists()
    assert client.delete("/api/jobs/job-nope", headers=h).status_code == 404
