"""A draft written during a call survives the writer being killed (SIGKILL) mid-call."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ticketing import TicketStore

WRITER = r"""
import sys, time
from ticketing import TicketStore
store = TicketStore(sys.argv[1])
draft = {"call_id": "killed-call", "transcript": "", "appeal_type": "投诉", "category": "noise",
         "district": "杨浦区", "address": "杨浦区控江路1500弄", "department": None, "summary": "噪声"}
i = 0
while True:  # the call goes on: a final segment, then the updated draft, forever
    text = f"第{i}句"
    store.add_segment("killed-call", {"id": i, "start": i * 2.0, "end": i * 2.0 + 1.5, "text": text, "speaker": "caller"})
    draft["transcript"] += text
    draft["summary"] = f"噪声（{i + 1}句）"
    store.upsert_draft(draft)
    i += 1
    if i == 3:
        print("READY", flush=True)
    time.sleep(0.005)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_draft_survives_sigkill_mid_call(db_url):
    TicketStore(db_url).close()  # migrate first so the writer starts writing at once
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", proc.stderr.read() if proc.poll() is not None else line
        time.sleep(0.3)  # well inside the write loop
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with TicketStore(db_url) as store:
        ticket = store.get_by_call("killed-call")
        assert ticket is not None and ticket["state"] == "draft"
        segments = store.segments("killed-call")
        n = len(segments)
        assert n >= 3 and [s["id"] for s in segments] == list(range(n))
        # the last committed draft is whole: it matches the segments committed before it (n or n - 1)
        assert ticket["summary"] in (f"噪声（{n}句）", f"噪声（{n - 1}句）")
        assert ticket["transcript"].startswith("第0句第1句第2句")
        assert ticket["department"] == "杨浦区生态环境局"
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
