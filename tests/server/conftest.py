"""Server test fixtures: a throwaway SQLite store, tokens, a live uvicorn server on a free port,
and (for protocol unit tests only) a fake pipeline that emits segments on a timer-free schedule.
Tests that need the real model build the app without `pipeline=` so `Pipeline.load` runs."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws_max_size=1 << 20, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


class FakeSession:
    """Stands in for pipeline.CallSession: one final segment per `seg_s` of audio received,
    a partial before it, a draft after it; the store is updated on every final like the real one."""

    def __init__(self, pipeline: "FakePipeline", call_id: str, sample_rate: int, channels: int,
                 on_event: Callable[[dict], None]) -> None:
        self.pipeline, self.call_id = pipeline, call_id
        self.sample_rate, self.channels, self.on_event = sample_rate, channels, on_event
        self.samples = 0
        self.next_id = 0
        self.finals: list[dict] = []
        self.ended = False

    def _draft(self) -> dict:
        transcript = "".join(s["text"] for s in self.finals)
        return {"call_id": self.call_id, "transcript": transcript, "segments": list(self.finals),
                "appeal_type": "投诉", "category": "road_obstruction", "district": "杨浦区",
                "address": "杨浦区营口路588号", "department": None, "summary": "反映营口路人行道被占",
                "caller_name": "王先生", "phone": "13917654321",
                "confidence": {"district": 0.9, "category": 0.5}, "evidence": {}, "candidates": {}}

    def _emit_final(self) -> None:
        seg = {"id": self.next_id, "start": self.next_id * self.pipeline.seg_s,
               "end": (self.next_id + 1) * self.pipeline.seg_s, "text": f"第{self.next_id}段。",
               "speaker": None}
        self.on_event({"type": "partial", **seg, "text": seg["text"][:-1]})
        self.next_id += 1
        self.finals.append(seg)
        store = self.pipeline.store
        if store is not None:
            store.add_segment(self.call_id, seg)
            store.upsert_draft(self._draft())
        self.on_event({"type": "final", **seg})
        self.on_event({"type": "draft", "final": False, "ticket": self._draft()})

    def feed_pcm16(self, data: bytes) -> None:
        if self.pipeline.feed_delay:
            time.sleep(self.pipeline.feed_delay)
        self.samples += len(data) // (2 * self.channels)
        while self.samples >= self.sample_rate * self.pipeline.seg_s * (self.next_id + 1):
            self._emit_final()

    def end(self) -> dict:
        if self.samples > self.sample_rate * self.pipeline.seg_s * self.next_id:
            self._emit_final()
        self.ended = True
        draft = self._draft()
        draft["timings"] = {"audio_s": self.samples / self.sample_rate}
        if self.pipeline.store is not None:
            self.pipeline.store.upsert_draft(draft)
        return draft


class FakePipeline:
    def __init__(self, store: Any = None, seg_s: float = 1.0, feed_delay: float = 0.0) -> None:
        self.store, self.seg_s, self.feed_delay = store, seg_s, feed_delay
        self.sessions: dict[str, FakeSession] = {}

    def queue_length(self) -> int:
        return 0

    def open_call(self, call_id=None, sample_rate=16000, channels=1, hotwords=(), on_event=None) -> FakeSession:
        session = FakeSession(self, call_id, sample_rate, channels, on_event or (lambda e: None))
        self.sessions[call_id] = session
        return session


@pytest.fixture()
def settings(tmp_path: Path):
    from config import Settings

    return Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'server-test.db'}")


@pytest.fixture()
def store(settings):
    from ticketing import TicketStore

    s = TicketStore(settings.db_url())
    yield s
    s.close()


@pytest.fixture()
def tokens(store):
    from web.auth import TokenStore

    return TokenStore.for_store(store)


@pytest.fixture()
def admin_token(tokens) -> str:
    return tokens.create("test-admin", "admin")


@pytest.fixture()
def operator_token(tokens) -> str:
    return tokens.create("test-operator", "operator")


@pytest.fixture()
def fake_pipeline(store) -> FakePipeline:
    return FakePipeline(store)


@pytest.fixture()
def make_app(settings, store):
    """Build the app; pipeline=None means the real Pipeline.load(settings)."""

    def make(pipeline: Any = None, **call_options: Any):
        from server import ServerOptions, create_app
        from web.calls import CallOptions

        options = ServerOptions(calls=CallOptions(**call_options), preload=False)
        return create_app(settings, options=options, pipeline=pipeline, store=store)

    return make


@pytest.fixture()
def live_server():
    """live_server(app) -> a started LiveServer, stopped at teardown."""
    started: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


class WsClient:
    """A small sync websocket client that sorts what it receives."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._cm = connect(url, max_size=None, open_timeout=30)
        self.ws = self._cm.__enter__()
        self.messages: list[dict] = []

    def send_json(self, obj: Any) -> None:
        import json

        self.ws.send(json.dumps(obj, ensure_ascii=False))

    def recv(self, timeout: float = 30.0) -> dict:
        import json

        msg = json.loads(self.ws.recv(timeout=timeout))
        self.messages.append(msg)
        return msg

    def until(self, pred: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching message; got {[m.get('type') for m in self.messages][-20:]}")
            msg = self.recv(timeout=left)
            if pred(msg):
                return msg

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m.get("type") == kind]

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


@pytest.fixture()
def ws_client():
    clients: list[WsClient] = []

    def open_client(url: str) -> WsClient:
        client = WsClient(url)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        try:
            client.close()
        except Exception:
            pass


def pcm_frames(samples, frame_ms: int = 100, sample_rate: int = 16000, channels: int = 1):
    """int16 numpy samples -> little-endian PCM16 frames of frame_ms."""
    import numpy as np

    data = np.asarray(samples, dtype="<i2").tobytes()
    step = int(sample_rate * frame_ms / 1000) * 2 * channels
    return [data[i:i + step] for i in range(0, len(data), step)]


@pytest.fixture()
def frames():
    return pcm_frames
