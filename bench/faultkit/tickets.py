"""(9) Two operators acting on one ticket at once, over the REST API: dispatch/dispatch (no
version sent) and merge/edit (both send the version they saw in If-Match). One wins, the
other gets HTTP 409, and the event log holds exactly the winner's event."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

from bench.faultkit import Context, Result


def _new_ticket(ctx: Context, n: int) -> int:
    """A submitted complaint, made through Open311 (the public create route, with its api_key)."""
    status, body = ctx.server.api("POST", "/open311/v2/requests.json", ctx.tokens["open311"], {
        "service_code": "streetlight", "address_string": f"宝山区牡丹江路{n}号", "description": "路灯不亮",
        "attribute": {"district": "宝山区", "appeal_type": "投诉"}})
    if status != 200:
        raise RuntimeError(f"Open311 create answered {status}: {body}")
    return int(body[0]["service_request_id"])


def _at_once(*calls: Any) -> list[tuple[int, Any]]:
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _rounds(ctx: Context, res: Result, rounds: int) -> None:
    api = ctx.server.api
    a, b = ctx.tokens["operator"], ctx.tokens["operator2"]
    into = _new_ticket(ctx, 0)
    tally = {"dispatch": {"won": 0, "409": 0}, "merge_edit": {"merge": 0, "edit": 0, "409": 0}}
    for r in range(rounds):
        tid = _new_ticket(ctx, r + 1)
        got = _at_once(lambda: api("POST", f"/api/tickets/{tid}/dispatch", a, {}),
                       lambda: api("POST", f"/api/tickets/{tid}/dispatch", b, {}))
        codes = sorted(s for s, _ in got)
        events = [e["action"] for e in api("GET", f"/api/tickets/{tid}/events", a)[1]]
        if codes != [200, 409] or events.count("dispatch") != 1:
            res.error(f"dispatch/dispatch round {r}: statuses {codes}, events {events}")
        tally["dispatch"]["won"] += codes.count(200)
        tally["dispatch"]["409"] += codes.count(409)

        tid = _new_ticket(ctx, 1000 + r)
        version = api("GET", f"/api/tickets/{tid}", a)[1]["version"]
        seen = {"If-Match": str(version)}
        got = _at_once(lambda: api("POST", f"/api/tickets/{tid}/merge", a, {"into": into}, seen),
                       lambda: api("PATCH", f"/api/tickets/{tid}", b, {"summary": f"第{r}次编辑"}, seen))
        (merge_status, _), (edit_status, _) = got
        ticket = api("GET", f"/api/tickets/{tid}", a)[1]
        events = [e["action"] for e in api("GET", f"/api/tickets/{tid}/events", a)[1]]
        consistent = ((merge_status, edit_status) == (200, 409) and ticket["state"] == "merged"
                      and "update" not in events and events.count("merge") == 1) or (
                     (merge_status, edit_status) == (409, 200) and ticket["state"] == "submitted"
                      and "merge" not in events and events.count("update") == 1)
        if not consistent:
            res.error(f"merge/edit round {r}: merge {merge_status}, edit {edit_status}, state {ticket['state']}, "
                      f"events {events}")
        tally["merge_edit"]["merge"] += merge_status == 200
        tally["merge_edit"]["edit"] += edit_status == 200
        tally["merge_edit"]["409"] += (merge_status == 409) + (edit_status == 409)
    res.figures.update(rounds=rounds, **tally)


async def two_operators(ctx: Context, rounds: int = 20) -> Result:
    res = ctx.result(9, "two operators on one ticket at once")
    await asyncio.to_thread(_rounds, ctx, res, rounds)
    return res


FAULTS: dict[int, Any] = {9: two_operators}
