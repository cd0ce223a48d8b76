"""Takeover and survivors at the protocol level (web/leases.py), without Ray or the model: two
apps on one SQLite database with a fake pipeline that can resume a call. Server A "dies" (its
heartbeat stops; it answers nothing more about the call); the client resumes on B."""
from __future__ import annotations

import time

import numpy as np

SILENCE_1S = np.zeros(16000, dtype=np.int16)
LEASE_S = 1.0


def hello(**extra):
    return {"type": "hello", "sample_rate": 16000, "channels": 1, **extra}


def _resumable(fake_pipeline):
    """The conftest's FakePipeline, with open_call(resume=...) as pipeline.Pipeline has it."""
    pipeline_cls = type(fake_pipeline)

    class Resumable(pipeline_cls):
        def open_call(self, call_id=None, sample_rate=16000, channels=1, hotwords=(), on_event=None,
                      resume=None, **_):
            session = super().open_call(call_id, sample_rate, channels, hotwords, on_event)
            if resume is not None:
                session.finals = [dict(s) for s in resume.segments]
                session.next_id = max((s["id"] for s in resume.segments), default=-1) + 1
                session.samples = int(resume.audio_from * sample_rate)
            ended = session.end

            def end():
                draft = ended()
                draft["final"] = True
                if resume is not None and resume.interrupted:
                    draft["timings"]["interrupted"] = True
                if self.store is not None:
                    self.store.upsert_draft(draft)
                return draft

            session.end = end
            return session

    return Resumable


def _apps(settings, store, fake_pipeline):
    from server import ServerOptions, create_app
    from ticketing import TicketStore
    from web.calls import CallOptions

    cls = _resumable(fake_pipeline)
    store_b = TicketStore(store.url)
    a = create_app(settings, options=ServerOptions(calls=CallOptions(grace_s=60, lease_s=LEASE_S), preload=False),
                   pipeline=cls(store), store=store)
    b = create_app(settings, options=ServerOptions(calls=CallOptions(grace_s=0.5, lease_s=LEASE_S), preload=False),
                   pipeline=cls(store_b), store=store_b)
    return a, b, store_b


def test_call_taken_over_by_another_server_and_orphan_finished(settings, store, fake_pipeline, operator_token,
                                                               live_server, ws_client, frames):
    app_a, app_b, store_b = _apps(settings, store, fake_pipeline)
    a, b = live_server(app_a), live_server(app_b)
    assert app_a.state.leases.server_id != app_b.state.leases.server_id
    c = ws_client(f"{a.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-move"))
    assert c.recv()["type"] == "ready"
    z = ws_client(f"{a.ws_url}/ws/call?token={operator_token}")
    z.send_json(hello(call_id="t-orphan"))
    assert z.recv()["type"] == "ready"
    for frame in frames(np.tile(SILENCE_1S, 3)):
        c.ws.send(frame)
    for frame in frames(np.tile(SILENCE_1S, 2)):
        z.ws.send(frame)
    c.until(lambda m: m["type"] == "final" and m["id"] == 2)
    z.until(lambda m: m["type"] == "final" and m["id"] == 1)
    assert store.call("t-move")["server_id"] == app_a.state.leases.server_id

    # A "dies": no more heartbeats; its clients are gone
    app_a.state.leases.leases.heartbeat = lambda ids, now=None: 0
    died = time.monotonic()
    c.close()
    z.close()

    # B while A's lease is fresh: call_elsewhere, nothing started
    early = ws_client(f"{b.ws_url}/ws/call?token={operator_token}")
    early.send_json(hello(call_id="t-move", resume_from=1))
    refused = early.recv()
    assert refused["code"] == "call_elsewhere" and 0 < refused["retry_after_s"] <= LEASE_S + 0.5
    time.sleep(max(0.0, died + LEASE_S + 0.3 - time.monotonic()))

    # the client resumes on B: ready (taken over, audio from 3 s), final 2 once, the draft, then on
    r = ws_client(f"{b.ws_url}/ws/call?token={operator_token}")
    r.send_json(hello(call_id="t-move", resume_from=1))
    ready = r.recv()
    assert ready["type"] == "ready" and ready["taken_over"] is True and ready["ended"] is False
    assert ready["audio_from"] == 3.0 and ready["last_segment_id"] == 2
    assert r.recv() == {"type": "final", "id": 2, "start": 2.0, "end": 3.0, "text": "第2段。", "speaker": None}
    assert r.recv()["type"] == "draft"
    assert store.call("t-move")["server_id"] == app_b.state.leases.server_id
    for frame in frames(np.tile(SILENCE_1S, 2)):            # the audio from 3 s on
        r.ws.send(frame)
    r.send_json({"type": "end"})
    final = r.until(lambda m: m["type"] == "draft" and m["final"])
    assert [m["id"] for m in r.of_type("final")] == [2, 3, 4]
    assert [s["id"] for s in final["ticket"]["segments"]] == [0, 1, 2, 3, 4]
    assert [s["id"] for s in store.segments("t-move")] == [0, 1, 2, 3, 4]
    # the lease is released after the client has its final draft (web/live_call.py): wait for it
    deadline = time.monotonic() + 10
    while (row := store.call("t-move"))["lease_at"] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert row["ended_at"] is not None and row["lease_at"] is None

    # the orphan: B finishes it once A's lease is stale for lease + grace (0.5 s)
    deadline = time.monotonic() + 20
    while not ((store.get_by_call("t-orphan") or {}).get("draft") or {}).get("final"):
        assert time.monotonic() < deadline, "the survivor did not finish the orphaned call"
        time.sleep(0.2)
    draft = store.get_by_call("t-orphan")["draft"]
    assert [s["id"] for s in draft["segments"]] == [0, 1] and draft["timings"]["interrupted"] is True
    assert store.call("t-orphan")["ended_at"] is not None
    assert app_b.state.leases.orphans_finished == 1 and app_b.state.leases.taken_over == 1
    # an ended call resumed on B is answered from the store, as before
    late = ws_client(f"{b.ws_url}/ws/call?token={operator_token}")
    late.send_json(hello(call_id="t-orphan", resume_from=0))
    assert late.recv()["ended"] is True
    store_b.close()


def test_another_operator_cannot_take_a_call_over(settings, store, fake_pipeline, operator_token, tokens,
                                                  live_server, ws_client, frames):
    app_a, app_b, store_b = _apps(settings, store, fake_pipeline)
    a, b = live_server(app_a), live_server(app_b)
    c = ws_client(f"{a.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-mine"))
    assert c.recv()["type"] == "ready"
    app_a.state.leases.leases.heartbeat = lambda ids, now=None: 0
    c.close()
    time.sleep(LEASE_S + 0.3)
    other = tokens.create("someone-else", "operator")
    intruder = ws_client(f"{b.ws_url}/ws/call?token={other}")
    intruder.send_json(hello(call_id="t-mine", resume_from=-1))
    assert intruder.recv()["code"] == "forbidden"
    store_b.close()
