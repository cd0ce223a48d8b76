"""Faults during a live call: the client vanishes (1), the server is SIGKILLed (2), the
database goes away for 10 s (3), a 1-hour call (6), 4 real-time calls for 10 minutes (7).

Each fault returns one record (see faultkit.Result); `lost_finals` counts finals the client
received that the store (segments and final draft) does not hold, or that a resume did not re-send."""
from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.faultkit import Context, Result
from bench.faultkit.client import CallRecord, WsCall, draft_lost, lost_and_duplicated
from bench.faultkit.harness import call_pcm, pcm16

DEV_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "dev"


def _cid(tag: str) -> str:
    return f"f-{tag}-{uuid.uuid4().hex[:8]}"


async def _until_stored_final(ctx: Context, call_id: str, timeout: float) -> tuple[dict | None, float]:
    """Poll the store until the call's ticket holds its final draft; (ticket, seconds waited)."""
    t0 = time.monotonic()
    store = ctx.store
    while time.monotonic() - t0 < timeout:
        ticket = await asyncio.to_thread(store.get_by_call, call_id)
        if ticket and (ticket.get("draft") or {}).get("final"):
            return ticket, time.monotonic() - t0
        await asyncio.sleep(0.25)
    return await asyncio.to_thread(store.get_by_call, call_id), time.monotonic() - t0


