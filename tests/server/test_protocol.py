"""The call websocket protocol against a fake pipeline (a unit test of the server part only):
message validation, resume, grace-period ending, slow clients. The real model runs in
test_ws_real.py."""
from __future__ import annotations

import time

import numpy as np
import pytest

SILENCE_1S = np.zeros(16000, dtype=np.int16)


def hello(**extra):
    return {"type": "hello", "sample_rate": 16000, "channels": 1, **extra}


def test_unauthenticated_websocket_refused(make_app, fake_pipeline, live_server, ws_client):
    srv = live_server(make_app(fake_pipeline))
    for query in ("", "?token=", "?token=hl_wrong"):
        client = ws_client(f"{srv.ws_url}/ws/call{query}")
        msg = client.recv()
        assert msg["type"] == "error" and msg["code"] == "unauthorized"
        with pytest.raises(Exception):
            client.send_json(hello())
            client.recv(timeout=5)  # the server closed the socket
    assert fake_pipeline.sessions == {}


def test_stream_partials_finals_and_final_draft(make_app, fake_pipeline, store, operator_token, live_server,
                                                ws_client, frames):
    srv = live_server(make_app(fake_pipeline))
    c = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-basic"))
    ready = c.recv()
    assert ready == {**ready, "type": "ready", "call_id": "t-basic", "resumed": False}
    for frame in frames(np.tile(SILENCE_1S, 3)):
        c.ws.send(frame)
    c.send_json({"type": "end"})
    final = c.until(lambda m: m["type"] == "draft" and m["final"])
    assert [m["id"] for m in c.of_type("final")] == [0, 1, 2]
    assert c.of_type("partial"), "partials are sent"
    assert final["ticket"]["timings"]["ready_after_hangup_s"] >= 0
    assert final["ticket_id"] == store.get_by_call("t-basic")["id"]
    assert [s["id"] for s in store.segments("t-basic")] == [0, 1, 2]


def test_malformed_messages_get_errors_and_server_keeps_serving(make_app, fake_pipeline, operator_token,
                                                                  live_server, ws_client, frames):
    srv = live_server(make_app(fake_pipeline))
    bad = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    good = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    good.send_json(hello(call_id="t-good"))
    assert good.recv()["type"] == "ready"

    bad.ws.send(b"\x00\x01" * 800)  # audio before hello
    assert bad.recv()["code"] == "no_call"
    bad.ws.send("{not json")
    assert bad.recv()["code"] == "bad_json"
    bad.send_json([1, 2])
    assert bad.recv()["code"] == "bad_message"
    bad.send_json({"type": "dance"})
    assert bad.recv()["code"] == "bad_message"
    bad.send_json(hello(sample_rate=12))
    assert bad.recv()["code"] == "bad_hello"
    bad.send_json(hello(channels=7))
    assert bad.recv()["code"] == "bad_hello"
    bad.send_json(hello(call_id="../../etc"))
    assert bad.recv()["code"] == "bad_hello"
    bad.send_json(hello(call_id="t-bad"))
    assert bad.recv()["type"] == "ready"
    bad.send_json(hello(call_id="t-bad"))
    assert bad.recv()["code"] == "bad_message"  # hello twice
    bad.ws.send(b"\x00\x01\x02")  # odd length
    assert bad.recv()["code"] == "bad_frame"
    bad.ws.send(b"\x00\x00" * 16000)  # one second in one frame
    assert bad.recv()["code"] == "frame_too_large"

    # the other call is unaffected and completes
    for frame in frames(np.tile(SILENCE_1S, 2)):
        good.ws.send(frame)
    good.send_json({"type": "end"})
    final = good.until(lambda m: m["type"] == "draft" and m["final"])
    assert [m["id"] for m in good.of_type("final")] == [0, 1]
    assert final["ticket"]["call_id"] == "t-good"
    # and the bad one still works after all its errors
    bad.ws.send(SILENCE_1S.tobytes()[:3200])
    bad.send_json({"type": "end"})
    assert bad.until(lambda m: m["type"] == "draft" and m["final"])["ticket"]["call_id"] == "t-bad"


