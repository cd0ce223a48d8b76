"""`/ws/funasr`: the FunASR runtime protocol. Unit tests of the message mapping (no model),
the socket with a fake pipeline (auth, errors), and the real PyPI `funasr-client` (its async
client) streaming a dev call at 8 kHz into a real server with the real model."""
from __future__ import annotations

import asyncio
import json
import struct

import numpy as np
import pytest

from web.calls import CallOptions
from web.funasr import FunasrInit, FunasrReplies, PcmChunker, parse_hotwords, parse_init, timestamps
from web.protocol import ProtocolError


# -- the mapping, unit by unit -----------------------------------------------------------------

def test_init_message_fields_and_refusals():
    init = parse_init({"mode": "2pass", "wav_name": "c1", "is_speaking": True, "wav_format": "pcm",
                       "chunk_size": [5, 10, 5], "audio_fs": 8000, "hotwords": "{\"曹杨路\": 20, \"兰溪路\": 30}",
                       "itn": True}, CallOptions())
    assert (init.mode, init.wav_name, init.audio_fs, init.hotwords) == ("2pass", "c1", 8000, ["曹杨路", "兰溪路"])
    assert parse_init({}, CallOptions()).audio_fs == 16000  # FunASR's defaults
    assert parse_hotwords("阿里巴巴 达摩院", 10) == ["阿里巴巴", "达摩院"]  # older clients: words by spaces
    for bad in ({"mode": "3pass"}, {"audio_fs": 4000}, {"wav_format": "mp3"}, {"call_id": "no spaces"},
                {"hotwords": "{\"" + "长" * 40 + "\": 1}"}):
        with pytest.raises(ProtocolError):
            parse_init(bad, CallOptions())


def test_partials_become_agreed_increments_and_finals_offline_sentences():
    replies = FunasrReplies(FunasrInit(mode="2pass", wav_name="w"))
    out = []
    for text in ("曹杨路上", "曹杨路上面有", "曹阳路上面有个", "曹杨路上面有个井"):
        out += replies.translate({"type": "partial", "id": 3, "start": 1.0, "end": 2.0, "text": text})
    # each hypothesis sends what it adds to the text sent; a revision (曹阳) sends nothing
    assert [m["text"] for m in out] == ["曹杨路上", "面有", "个井"]
    assert all(m["mode"] == "2pass-online" and m["is_final"] is False and m["wav_name"] == "w" for m in out)
    final = replies.translate({"type": "final", "id": 3, "start": 1.0, "end": 2.2, "text": "曹杨路上面有个井盖没了。"})
    assert len(final) == 1 and final[0]["mode"] == "2pass-offline" and final[0]["is_final"] is False
    ts = json.loads(final[0]["timestamp"])  # FunASR sends it as a JSON string
    assert len(ts) == 11 and ts[0][0] == 1000 and ts[-1][1] == 2200  # one span per character, no punctuation
    assert final[0]["stamp_sents"] == [{"text_seg": " ".join("曹杨路上面有个井盖没了"), "punc": "。",
                                        "start": 1000, "end": 2200, "ts_list": ts}]
    assert replies.translate({"type": "ready", "call_id": "x"}) == []
    assert replies.translate({"type": "draft", "final": False, "ticket": {}}) == []  # interim drafts: none
    draft = replies.translate({"type": "draft", "final": True, "ticket": {"call_id": "c", "district": "普陀区"},
                               "ticket_id": 7})
    assert draft == [{"mode": "hotline-draft", "wav_name": "w", "text": "", "is_final": False,
                      "draft": {"call_id": "c", "district": "普陀区"}, "ticket_id": 7, "call_id": "c"}]
    assert replies.end() == {"mode": "2pass-offline", "wav_name": "w", "text": "", "is_final": True}


def test_online_and_offline_modes_label_and_complete_text():
    online = FunasrReplies(FunasrInit(mode="online"))
    sent = online.translate({"type": "partial", "id": 0, "text": "您好"})
    sent += online.translate({"type": "final", "id": 0, "start": 0, "end": 1, "text": "您好，热线。"})
    # append-only text that is never corrected: the finals only, so the concatenation is the transcript
    assert sent == [{"mode": "online", "wav_name": "wav-default-id", "text": "您好，热线。", "is_final": False}]
    offline = FunasrReplies(FunasrInit(mode="offline"))
    assert offline.translate({"type": "partial", "id": 0, "text": "您好"}) == []
    assert offline.translate({"type": "final", "id": 0, "start": 0, "end": 1, "text": "您好。"})[0]["mode"] == "offline"
    assert offline.translate({"type": "final", "id": 1, "start": 1, "end": 2, "text": ""}) == []  # retraction


def test_timestamps_of_mixed_text_and_several_sentences():
    ts, sents = timestamps("电话是13816572039，好的。OK", 10.0, 12.0)
    assert len(ts) == 7 and ts[0][0] == 10000 and ts[-1][1] == 12000  # 电 话 是 <number> 好 的 OK
    assert [s["punc"] for s in sents] == ["，", "。", ""] and sents[0]["text_seg"] == "电 话 是 13816572039"


def test_pcm_chunker_splits_any_length_and_skips_a_wav_header():
    chunker = PcmChunker(8000, wav=False)
    frames = chunker.split(b"\x01" * 7001)  # odd length: the last byte waits for its pair
    assert [len(f) for f in frames] == [3200, 3200, 600] and chunker.split(b"\x02")[0] == b"\x01\x02"
    header = b"RIFF" + struct.pack("<I", 36 + 8) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + b"\0" * 16
    wav = PcmChunker(16000, wav=True)
    assert wav.split(header) == []  # the data chunk id has not come yet
    assert wav.split(b"data" + struct.pack("<I", 4) + b"\x05\x06\x07\x08") == [b"\x05\x06\x07\x08"]


