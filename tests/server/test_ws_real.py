"""The call websocket end to end with the real model and pipeline (Whisper base, nlp, SQLite):
fixture calls from tests/data/calls streamed in 100-ms PCM16 frames to a real uvicorn server.
One server for the module so the model loads once."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

FRAME_MS = 100


def load_pcm(path: Path) -> np.ndarray:
    from stt.audio import load_audio

    audio = load_audio(path)
    assert audio.sample_rate == 16000
    return (np.clip(audio.samples.mean(axis=0), -1, 1) * 32767).astype("<i2")


def stream(ws, pcm: np.ndarray, speed: float = 4.0, stop: threading.Event | None = None) -> None:
    """Send frames paced at `speed` x real time (fast, yet the decoder sees a live-like stream)."""
    step = 16000 * FRAME_MS // 1000
    for i in range(0, len(pcm), step):
        if stop is not None and stop.is_set():
            return
        ws.send(pcm[i:i + step].tobytes())
        time.sleep(FRAME_MS / 1000 / speed)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """(LiveServer, store, token) with the real pipeline; calls that lose their client end after 3 s."""
    from server import ServerOptions, create_app
    from ticketing import TicketStore
    from web.auth import TokenStore
    from web.calls import CallOptions

    from config import Settings

    home = tmp_path_factory.mktemp("real-server")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'real.db'}")
    store = TicketStore(settings.db_url())
    token = TokenStore.for_store(store).create("real-operator", "operator")
    app = create_app(settings, options=ServerOptions(calls=CallOptions(grace_s=3.0), preload=True), store=store)
    # the conftest's LiveServer, without importing conftest (importlib mode)
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=1 << 20))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    app.state.resources.pipeline()  # wait for the model before timing-sensitive tests
    yield {"url": f"http://127.0.0.1:{port}", "ws": f"ws://127.0.0.1:{port}/ws/call?token={token}",
           "store": store, "token": token, "app": app}
    server.should_exit = True
    thread.join(timeout=60)
    store.close()


def test_live_call_streams_partials_finals_drafts_while_garbage_is_refused(real, ws_client, calls_dir):
    store = real["store"]
    caller = ws_client(real["ws"])
    caller.send_json({"type": "hello", "call_id": "real-008", "sample_rate": 16000, "channels": 1, "language": "zh"})
    assert caller.recv()["type"] == "ready"
    pcm = load_pcm(calls_dir / "dev-008.wav")
    sender = threading.Thread(target=stream, args=(caller.ws, pcm, 3.0))
    sender.start()

    # meanwhile another client sends garbage; it gets errors and the call above is not disturbed
    bad = ws_client(real["ws"])
    bad.ws.send(b"\x01\x02" * 100)
    bad.ws.send("{oops")
    bad.send_json({"type": "hello", "sample_rate": 16000, "channels": 1, "call_id": "real-garbage"})
    bad.ws.send(b"\x01\x02\x03")
    bad.ws.send(b"\x00" * 64000)
    bad.send_json({"type": "nonsense"})
    codes = [m.get("code") for m in (bad.recv() for _ in range(6)) if m["type"] == "error"]
    assert codes == ["no_call", "bad_json", "bad_frame", "frame_too_large", "bad_message"]
    assert bad.messages[2]["type"] == "ready"

    sender.join()
    caller.send_json({"type": "end"})
    final = caller.until(lambda m: m["type"] == "draft" and m.get("final"), timeout=120)
    finals = caller.of_type("final")
    ids = [m["id"] for m in finals]
    print("partials", len(caller.of_type("partial")), "finals", len(finals), "drafts", len(caller.of_type("draft")),
          "timings", final["ticket"]["timings"])
    assert len(finals) >= 5 and ids == sorted(set(ids)), ids
    assert caller.of_type("partial"), "partials arrive while an utterance is open"
    assert any(m["type"] == "draft" and not m["final"] for m in caller.messages)
    assert all({"id", "start", "end", "text", "speaker"} <= set(m) for m in finals)
    ticket = final["ticket"]
    assert ticket["timings"]["ready_after_hangup_s"] >= 0 and ticket["timings"]["audio_s"] > 40
    assert "营口路" in ticket["transcript"] or "588" in ticket["transcript"]
    assert ticket["category"] and ticket["district"], "the nlp part filled the draft"  # accuracy: tests/nlp
    stored = store.get_by_call("real-008")
    assert stored is not None and final["ticket_id"] == stored["id"]
    assert len(store.segments("real-008")) == len(finals)
    import httpx

    metrics = httpx.get(f"{real['url']}/metrics", timeout=30).text
    assert re.search(r"^hotline_hangup_to_draft_seconds_count [1-9]", metrics, re.M)
    assert re.search(r"^hotline_utterance_to_final_seconds_count [1-9]", metrics, re.M)
    assert 'hotline_stage_seconds_count{stage="asr"}' in metrics
    assert re.search(r"^hotline_digit_passes_total \d+\.0$", metrics, re.M), "the digit pass counter is exported"
    # the garbage client's own call still works
    bad.ws.send(pcm[:16000].tobytes()[:6400])
    bad.send_json({"type": "end"})
    assert bad.until(lambda m: m["type"] == "draft" and m.get("final"), timeout=60)["ticket"]["call_id"] == "real-garbage"


def test_reconnect_resumes_without_losing_or_repeating_segments(real, ws_client, calls_dir):
    pcm = load_pcm(calls_dir / "dev-002.wav")
    half = len(pcm) // 2
    first = ws_client(real["ws"])
    first.send_json({"type": "hello", "call_id": "real-resume", "sample_rate": 16000, "channels": 1})
    assert first.recv()["type"] == "ready"
    stream(first.ws, pcm[:half], speed=6.0)
    first.until(lambda m: m["type"] == "final" and m["id"] >= 1, timeout=60)
    kept = [m for m in first.of_type("final")]
    kept = kept[:-1]  # pretend the last one was lost in the drop
    first.ws.socket.close()  # network drop: no close frame, no end
    time.sleep(0.5)

    second = ws_client(real["ws"])
    resume_from = kept[-1]["id"] if kept else -1
    second.send_json({"type": "hello", "call_id": "real-resume", "sample_rate": 16000, "channels": 1,
                      "resume_from": resume_from})
    ready = second.recv()
    assert ready["type"] == "ready" and ready["resumed"] is True
    stream(second.ws, pcm[half:], speed=6.0)
    second.send_json({"type": "end"})
    final = second.until(lambda m: m["type"] == "draft" and m.get("final"), timeout=120)
    got = [m["id"] for m in kept] + [m["id"] for m in second.of_type("final")]
    expected = [s["id"] for s in final["ticket"]["segments"]]
    print("kept", [m["id"] for m in kept], "after resume", [m["id"] for m in second.of_type("final")])
    assert got == sorted(set(got)), "no segment repeated"
    assert got == expected, "no segment lost"
    assert len(got) >= 4


CLIENT = r'''
import json, sys, time
import numpy as np
from websockets.sync.client import connect
url, path = sys.argv[1], sys.argv[2]
pcm = np.fromfile(path, dtype="<i2")
with connect(url) as ws:
    ws.send(json.dumps({"type": "hello", "call_id": "real-killed", "sample_rate": 16000, "channels": 1}))
    print(ws.recv(), flush=True)
    for i in range(0, len(pcm), 1600):
        ws.send(pcm[i:i + 1600].tobytes())
        time.sleep(0.025)
        try:
            while True:
                print(ws.recv(timeout=0), flush=True)
        except TimeoutError:
            pass
    time.sleep(600)
'''


def test_client_killed_mid_call_leaves_its_draft(real, tmp_path, calls_dir):
    store = real["store"]
    raw = tmp_path / "dev-005.pcm"
    load_pcm(calls_dir / "dev-005.wav").tofile(raw)
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    proc = subprocess.Popen([sys.executable, str(script), real["ws"], str(raw)], stdout=subprocess.PIPE, text=True)
    finals = 0
    try:
        deadline = time.monotonic() + 90
        while finals < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if json.loads(line).get("type") == "final":
                finals += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert finals >= 3, "the client saw finals before it was killed"
    ticket = store.get_by_call("real-killed")
    assert ticket is not None and ticket["state"] == "draft", "the draft is in the store as the call goes"
    assert len(store.segments("real-killed")) >= 3
    # after the grace period the server ends the call: the final draft and call record are saved
    deadline = time.monotonic() + 60
    while not (store.call("real-killed") or {}).get("ended_at"):
        assert time.monotonic() < deadline, "the abandoned call was not ended after its grace period"
        time.sleep(0.5)
    assert store.get_by_call("real-killed")["draft"]["timings"]["ready_after_hangup_s"] >= 0


def test_batch_job_runs_uploads_through_the_pipeline(real, calls_dir):
    import httpx

    h = {"Authorization": f"Bearer {real['token']}"}
    with open(calls_dir / "dev-021.wav", "rb") as good:
        files = [("files", ("dev-021.wav", good.read(), "audio/wav")),
                 ("files", ("broken.wav", b"RIFF not really audio", "audio/wav"))]
    resp = httpx.post(f"{real['url']}/api/jobs", files=files, headers=h, timeout=60)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert resp.json()["progress"] == {"done": 0, "total": 2} or resp.json()["progress"]["total"] == 2
    deadline = time.monotonic() + 180
    while True:
        job = httpx.get(f"{real['url']}/api/jobs/{job_id}", headers=h, timeout=30).json()
        if job["status"] == "done":
            break
        assert time.monotonic() < deadline, job
        time.sleep(1)
    good, broken = job["files"]
    assert good["status"] == "done" and good["draft"]["transcript"] and good["ticket_id"]
    stored = real["store"].get(good["ticket_id"])
    assert stored["call_id"] == good["call_id"] and stored["transcript"] == good["draft"]["transcript"]
    assert broken["status"] == "failed" and broken["error"]
    assert httpx.get(f"{real['url']}/api/jobs/{job_id}", timeout=30).status_code == 401
    metrics = httpx.get(f"{real['url']}/metrics", timeout=30).text
    assert 'hotline_stage_seconds_count{stage="batch_file"} 2' in metrics


def test_telephone_rate_call(real, ws_client, calls_dir):
    """8 kHz narrowband, as a phone switch delivers it: converted on the server, same protocol."""
    from stt.audio import load_audio

    audio = load_audio(calls_dir / "dev-005.8k.wav", sample_rate=8000)
    pcm = (np.clip(audio.samples.mean(axis=0), -1, 1) * 32767).astype("<i2")
    c = ws_client(real["ws"])
    c.send_json({"type": "hello", "call_id": "real-8k", "sample_rate": 8000, "channels": 1})
    assert c.recv()["type"] == "ready"
    step = 8000 * FRAME_MS // 1000
    for i in range(0, len(pcm), step):
        c.ws.send(pcm[i:i + step].tobytes())
        time.sleep(FRAME_MS / 1000 / 8)
    c.send_json({"type": "end"})
    final = c.until(lambda m: m["type"] == "draft" and m.get("final"), timeout=120)
    assert len(c.of_type("final")) >= 4
    assert 34 < final["ticket"]["timings"]["audio_s"] < 38
    assert final["ticket"]["category"], "the nlp part filled the draft"