def test_reconnect_resumes_without_loss_or_repeat(make_app, fake_pipeline, operator_token, live_server,
                                                  ws_client, frames):
    srv = live_server(make_app(fake_pipeline, grace_s=30))
    url = f"{srv.ws_url}/ws/call?token={operator_token}"
    first = ws_client(url)
    first.send_json(hello(call_id="t-resume"))
    first.recv()
    for frame in frames(np.tile(SILENCE_1S, 3)):
        first.ws.send(frame)
    first.until(lambda m: m["type"] == "final" and m["id"] == 2)
    seen = [m["id"] for m in first.of_type("final")]
    # pretend the client only processed segments 0 and 1, then the network dropped
    first.close()
    time.sleep(0.3)
    second = ws_client(url)
    second.send_json(hello(call_id="t-resume", resume_from=1))
    ready = second.recv()
    assert ready["resumed"] is True and ready["last_segment_id"] == 2
    again = second.until(lambda m: m["type"] == "final")
    assert again["id"] == 2  # only what came after resume_from
    for frame in frames(np.tile(SILENCE_1S, 2)):
        second.ws.send(frame)
    second.send_json({"type": "end"})
    final = second.until(lambda m: m["type"] == "draft" and m["final"])
    ids = [0, 1] + [m["id"] for m in second.of_type("final")]
    assert seen == [0, 1, 2]
    assert ids == [0, 1, 2, 3, 4], "no segment lost or repeated"
    assert [s["id"] for s in final["ticket"]["segments"]] == [0, 1, 2, 3, 4]


def test_resume_of_unknown_call_is_an_error(make_app, fake_pipeline, operator_token, live_server, ws_client):
    srv = live_server(make_app(fake_pipeline))
    c = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-never", resume_from=3))
    assert c.recv()["code"] == "unknown_call"


def test_other_operator_cannot_take_over_a_call(make_app, fake_pipeline, operator_token, tokens, live_server,
                                                ws_client):
    srv = live_server(make_app(fake_pipeline))
    c = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-mine"))
    assert c.recv()["type"] == "ready"
    other = tokens.create("someone-else", "operator")
    intruder = ws_client(f"{srv.ws_url}/ws/call?token={other}")
    intruder.send_json(hello(call_id="t-mine", resume_from=0))
    assert intruder.recv()["code"] == "forbidden"


def test_vanished_client_call_is_ended_after_grace(make_app, fake_pipeline, store, operator_token, live_server,
                                                   ws_client, frames):
    srv = live_server(make_app(fake_pipeline, grace_s=0.5))
    c = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-gone"))
    c.recv()
    for frame in frames(np.tile(SILENCE_1S, 2)):
        c.ws.send(frame)
    c.until(lambda m: m["type"] == "final" and m["id"] == 1)
    assert store.get_by_call("t-gone") is not None, "draft stored on every final"
    c.ws.socket.close()  # abrupt: no close frame, no end
    deadline = time.monotonic() + 10
    while not fake_pipeline.sessions["t-gone"].ended:
        assert time.monotonic() < deadline, "call not ended after the grace period"
        time.sleep(0.1)
    assert [s["id"] for s in store.segments("t-gone")] == [0, 1]


def test_slow_client_does_not_stall_other_calls(make_app, fake_pipeline, operator_token, live_server, ws_client,
                                               frames):
    """A client that never reads: its partials are dropped, the other call is served normally."""
    srv = live_server(make_app(fake_pipeline))
    fake_pipeline.seg_s = 0.1  # many events
    slow = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    slow.send_json(hello(call_id="t-slow"))
    for frame in frames(np.tile(SILENCE_1S, 20)):
        slow.ws.send(frame)  # and never read
    fast = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    fast.send_json(hello(call_id="t-fast"))
    assert fast.recv()["type"] == "ready"
    for frame in frames(np.tile(SILENCE_1S, 1)):
        fast.ws.send(frame)
    fast.send_json({"type": "end"})
    assert fast.until(lambda m: m["type"] == "draft" and m["final"], timeout=20)
    # the slow client, when it finally reads, still gets every final in order
    slow.send_json({"type": "end"})
    slow.until(lambda m: m["type"] == "draft" and m["final"], timeout=30)
    assert [m["id"] for m in slow.of_type("final")] == list(range(200))


def test_new_call_cannot_reuse_the_id_of_a_stored_ticket(make_app, fake_pipeline, store, operator_token,
                                                         live_server, ws_client):
    tid = store.upsert_draft({"call_id": "t-old", "transcript": "旧通话", "summary": "旧工单"})
    store.submit(tid)
    srv = live_server(make_app(fake_pipeline))
    c = ws_client(f"{srv.ws_url}/ws/call?token={operator_token}")
    c.send_json(hello(call_id="t-old"))
    assert c.recv()["code"] == "call_exists"
    assert store.get(tid)["transcript"] == "旧通话" and "t-old" not in fake_pipeline.sessions


# -- PBX dialects: Asterisk chan_websocket's MEDIA_START, AudioSocket (the real Asterisk: test_asterisk.py) --

