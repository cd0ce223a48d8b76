"""`hotline serve` / `hotline token` as a user runs them, the send queue's back-pressure rules,
and the API on PostgreSQL (marker `postgres`, needs HOTLINE_TEST_POSTGRES_URL)."""
from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

HOTLINE = [sys.executable, "-c", "import sys, cli; sys.exit(cli.main())"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_first_start_prints_admin_token_and_url(tmp_path):
    env = {**os.environ, "HOTLINE_HOME": str(tmp_path), "HOTLINE_DATABASE_URL": ""}
    made = subprocess.run(HOTLINE + ["token", "create", "--name", "op1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    op_token = made.stdout.strip()
    assert op_token.startswith("hl_") and "cannot be shown again" in made.stderr
    dup = subprocess.run(HOTLINE + ["token", "create", "--name", "op1"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert dup.returncode == 1 and "exists" in dup.stderr

    port = _port()
    proc = subprocess.Popen(HOTLINE + ["serve", "--port", str(port), "--no-preload"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = ""
        deadline = time.monotonic() + 120
        while "Operator console" not in out:
            assert time.monotonic() < deadline and proc.poll() is None, out
            out += proc.stdout.readline()
        admin_token = re.search(r"^\s+(hl_\S+)$", out, re.M).group(1)
        assert f"http://127.0.0.1:{port}/" in out
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503):
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10).json()
        assert me["role"] == "admin"
        assert httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {op_token}"}, timeout=10).json() == \
            {"name": "op1", "role": "operator"}
        assert httpx.get(f"{base}/api/tickets", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    listed = subprocess.run(HOTLINE + ["token", "list"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert "op1\toperator" in listed and "admin\tadmin" in listed and "hl_" not in listed
    # revoke removes the row: the token no longer lists (nor works)
    revoked = subprocess.run(HOTLINE + ["token", "revoke", "op1"], env=env, capture_output=True, text=True, timeout=120)
    assert revoked.returncode == 0
    assert "op1" not in subprocess.run(HOTLINE + ["token", "list"], env=env, capture_output=True, text=True,
                                       timeout=120).stdout


class _BlockedSocket:
    """A websocket whose client does not read: send_text waits until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)


def test_slow_client_loses_partials_not_finals():
    import json

    from web.calls import Connection

    async def scenario() -> list[dict]:
        ws = _BlockedSocket()
        conn = Connection(ws, max_pending_partials=2)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        for i in range(50):
            conn.send({"type": "partial", "id": i, "text": f"p{i}"})
            conn.send({"type": "partial", "id": i, "text": f"p{i}+"})  # same utterance: replaces
            conn.send({"type": "final", "id": i, "text": f"f{i}"})
            conn.send({"type": "draft", "final": False, "ticket": {"n": i}})
        conn.send({"type": "draft", "final": True, "ticket": {"n": "last"}})
        ws.release.set()
        await conn.close(timeout=5)
        return [json.loads(t) for t in ws.sent]

    got = asyncio.run(scenario())
    finals = [m["id"] for m in got if m["type"] == "final"]
    partials = [m for m in got if m["type"] == "partial"]
    drafts = [m for m in got if m["type"] == "draft"]
    assert finals == list(range(50)), "every final, in order"
    assert len(partials) <= 3 and all(p["text"].endswith("+") for p in partials)
    assert len(drafts) == 2 and drafts[0]["ticket"] == {"n": 49} and drafts[-1]["final"] is True


@pytest.mark.postgres
def test_api_on_postgres(tmp_path):
    url = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test)")
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from config import Settings
    from server import ServerOptions, create_app
    from ticketing import TicketStore
    from web.auth import TokenStore

    schema = f"hotline_srv_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    try:
        store = TicketStore(scoped)
        token = TokenStore.for_store(store).create("pg-op")
        app = create_app(Settings(home=Path(tmp_path), database_url=scoped), options=ServerOptions(preload=False),
                         pipeline=object(), store=store)
        h = {"Authorization": f"Bearer {token}"}
        with TestClient(app) as client:
            tid = store.upsert_draft({"call_id": "pg-1", "transcript": "营口路", "category": "road_obstruction",
                                      "district": "杨浦区", "appeal_type": "投诉", "summary": "人行道被占"})
            assert client.post(f"/api/tickets/{tid}/submit", json={}, headers=h).json()["state"] == "submitted"
            assert client.post(f"/api/tickets/{tid}/dispatch", json={}, headers=h).json()["state"] == "dispatched"
            assert client.get("/api/tickets", headers=h).json()["total"] == 1
            assert client.get("/api/tickets").status_code == 401
            assert [r["service_request_id"] for r in client.get("/open311/v2/requests.json").json()] == [str(tid)]
        store.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def test_tokens_are_redacted_from_websocket_log_lines():
    import logging

    from web.auth import RedactTokens

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               (("127.0.0.1", 5000), "/ws/call?token=hl_secret123&x=1"), None)
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "hl_secret123" not in line and "token=***&x=1" in line


def test_servers_starting_together_make_one_admin_token(tmp_path, capsys):
    """Several `hotline serve` starting at once on an empty database: one creates the first
    admin token, the others go on without it (the name is unique in the store)."""
    import threading

    from cli.server_commands import _first_admin_token
    from ticketing import TicketStore
    from web.auth import TokenStore

    store = TicketStore(f"sqlite:///{tmp_path / 'race.db'}")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        tokens = TokenStore.for_store(store)
        barrier.wait()
        try:
            _first_admin_token(tokens)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    out = capsys.readouterr().out
    assert errors == []
    assert TokenStore.for_store(store).count(role="admin") == 1
    assert out.count("created an admin token") == 1
    store.close()
