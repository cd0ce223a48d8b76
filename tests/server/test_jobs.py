"""Batch jobs (web/jobs.py, ticketing/job_store.py): bad files fail one by one, cancelled jobs
lose their files at once, finished jobs and their uploads are removed after the retention time,
two servers on one store share the jobs and a survivor runs the file of a server that died. The
run_file here is a stand-in (unit test of the job manager); tests/server/test_faults.py runs real
files."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ticketing import db
from ticketing.job_store import JobStore
from web.jobs import JobManager, job_dict
from web.metrics import Metrics


@pytest.fixture()
def engine(tmp_path):
    e = db.make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    db.upgrade(e)
    yield e
    e.dispose()


def _manager(run, tmp_path, engine, server="s1", **kw) -> JobManager:
    kw.setdefault("retention_s", 3600)
    jobs = JobManager(run, tmp_path / "jobs", Metrics(), JobStore(engine, server), poll_s=0.05, **kw)
    jobs.start()
    return jobs


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


def test_bad_files_fail_alone_and_the_rest_finish(tmp_path, engine):
    run, _ = _runner()
    jobs = _manager(run, tmp_path, engine)
    job = jobs.create("alice", [("a.wav", b"one"), ("b.wav", b"BAD"), ("c.wav", b""), ("d.wav", b"four")])
    _wait(lambda: jobs.get(job.id).status == "done")
    job = jobs.get(job.id)
    status = {f.name: (f.status, f.error) for f in job.files}
    assert status["a.wav"] == ("done", None) and status["d.wav"] == ("done", None)
    assert status["b.wav"] == ("failed", "b.wav: not an audio file")  # the upload name, not the server path
    assert status["c.wav"] == ("failed", "c.wav: empty file")
    assert job_dict(job)["progress"] == {"done": 4, "total": 4} and job.expires_at is not None
    jobs.stop()


def test_cancel_deletes_the_files_and_skips_the_queued(tmp_path, engine):
    gate = threading.Event()
    run, seen = _runner(gate)
    jobs = _manager(run, tmp_path, engine)
    job = jobs.create("alice", [(f"{i}.wav", b"x" * 1000) for i in range(5)])
    folder = tmp_path / "jobs" / job.id
    _wait(lambda: jobs.get(job.id).files[0].status == "running")
    assert len(list(folder.iterdir())) == 5
    jobs.cancel(job.id)
    assert not folder.exists()
    gate.set()
    _wait(lambda: jobs.get(job.id).files[0].status in ("done", "failed"))
    time.sleep(0.2)
    job = jobs.get(job.id)
    assert job.status == "cancelled" and len(seen) <= 1
    assert [f.status for f in job.files[1:]] == ["cancelled"] * 4
    jobs.stop()


def test_finished_jobs_are_removed_after_the_retention_time(tmp_path, engine):
    run, _ = _runner()
    jobs = _manager(run, tmp_path, engine, retention_s=0.5)
    job = jobs.create("alice", [("a.wav", b"one")])
    _wait(lambda: jobs.get(job.id) is None or jobs.get(job.id).status == "done")
    assert jobs.sweep(now=time.time() - 10) == []  # not yet
    _wait(lambda: jobs.get(job.id) is None, timeout=5)  # the worker sweeps by itself
    assert not (tmp_path / "jobs" / job.id).exists() and jobs.list() == []
    jobs.stop()


def test_a_restart_removes_old_leftover_folders(tmp_path, engine):
    old = tmp_path / "jobs" / "job-old"
    old.mkdir(parents=True)
    (old / "001-a.wav").write_bytes(b"x")
    past = time.time() - 7200
    import os

    os.utime(old, (past, past))
    fresh = tmp_path / "jobs" / "job-fresh"
    fresh.mkdir()
    _manager(_runner()[0], tmp_path, engine).stop()
    assert not old.exists() and fresh.exists()


def test_two_servers_share_jobs_and_a_survivor_runs_a_dead_servers_file(tmp_path, engine):
    """Server s1 takes the first file and dies in it (its worker never returns, its heartbeat
    stops); s2 sees the job, runs the other files, and after stale_s runs s1's file again under
    a new call id. Each file is finished once."""
    hang = threading.Event()
    ran: list[tuple[str, str]] = []

    def dies(path: str, call_id: str) -> dict:
        ran.append(("s1", call_id))
        hang.wait(30)  # the server is gone: nothing comes back
        raise RuntimeError("never reached in time")

    def works(path: str, call_id: str) -> dict:
        ran.append(("s2", call_id))
        return {"call_id": call_id, "transcript": Path(path).read_text()}

    s1 = _manager(dies, tmp_path, engine, server="s1", stale_s=0.6)
    job = s1.create("alice", [("a.wav", b"one"), ("b.wav", b"two"), ("c.wav", b"three")])
    _wait(lambda: ("s1", f"{job.id}-001") in ran)
    s1._stop.set()  # s1 dies: no more heartbeats, no more claims
    s2 = _manager(works, tmp_path, engine, server="s2", stale_s=0.6)
    assert s2.get(job.id).owner == "alice"  # any server answers for the job
    _wait(lambda: s2.get(job.id).status == "done", timeout=15)
    done = s2.get(job.id)
    assert [f.status for f in done.files] == ["done"] * 3
    assert done.files[0].call_id == f"{job.id}-001-r2" and done.files[0].draft["transcript"] == "one"
    assert sorted(c for who, c in ran if who == "s2") == [f"{job.id}-001-r2", f"{job.id}-002", f"{job.id}-003"]
    hang.set()
    time.sleep(0.2)
    assert s2.get(job.id).files[0].status == "done"  # the dead server's late answer changes nothing
    s2.stop()


def test_a_queued_file_is_claimed_by_exactly_one_server(tmp_path, engine):
    stores = [JobStore(engine, f"s{i}") for i in range(4)]
    stores[0].create("job-x", "alice", str(tmp_path), [{"seq": 1, "name": "a.wav", "path": "a", "call_id": "job-x-001"}])
    got = []
    barrier = threading.Barrier(4)

    def claim(store):
        barrier.wait()
        got.append(store.claim())

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(f is not None for f in got) == 1


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