async def client_vanishes(ctx: Context) -> Result:
    """(1) Socket dropped mid-call without `end`: draft stored, call ended after the grace time;
    a reconnect with call_id + resume_from gets every later final once, then the latest draft."""
    res = ctx.result(1, "client vanishes mid-call")
    pcm = call_pcm("dev-008.wav")
    call_id = _cid("vanish")
    first = WsCall(ctx.ws_url(), call_id)
    await first.open()
    await first.stream(pcm, speed=ctx.speed, stop=(len(pcm) * 6 // 10) & ~1)
    await first.wait(lambda r: len(r.texts()) >= 2, 60)
    got_before = first.record.texts()
    resume_from = max(got_before) if got_before else -1
    first.vanish()
    vanished = time.monotonic()
    ticket, waited = await _until_stored_final(ctx, call_id, ctx.server.grace_s + 120)
    res.figures["ended_after_s"] = round(time.monotonic() - vanished, 2)
    res.figures["grace_s"] = ctx.server.grace_s
    if ticket is None or not (ticket.get("draft") or {}).get("final"):
        res.error("no final draft stored after the client vanished")
        return res
    if res.figures["ended_after_s"] < ctx.server.grace_s:
        res.error(f"call ended {res.figures['ended_after_s']} s after the drop, before the {ctx.server.grace_s} s grace")
    second = WsCall(ctx.ws_url(), call_id)
    ready = await second.open(resume_from=resume_from)
    await second.wait(lambda r: r.final_draft is not None, 30)
    await second.close()
    stored = await asyncio.to_thread(ctx.store.segments, call_id)
    expected_resend = {s["id"]: s["text"] for s in stored if s["id"] > resume_from and s["text"]}
    resent = second.record.texts()
    lost, dup = lost_and_duplicated({**got_before, **resent}, stored)
    missing_resend = [i for i in expected_resend if resent.get(i) != expected_resend[i]]
    repeated = [m["id"] for m in second.record.finals if m["id"] <= resume_from]  # the client had these
    res.lost_finals = len(set(lost) | set(missing_resend) | set(draft_lost({**got_before, **resent}, ticket["draft"])))
    res.duplicated_finals = len(dup) + second.record.duplicates() + len(repeated)
    res.figures.update(finals_before_drop=len(got_before), resume_from=resume_from, resent=len(resent),
                       stored_finals=len(stored))
    if ready.get("type") != "ready" or not ready.get("resumed") or not ready.get("ended"):
        res.error(f"resume answer was {ready}")
    if second.record.final_draft is None:
        res.error("the resumed socket got no final draft")
    elif second.record.finals and second.record.final_draft_at is None:
        res.error("final draft missing after the re-sent finals")
    return res


async def server_killed(ctx: Context) -> Result:
    """(2) SIGKILL mid-call, restart: the stored draft holds every final received before the
    kill, and the reconnecting client is told the call's state."""
    res = ctx.result(2, "server SIGKILLed mid-call and restarted")
    pcm = call_pcm("dev-008.wav")
    call_id = _cid("kill")
    client = WsCall(ctx.ws_url(), call_id)
    await client.open()
    streaming = asyncio.create_task(client.stream(pcm, speed=ctx.speed))
    await client.wait(lambda r: len(r.texts()) >= 3, 120)
    received = client.record.texts()  # what the client holds at the kill
    await asyncio.to_thread(ctx.server.kill)
    streaming.cancel()
    client.vanish()
    t0 = time.monotonic()
    await asyncio.to_thread(ctx.server.start)
    res.figures["restart_s"] = round(time.monotonic() - t0, 1)
    stored = await asyncio.to_thread(ctx.store.segments, call_id)
    ticket = await asyncio.to_thread(ctx.store.get_by_call, call_id)
    lost, dup = lost_and_duplicated(received, stored)
    lost_draft = draft_lost(received, (ticket or {}).get("draft"))
    res.lost_finals = len(set(lost) | set(lost_draft))
    res.duplicated_finals = len(dup)
    res.figures.update(finals_before_kill=len(received), stored_finals=len(stored),
                       draft_segments=len(((ticket or {}).get("draft") or {}).get("segments") or []))
    again = WsCall(ctx.ws_url(), call_id)
    answer = await again.open(resume_from=max(received) if received else -1)
    retries = 0
    while answer.get("code") == "call_elsewhere" and retries < 20:
        # the killed server's lease is still fresh (a quick restart): retry when it ends, as told
        await again.close()
        await asyncio.sleep(float(answer.get("retry_after_s") or 1.0) + 0.1)
        again = WsCall(ctx.ws_url(), call_id)
        answer = await again.open(resume_from=max(received) if received else -1)
        retries += 1
    res.figures["call_elsewhere_retries"] = retries
    if answer.get("taken_over"):
        await again.end(60)  # hang up the carried-on call: its final draft comes as for any call
    await again.wait(lambda r: r.final_draft is not None, 20)
    await again.close()
    res.figures["reconnect_answer"] = {k: answer.get(k) for k in ("type", "code", "resumed", "ended", "taken_over",
                                                                  "ticket_id", "last_segment_id")}
    # the restarted server (a new server id) either takes the call over (its lease ran out while the
    # server restarted: web/leases.py) or, once the call was finished, answers from the store
    told = (answer.get("type") == "ready" and (answer.get("ended") or answer.get("taken_over"))
            and answer.get("ticket_id") == (ticket or {}).get("id"))
    if not told:
        res.error(f"reconnecting client was not told the call's state: {answer}")
    if ticket is None:
        res.error("no ticket stored for the call")
    return res


async def database_outage(ctx: Context, outage_s: float = 10.0) -> Result:
    """(3) PostgreSQL unreachable for 10 s mid-call (every connection cut, new ones refused):
    the call goes on, its finals are written when the database is back, a clear error is logged."""
    res = ctx.result(3, f"database gone for {outage_s:g} s mid-call")
    if ctx.backend.proxy is None:
        res.skip("SQLite is a file inside the server process: there is no connection to drop")
        return res
    pcm = call_pcm("dev-008.wav")
    call_id = _cid("dbdown")
    client = WsCall(ctx.ws_url(), call_id)
    await client.open()
    speed = 1.0
    cut_at = int(16000 * 2 * 12 * speed) & ~1  # 12 s into the call
    await client.stream(pcm, speed=speed, stop=cut_at)
    before = len(client.record.finals)
    log_mark = len(ctx.server.log_text())
    ctx.backend.proxy.cut()
    cut = time.monotonic()
    sent = await client.stream(pcm, speed=speed, start=cut_at, stop=min(len(pcm), cut_at + int(32000 * outage_s)) & ~1)
    during = len(client.record.finals) - before
    ctx.backend.proxy.restore()
    res.figures["outage_s"] = round(time.monotonic() - cut, 1)
    await client.stream(pcm, speed=speed, start=sent)
    hangup = await client.end()
    await client.close()
    ticket, _ = await _until_stored_final(ctx, call_id, 60)
    await asyncio.sleep(1.0)
    stored = await asyncio.to_thread(ctx.store.segments, call_id)
    received = client.record.texts()
    lost, dup = lost_and_duplicated(received, stored)
    lost_draft = draft_lost(received, (ticket or {}).get("draft"))
    res.lost_finals = len(set(lost) | set(lost_draft))
    res.duplicated_finals = len(dup) + client.record.duplicates()
    log = ctx.server.log_text()[log_mark:]
    said = [line for line in log.splitlines() if "database" in line.lower() and ("ERROR" in line or "WARNING" in line)]
    res.figures.update(finals_during_outage=during, finals=len(received), stored_finals=len(stored),
                       hangup_to_draft_s=hangup, log_lines=said[:3])
    if during == 0:
        res.error("no final reached the client while the database was away: the call stalled")
    if client.record.final_draft is None:
        res.error("no final draft after the outage")
    if not said:
        res.error("no database error in the server log")
    if ticket is None or not (ticket.get("draft") or {}).get("final"):
        res.error("the final draft was not written after the database came back")
    return res


# -- long and loaded ------------------------------------------------------------------------------

def _corpus_pcm(limit_s: float) -> tuple[bytes, float]:
    """The dev corpus' 16 kHz calls one after another (tests/data/calls if it is absent), to limit_s."""
    from stt.audio import load_audio

    files = sorted(p for p in DEV_CORPUS.glob("*.wav") if ".8k" not in p.name) if DEV_CORPUS.is_dir() else []
    files = files or sorted(p for p in (Path(__file__).resolve().parents[2] / "tests" / "data" / "calls").glob("*.wav")
                            if ".8k" not in p.name)
    parts, total = [], 0.0
    while total < limit_s:
        for path in files:
            audio = load_audio(path)
            mono = audio.samples.mean(axis=0) if audio.channels > 1 else audio.samples[0]
            parts.append(mono)
            parts.append(np.zeros(16000, dtype=np.float32))
            total += mono.size / 16000 + 1
            if total >= limit_s:
                break
    samples = np.concatenate(parts)[: int(limit_s * 16000)]
    return pcm16(samples), samples.size / 16000


async def _sample_rss(ctx: Context, out: list[tuple[float, float]], stop: asyncio.Event, every: float = 5.0) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        out.append((time.monotonic() - t0, ctx.server.rss_mib()))
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


async def long_call(ctx: Context, length_s: float = 3600.0, speed: float = 4.0) -> Result:
    """(6) A 1-hour call fed `speed` x real time: memory stays bounded, the transcript is complete."""
    res = ctx.result(6, f"{length_s / 60:.0f}-minute call at {speed:g}x real time")
    pcm, audio_s = _corpus_pcm(length_s)
    call_id = _cid("long")
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(ctx, samples, stop))
    client = WsCall(ctx.ws_url(), call_id)
    await client.open()
    t0 = time.monotonic()
    await client.stream(pcm, speed=speed)
    hangup = await client.end(timeout=max(900.0, audio_s / 2))  # what the decoder still owes at hang-up
    stop.set()
    await sampler
    await client.close()
    stored = await asyncio.to_thread(ctx.store.segments, call_id)
    received = client.record.texts()
    lost, dup = lost_and_duplicated(received, stored)
    draft = (client.record.final_draft or {}).get("ticket")
    res.lost_finals = len(set(lost) | set(draft_lost(received, draft)))
    res.duplicated_finals = len(dup) + client.record.duplicates()
    rss = [r for _, r in samples]
    half = len(rss) // 2
    res.figures.update(audio_s=round(audio_s), wall_s=round(time.monotonic() - t0), speed=speed,
                       finals=len(received), last_final_end_s=max((m["end"] for m in client.record.finals), default=0),
                       hangup_to_draft_s=hangup, rss_start_mib=round(rss[0], 1) if rss else None,
                       rss_peak_mib=round(max(rss), 1) if rss else None,
                       rss_first_half_max_mib=round(max(rss[:half]), 1) if half else None,
                       rss_second_half_max_mib=round(max(rss[half:]), 1) if half else None)
    if draft is None:
        res.error("no final draft")
    if res.figures["last_final_end_s"] < audio_s - 120:
        res.error(f"transcript stops at {res.figures['last_final_end_s']:.0f} s of {audio_s:.0f} s")
    if half and max(rss[half:]) - max(rss[:half]) > 150:
        res.error("memory still growing in the second half of the call")
    return res


async def _line(ctx: Context, token: str, pcms: list[tuple[str, bytes]], until: float, records: list,
                hangups: list[float], line: int) -> None:
    """One operator's line: calls back to back at real time until `until`."""
    i = line
    while time.monotonic() < until:
        name, pcm = pcms[i % len(pcms)]
        i += 1
        call_id = _cid(f"load{line}")
        client = WsCall(ctx.ws_url(token), call_id)
        await client.open()
        remaining = until - time.monotonic()
        stop = min(len(pcm), int(max(remaining, 5) * 32000)) & ~1
        await client.stream(pcm, speed=1.0, stop=stop)
        hangup = await client.end()
        await client.close()
        if hangup is not None:
            hangups.append(hangup)
        records.append(client.record)


async def load(ctx: Context, minutes: float = 10.0, lines: int = 4) -> Result:
    """(7) `lines` real-time calls at once for `minutes`: no final dropped, p95 hang-up -> draft."""
    res = ctx.result(7, f"{minutes:g} minutes at {lines} real-time calls")
    from stt.audio import load_audio

    files = sorted(p for p in DEV_CORPUS.glob("*.wav") if ".8k" not in p.name)[:12] if DEV_CORPUS.is_dir() else []
    if not files:
        files = sorted(p for p in ctx.calls_dir.glob("*.wav") if ".8k" not in p.name)
    pcms = []
    for p in files:
        a = load_audio(p)
        pcms.append((p.name, pcm16(a.samples.mean(axis=0) if a.channels > 1 else a.samples[0])))
    records: list[CallRecord] = []
    hangups: list[float] = []
    rss0 = ctx.server.rss_mib()
    until = time.monotonic() + minutes * 60
    await asyncio.gather(*(_line(ctx, ctx.tokens["operator"], pcms, until, records, hangups, n) for n in range(lines)))
    lost_total = dup_total = 0
    no_draft = 0
    for rec in records:
        stored = await asyncio.to_thread(ctx.store.segments, rec.call_id)
        lost, dup = lost_and_duplicated(rec.texts(), stored)
        lost_total += len(set(lost) | set(draft_lost(rec.texts(), (rec.final_draft or {}).get("ticket"))))
        dup_total += len(dup) + rec.duplicates()
        no_draft += rec.final_draft is None
    res.lost_finals, res.duplicated_finals = lost_total, dup_total
    hangups.sort()
    p95 = hangups[min(len(hangups) - 1, round(0.95 * (len(hangups) - 1)))] if hangups else None
    res.figures.update(calls=len(records), finals=sum(len(r.texts()) for r in records),
                       hangup_to_draft_p50_s=round(statistics.median(hangups), 2) if hangups else None,
                       hangup_to_draft_p95_s=round(p95, 2) if p95 is not None else None,
                       hangup_to_draft_max_s=round(hangups[-1], 2) if hangups else None,
                       rss_start_mib=round(rss0, 1), rss_end_mib=round(ctx.server.rss_mib(), 1))
    if no_draft:
        res.error(f"{no_draft} calls got no final draft")
    errors = [e for r in records for e in r.errors]
    if errors:
        res.error(f"{len(errors)} protocol errors, e.g. {errors[0]}")
    return res


FAULTS: dict[int, Any] = {1: client_vanishes, 2: server_killed, 3: database_outage, 6: long_call, 7: load}
