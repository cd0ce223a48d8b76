"""Bad input: sounds that are not speech (4), broken recordings (5), fuzzed websocket traffic
and the limits that hold it (8)."""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
import uuid
from typing import Any

import numpy as np

from bench.faultkit import Context, Result
from bench.faultkit.client import WsCall, lost_and_duplicated
from bench.faultkit.harness import HOTLINE, call_pcm, pcm16
from bench.faultkit.signals import SIGNALS, bad_files

# draft fields that must stay empty when nobody spoke
TICKET_FIELDS = ("appeal_type", "category", "district", "street", "road", "address", "landmark", "company",
                 "caller_name", "phone", "department")


async def not_speech(ctx: Context, seconds: float = 120.0) -> Result:
    """(4) Silence, music, white noise and DTMF for `seconds` each: no text, no ticket fields."""
    res = ctx.result(4, f"silence, music, white noise, DTMF ({seconds:g} s each)")
    for name, make in SIGNALS.items():
        client = WsCall(ctx.ws_url(), f"f-{name}-{uuid.uuid4().hex[:6]}")
        await client.open()
        t0 = time.monotonic()
        await client.stream(pcm16(make(seconds)), speed=0)
        await client.end(timeout=300)
        await client.close()
        ticket = (client.record.final_draft or {}).get("ticket") or {}
        texts = [m["text"] for m in client.record.finals if m.get("text")]
        filled = {k: ticket.get(k) for k in TICKET_FIELDS if ticket.get(k)}
        res.figures[name] = {"finals": len(texts), "text": "".join(texts)[:80], "fields": filled,
                             "seconds": round(time.monotonic() - t0, 1)}
        if client.record.final_draft is None:
            res.error(f"{name}: no final draft")
        if texts or (ticket.get("transcript") or "").strip():
            res.error(f"{name}: invented text {''.join(texts)[:60]!r}")
        if filled:
            res.error(f"{name}: ticket fields filled {filled}")
    return res


def _transcribe_cli(ctx: Context, folder: Any) -> tuple[int, dict[str, Any], list[str], str]:
    env = {"HOTLINE_HOME": str(ctx.work / "cli-home"), "PATH": "/usr/bin:/bin"}
    import os

    out = subprocess.run([HOTLINE, "transcribe", str(folder), "--json"], capture_output=True, text=True,
                         timeout=900, env={**os.environ, **env})
    done = {}
    for line in out.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        done[doc["file"].rsplit("/", 1)[-1]] = doc
    skipped = [line for line in out.stderr.splitlines() if line.startswith("skipped: ")]
    return out.returncode, done, skipped, out.stderr


async def bad_recordings(ctx: Context) -> Result:
    """(5) Corrupt, truncated, empty, mislabelled and odd-rate files through `hotline transcribe`
    and the upload job: one clear error per bad file, the good ones finish."""
    import httpx

    res = ctx.result(5, "corrupt, truncated and odd-rate files (CLI and upload job)")
    from stt.audio import load_audio

    speech = load_audio(ctx.calls_dir / "dev-005.wav").samples[0][: 16000 * 20]
    folder = ctx.work / "fault5"
    expect = bad_files(folder, speech)
    code, done, skipped, stderr = await asyncio.to_thread(_transcribe_cli, ctx, folder)
    cli: dict[str, str] = {}
    for name, ok in expect.items():
        said = [line for line in skipped if f"/{name}:" in line]
        if ok:
            segs = (done.get(name) or {}).get("segments") or []
            cli[name] = f"ok, {len(segs)} segments" if segs else "NO TEXT"
            if not segs:
                res.error(f"cli: {name} should have been transcribed")
        else:
            cli[name] = said[0][len("skipped: "):] if len(said) == 1 else f"{len(said)} errors"
            if len(said) != 1:
                res.error(f"cli: {name}: expected one clear error, got {said}")
    if "Traceback" in stderr:
        res.error("cli: a traceback on stderr")
    if code != 1:
        res.error(f"cli: exit code {code}, expected 1 (some files failed)")
    res.figures["cli"] = cli
    # the same files as one upload job
    h = {"Authorization": f"Bearer {ctx.tokens['operator']}"}
    files = [("files", (name, (folder / name).read_bytes(), "application/octet-stream")) for name in expect]
    async with httpx.AsyncClient(base_url=ctx.server.base, timeout=120) as http:
        resp = await http.post("/api/jobs", files=files, headers=h)
        if resp.status_code != 202:
            res.error(f"upload answered {resp.status_code}: {resp.text[:200]}")
            return res
        job_id = resp.json()["id"]
        deadline = time.monotonic() + 600
        job: dict = {}
        while time.monotonic() < deadline:
            job = (await http.get(f"/api/jobs/{job_id}", headers=h)).json()
            if job.get("status") == "done":
                break
            await asyncio.sleep(1)
        cancel = await http.delete(f"/api/jobs/{job_id}", headers=h)
    upload = {}
    for f in job.get("files", []):
        ok = expect.get(f["name"])
        upload[f["name"]] = f["status"] + (f": {f['error']}" if f.get("error") else "")
        if ok and f["status"] != "done":
            res.error(f"job: {f['name']} should have finished, is {f['status']} {f.get('error')}")
        if not ok and (f["status"] != "failed" or not f.get("error")):
            res.error(f"job: {f['name']} should have failed with an error, is {f['status']}")
    res.figures["job"] = upload
    if job.get("status") != "done":
        res.error(f"job did not finish: {job.get('status')}")
    if cancel.status_code != 200 or (ctx.backend.home / "jobs" / job_id).exists():
        res.error("the finished job's files were not deleted by DELETE /api/jobs/{id}")
    return res