def _wait_ended(store, call_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket = store.get_by_call(call_id)
        if ticket and (ticket.get("draft") or {}).get("timings"):
            return ticket
        time.sleep(0.05)
    raise AssertionError(f"no final draft for {call_id}")


def test_asterisk_media_start_with_bearer_header_ulaw_frames_and_close_as_hangup(
        make_app, fake_pipeline, store, operator_token, live_server):
    import json

    from websockets.sync.client import connect

    srv = live_server(make_app(fake_pipeline))
    media_start = {"event": "MEDIA_START", "connection_id": "hotline", "channel": "WebSocket/hotline/0x1",
                   "channel_id": "1761245643.7", "format": "ulaw", "optimal_frame_size": 160, "ptime": 20,
                   "channel_variables": {"__CALLER_NUMBER": "13900001111", "DIALEDPEERNUMBER": "hotline/v(token=hl_x)"}}
    with connect(f"{srv.ws_url}/ws/call", subprotocols=["media"], open_timeout=30,
                 additional_headers={"Authorization": f"Bearer {operator_token}"}) as ws:
        assert ws.subprotocol == "media"
        ws.send(json.dumps(media_start))
        for _ in range(125):  # 2.5 s of 8-kHz mu-law in 20-ms frames
            ws.send(bytes([0xFF]) * 160)
        ws.send(json.dumps({"event": "DTMF_END", "digit": "1"}))  # later events are ignored
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)  # a PBX gets no messages: chan_websocket would read them as commands
    ticket = _wait_ended(store, "1761245643.7")  # no `end`: the close was the hang-up
    assert ticket["draft"]["timings"]["audio_s"] == pytest.approx(2.5)  # 1 byte mu-law -> 1 sample
    session = fake_pipeline.sessions["1761245643.7"]
    assert (session.sample_rate, session.ended) == (8000, True)


def test_media_start_plain_text_and_refusals(make_app, fake_pipeline, store, operator_token, live_server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    srv = live_server(make_app(fake_pipeline))
    url = f"{srv.ws_url}/ws/call?token={operator_token}"
    with connect(url, subprotocols=["media"], open_timeout=30) as ws:
        ws.send("MEDIA_START connection_id:hotline channel:WebSocket/hotline/0x2 format:slin16 optimal_frame_size:640")
        for _ in range(100):
            ws.send(b"\x00\x00" * 320)
    ticket = _wait_ended(store, "hotline")  # no channel_id in the plain-text form: connection_id
    assert ticket["draft"]["timings"]["audio_s"] == pytest.approx(2.0)
    with connect(url, subprotocols=["media"], open_timeout=30) as ws:
        ws.send('{"event":"MEDIA_START","format":"g729","channel_id":"1.9"}')
        assert '"bad_hello"' in ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4400  # closed: Asterisk hangs up that leg
    with connect(f"{srv.ws_url}/ws/call", open_timeout=30,
                 additional_headers={"Authorization": "Bearer hl_wrong"}) as ws:
        assert '"unauthorized"' in ws.recv(timeout=5)


def test_audiosocket_any_frame_length_hangup_and_errors(make_app, fake_pipeline, store, live_server):
    import socket
    import uuid

    from web.audiosocket import AudioSocketOptions, message, serve_alongside

    app = make_app(fake_pipeline)
    serve_alongside(app, AudioSocketOptions(port=0))
    live_server(app)
    port = app.state.audiosocket.port

    call = uuid.uuid4()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(message(0x01, call.bytes))
        pcm = b"\x01\x00" * 8000 * 3  # 3 s at 8 kHz, sent in odd-sized frames
        for i in range(0, len(pcm), 333):
            s.sendall(message(0x10, pcm[i:i + 333]))
        s.sendall(message(0x03, b"5"))  # DTMF: ignored
        s.sendall(message(0x00))  # hang-up
        assert s.recv(10) == b""  # the server closes
    ticket = _wait_ended(store, str(call))
    assert ticket["draft"]["timings"]["audio_s"] == pytest.approx(3.0)

    closed_call = uuid.uuid4()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # Asterisk 22: just closes
        s.sendall(message(0x01, closed_call.bytes) + message(0x10, b"\x00\x00" * 1600))
    assert _wait_ended(store, str(closed_call))["draft"]["timings"]["audio_s"] == pytest.approx(0.2)

    for first in (message(0x10, b"\x00\x00" * 160), message(0x01, b"short")):  # no UUID first
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(first)
            assert s.recv(10) == b"\xff\x00\x01\x02"  # error (frame), then close
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # a call that already has a ticket
        s.sendall(message(0x01, call.bytes) + message(0x10, b"\x00\x00" * 160))
        assert s.recv(10) == b"\xff\x00\x01\x02"
    assert store.get_by_call(str(call))["draft"]["timings"]["audio_s"] == pytest.approx(3.0)  # not overwritten