# -- the socket with a fake pipeline -----------------------------------------------------------------

def test_socket_auth_by_query_or_header_and_refusals(make_app, fake_pipeline, live_server, operator_token):
    from websockets.sync.client import connect

    server = live_server(make_app(fake_pipeline))
    url = f"{server.ws_url}/ws/funasr"
    with connect(url, open_timeout=30) as ws:
        refused = json.loads(ws.recv(timeout=30))
        assert refused["mode"] == "hotline-error" and refused["code"] == "unauthorized" and refused["is_final"]
    with connect(url, additional_headers={"Authorization": f"Bearer {operator_token}"}, open_timeout=30) as ws:
        ws.send(json.dumps({"mode": "2pass", "wav_format": "mp3"}))
        bad = json.loads(ws.recv(timeout=30))
        assert bad["code"] == "bad_hello" and "pcm" in bad["message"] and bad["is_final"]
    with connect(f"{url}?token={operator_token}", subprotocols=["binary"], open_timeout=30) as ws:
        assert ws.subprotocol == "binary"
        ws.send(json.dumps({"mode": "offline", "wav_name": "fake", "audio_fs": 16000, "is_speaking": True}))
        ws.send(b"\0" * 32000 * 2 + b"\0")  # 2 s in one message, plus half a sample
        ws.send(json.dumps({"is_speaking": False}))
        got = [json.loads(ws.recv(timeout=30)) for _ in range(4)]
    assert [m["mode"] for m in got] == ["offline", "offline", "hotline-draft", "offline"]
    assert [m["text"] for m in got[:2]] == ["第0段。", "第1段。"] and got[-1]["is_final"]
    assert got[2]["draft"]["call_id"].startswith("funasr-") and got[2]["ticket_id"]


# -- the real client against the real model --------------------------------------------------------

@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    from config import Settings
    from server import ServerOptions, create_app
    from tests.server.conftest import LiveServer
    from ticketing import TicketStore
    from web.auth import TokenStore

    home = tmp_path_factory.mktemp("funasr-server")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'funasr.db'}")
    store = TicketStore(settings.db_url())
    token = TokenStore.for_store(store).create("funasr-client", "operator")
    app = create_app(settings, options=ServerOptions(preload=True), store=store)
    with LiveServer(app) as live:
        app.state.resources.pipeline()
        yield {"url": f"{live.ws_url}/ws/funasr?token={token}", "store": store, "app": app}
    store.close()


async def _stream_call(uri: str, pcm: bytes, rate: int, hotwords: dict[str, int], speed: float) -> list[dict]:
    from funasr_client import async_funasr_client

    received: list[dict] = []

    async def on_message(msg: dict) -> None:
        received.append(msg)

    client = async_funasr_client(uri, mode="2pass", wav_name="dev-005-8k", wav_format="pcm", audio_fs=rate,
                                 hotwords=hotwords, itn=True, callback=on_message)
    await client.connect()
    step = int(rate * 0.06) * 2  # 60-ms chunks, as funasr_wss_client sends with chunk_size [5,10,5]
    for i in range(0, len(pcm), step):
        await client.send(pcm[i:i + step])
        await asyncio.sleep(0.06 / speed)
    await client.close(timeout=120)  # is_speaking false, then waits for is_final
    return received


@pytest.mark.slow
def test_funasr_client_streams_a_call_and_gets_finals_and_the_stored_draft(real_server, calls_dir):
    from stt.audio import load_audio

    audio = load_audio(calls_dir / "dev-005.8k.wav", sample_rate=8000)
    pcm = (np.clip(audio.samples.mean(axis=0), -1, 1) * 32767).astype("<i2").tobytes()
    hotwords = {"曹杨路": 20, "兰溪路": 20}
    got = asyncio.run(_stream_call(real_server["url"], pcm, 8000, hotwords, speed=2.0))

    modes = [m["mode"] for m in got]
    print("modes", {m: modes.count(m) for m in set(modes)})
    online = [m for m in got if m["mode"] == "2pass-online"]
    finals = [m for m in got if m["mode"] == "2pass-offline" and m["text"]]
    assert online, "online increments arrive while an utterance is open"
    assert len(finals) >= 4
    for m in finals:  # decoded by the client: timestamp is a list of [start, end] ms per character
        assert m["is_final"] is False and m["timestamp"] and m["stamp_sents"]
        assert all(a <= b for a, b in m["timestamp"]) and m["stamp_sents"][0]["start"] == m["timestamp"][0][0]
    starts = [m["timestamp"][0][0] for m in finals]
    assert starts == sorted(starts) and starts[-1] > 20000  # ms from the stream's start
    text = "".join(m["text"] for m in finals)
    assert "普陀区" in text and "12345" in text  # accuracy: tests/nlp and the eval; here: the call went through

    assert modes[-1] == "2pass-offline" and got[-1]["is_final"] is True and got[-1]["text"] == ""
    assert modes.count("hotline-draft") == 1 and modes[-2] == "hotline-draft", modes[-4:]
    draft = got[-2]["draft"]
    assert draft["transcript"] and draft["district"] == "普陀区", {k: draft.get(k) for k in ("district", "category")}
    stored = real_server["store"].get_by_call(draft["call_id"])
    assert stored is not None and stored["id"] == got[-2]["ticket_id"]
    assert len(real_server["store"].segments(draft["call_id"])) == len(finals)
    call = real_server["app"].state.registry.calls[draft["call_id"]]
    assert call.source == "funasr" and call.caller["wav_name"] == "dev-005-8k"
    assert {"曹杨路", "兰溪路"} <= set(call.session.transcriber.hotwords), "FunASR hotwords are the call's hotwords"