# -- fuzzing ----------------------------------------------------------------------------------------

def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "float", "str", "bool", "null", "list", "dict"] if depth < 3 else ["int", "str", "null"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, 16000, 8000, 48001])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.14])
    if kind == "str":
        return rng.choice(["", "hello", "end", "ping", "x" * rng.randint(1, 300), "\u0000", "你好", "../../etc"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {rng.choice(["type", "call_id", "sample_rate", "channels", "hotwords", "resume_from", "language",
                        "x"]): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


async def _raw(ctx: Context, token: str) -> Any:
    import websockets

    return await websockets.connect(ctx.server.ws_url(token), max_size=None, open_timeout=30, ping_interval=None)


async def _drain(ws: Any, seconds: float) -> list[dict]:
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        except Exception:  # noqa: BLE001 - closed
            break
        if isinstance(raw, str):
            got.append(json.loads(raw))
    return got


async def _pong(ws: Any) -> bool:
    try:
        await ws.send(json.dumps({"type": "ping"}))
        for _ in range(2000):
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("type") == "pong":
                return True
    except Exception:  # noqa: BLE001
        return False
    return False


async def _fuzz_json(ctx: Context, res: Result) -> None:
    rng = random.Random(16)
    ws = await _raw(ctx, ctx.tokens["fuzzer"])
    for _ in range(500):
        obj = _random_json(rng)
        if isinstance(obj, dict) and rng.random() < 0.5:
            obj["type"] = rng.choice(["hello", "end", "hotwords", "ping", "nope", 7])
        await ws.send(json.dumps(obj))
        if rng.random() < 0.1:
            await ws.send(rng.choice(["{", "[]", "null", "\"x\"", "{\"type\":", "\u00ff" * 10]))
    got = await _drain(ws, 2)
    codes = sorted({m.get("code") for m in got if m.get("type") == "error"})
    res.figures["random_json_error_codes"] = codes
    if not await _pong(ws):
        res.error("random JSON: the socket stopped answering")
    await ws.close()


async def _fuzz_sizes(ctx: Context, res: Result) -> None:
    ws = await _raw(ctx, ctx.tokens["fuzzer"])
    await ws.send("x" * 100_000)
    got = await _drain(ws, 1)
    if not any(m.get("code") == "too_large" for m in got):
        res.error(f"100 kB text: no too_large error ({got[:2]})")
    await ws.send(json.dumps({"type": "hello", "sample_rate": 16000, "channels": 1,
                              "call_id": f"f-sizes-{uuid.uuid4().hex[:6]}"}))
    sizes = list(range(0, 34)) + [100, 1001, 3200, 9999, 16000, 16001, 16002, 32000, 100_000, 500_000]
    for n in sizes:
        await ws.send(b"\x00" * n)
    got = await _drain(ws, 3)
    bad = sum(m.get("code") == "bad_frame" for m in got)
    big = sum(m.get("code") == "frame_too_large" for m in got)
    odd = sum(1 for n in sizes if n % 2)
    res.figures["frame_sizes"] = {"sent": len(sizes), "bad_frame": bad, "frame_too_large": big}
    if bad != odd or big != sum(1 for n in sizes if n > 16000 and n % 2 == 0):
        res.error(f"frame sizes: {bad} bad_frame (want {odd}), {big} frame_too_large")
    if not await _pong(ws):
        res.error("frame sizes: the socket stopped answering")
    try:  # beyond the websocket layer's 1 MiB the socket is closed with 1009 (message too big)
        await ws.send(b"\x00" * (2 << 20))
        await asyncio.wait_for(ws.recv(), 10)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except Exception as exc:  # noqa: BLE001
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        res.figures["over_1mib_close_code"] = code
        if code != 1009:
            res.error(f"2 MiB frame: closed with {code!r} ({type(exc).__name__}), expected 1009")
    await ws.close()


async def _tiny_flood(ctx: Context, res: Result, per_s: int = 10_000, seconds: float = 3.0) -> None:
    call = WsCall(ctx.ws_url(ctx.tokens["fuzzer"]), f"f-flood-{uuid.uuid4().hex[:6]}")
    await call.open()
    t0 = time.perf_counter()
    sent = 0
    frame = b"\x01\x00"
    while time.perf_counter() - t0 < seconds:
        for _ in range(per_s // 100):
            await call.ws.send(frame)
            sent += 1
        delay = t0 + sent / per_s - time.perf_counter()
        await asyncio.sleep(max(0.0, delay))
    rate = sent / (time.perf_counter() - t0)
    hangup = await call.end(timeout=60)
    await call.close()
    res.figures["tiny_frames"] = {"sent": sent, "per_s": round(rate), "hangup_to_draft_s": hangup,
                                  "errors": sorted({e.get("code") for e in call.record.errors})}
    if hangup is None:
        res.error("tiny-frame flood: no final draft after end")


async def _silent_sockets(ctx: Context, res: Result, n: int = 100) -> None:
    """n connections with one token that never say hello: the per-token limit refuses the
    excess at once, the hello timeout closes the rest."""
    opened, refused, closed_quiet = [], 0, 0
    for _ in range(n):
        try:
            opened.append(await _raw(ctx, ctx.tokens["fuzzer"]))
        except Exception:  # noqa: BLE001
            refused += 1
    first = await asyncio.gather(*(_drain(ws, 2) for ws in opened))
    limited = sum(any(m.get("code") == "too_many_connections" for m in got) for got in first)
    t0 = time.monotonic()
    waits = await asyncio.gather(*(_wait_closed(ws, 60) for ws in opened))
    closed_quiet = sum(1 for w in waits if w is not None)
    res.figures["silent_sockets"] = {"opened": len(opened), "refused_at_connect": refused,
                                     "too_many_connections": limited, "closed_within_s": round(time.monotonic() - t0, 1),
                                     "closed": closed_quiet}
    if limited == 0:
        res.error("100 silent sockets: no too_many_connections error (no per-token limit)")
    if closed_quiet < len(opened):
        res.error(f"100 silent sockets: {len(opened) - closed_quiet} still open after 60 s (no hello timeout)")


async def _wait_closed(ws: Any, timeout: float) -> float | None:
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout)
        return time.monotonic() - t0
    except asyncio.TimeoutError:
        await ws.close()
        return None


async def _call_too_long(ctx: Context, res: Result, limit_s: float) -> None:
    pcm = call_pcm("dev-008.wav") + call_pcm("dev-002.wav")
    call = WsCall(ctx.ws_url(ctx.tokens["fuzzer"]), f"f-long-{uuid.uuid4().hex[:6]}")
    await call.open()
    await call.stream(pcm, speed=0)
    await call.wait(lambda r: r.final_draft is not None, 120)
    codes = [e.get("code") for e in call.record.errors]
    res.figures["call_length"] = {"limit_s": limit_s, "audio_sent_s": round(len(pcm) / 32000, 1),
                                  "errors": sorted(set(codes)), "final_draft": call.record.final_draft is not None}
    if "call_too_long" not in codes:
        res.error(f"a call past {limit_s:g} s: no call_too_long error ({sorted(set(codes))})")
    if call.record.final_draft is None:
        res.error("a call past the length limit was not ended with a final draft")
    await call.close()


async def fuzz(ctx: Context, call_limit_s: float = 60.0, restart: bool = True, max_hangup_s: float = 15.0) -> Result:
    """(8) Fuzzed traffic on one token while an operator's call runs on another: no crash, the
    call is unaffected, the limits answer with clear errors."""
    res = ctx.result(8, "fuzzed websocket traffic and limits")
    if restart:  # with a short call-length limit (the server's own one is set for fault 6's hour)
        await asyncio.to_thread(ctx.server.restart, {"HOTLINE_WS_MAX_CALL_S": str(call_limit_s)})
    pcm = call_pcm("dev-008.wav")
    control = WsCall(ctx.ws_url(), f"f-control-{uuid.uuid4().hex[:6]}")
    await control.open()

    async def control_call() -> float | None:
        await control.stream(pcm, speed=1.5)
        return await control.end()

    async def fuzzers() -> None:
        for step in (_fuzz_json, _fuzz_sizes, _tiny_flood, _silent_sockets):
            try:
                await step(ctx, res)
            except Exception as exc:  # noqa: BLE001
                res.error(f"{step.__name__}: {type(exc).__name__}: {exc}")

    hangup, _ = await asyncio.gather(control_call(), fuzzers())
    await control.close()
    await _call_too_long(ctx, res, call_limit_s)  # after: a call fed fast is load, not fuzz
    stored = await asyncio.to_thread(ctx.store.segments, control.call_id)
    lost, dup = lost_and_duplicated(control.record.texts(), stored)
    res.lost_finals, res.duplicated_finals = len(lost), len(dup) + control.record.duplicates()
    res.figures["control_call"] = {"finals": len(control.record.texts()), "hangup_to_draft_s": hangup,
                                   "errors": [e.get("code") for e in control.record.errors]}
    if hangup is None or hangup > max_hangup_s or control.record.errors:
        res.error(f"the operator's call was affected (hang-up -> draft {hangup} s, errors {control.record.errors[:2]})")
    health = ctx.server.health()
    if health.get("status") != "ok":
        res.error(f"/healthz after the fuzzing: {health}")
    if restart:
        await asyncio.to_thread(ctx.server.restart, {})
    return res


FAULTS: dict[int, Any] = {4: not_speech, 5: bad_recordings, 8: fuzz}
