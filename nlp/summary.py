"""One-line ticket title in 12345 style: 反映杨浦区营口路588号大楼门口人行道私设铁栅栏影响通行.

Built from the extracted place + the key clause of the call. The best clause is usually the
operator's read-back (好的，普陀区曹杨路兰溪路口公交站旁人行道，井盖缺失，是吧？); without one, the
caller's first substantive sentence.
"""
from __future__ import annotations

import re
from typing import Any

VERB = {"投诉": "反映", "求助": "反映", "举报": "举报", "咨询": "咨询", "建议": "建议", "表扬": "表扬"}
MAX_LEN = 60

_READBACK_START = re.compile(
    r"^(?:好的|明白了?|嗯|行)?[，,]?\s*(?:跟您|我)?(?:核实|确认|重复)一下[，,：:]?|^(?:好的|明白了?)[，,]\s*")
_READBACK_LEAD = re.compile(r"^(?:您反映的是|您说的是|您是说|您建议|您是想|是)")
_READBACK_TAIL = re.compile(
    r"[，,。]?\s*(?:对吗|是吧|是吗|对吧|没错吧)[？?]?.*$|[，,。]\s*(?:我们|我帮您|我这边|我已经|您贵姓|请问).*$")
_CALLER_LEAD = re.compile(
    r"^(?:喂[，,]?\s*)*(?:哎)?(?:你好|您好)?(?:你好)?[，,]?\s*(?:我(?:想|要)?(?:反映|投诉|举报|咨询|问|报|说)(?:一下|个事情|一个)?[，,]?)?")
_FILLER = re.compile(r"(?:嗯|呃|啊|那个|就是|这个|哎呀|喂)+")


def _clean(s: str) -> str:
    s = _FILLER.sub("", s)
    s = re.sub(r"[，,。！!？?、；;：:\s“”\"'…]+", "", s)
    return s


def _readback(lines: list[str], anchors: list[str]) -> str | None:
    for ln in lines[2:]:
        if not any(a and a in ln for a in anchors):
            continue
        m = _READBACK_START.match(ln)
        if not m:
            continue
        body = _READBACK_LEAD.sub("", ln[m.end():])
        body = _READBACK_TAIL.sub("", body)
        body = _clean(body)
        if len(body) >= 6:
            return body
    return None


def _caller_clause(lines: list[str]) -> str | None:
    for ln in lines[1:4]:
        body = _CALLER_LEAD.sub("", ln)
        first = re.split(r"[。！!？?]", body)[0]
        first = _clean(first)
        if len(first) >= 6:
            return first
    return None


def make_summary(d: Any, text: str) -> str | None:
    """Title for draft ``d`` (needs .appeal_type, .district, .road, .address, .street)."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return None
    verb = VERB.get(getattr(d, "appeal_type", None) or "", "反映")
    anchors = [getattr(d, k, None) for k in ("road", "street", "district", "landmark")]
    addr = getattr(d, "address", None)
    clause = _readback(lines, [a for a in anchors if a] + ([addr] if addr else []))
    if clause is None:
        clause = _caller_clause(lines)
    if clause is None:
        return None
    for v in VERB.values():  # the read-back may repeat the verb (您建议… / 反映…)
        if clause.startswith(v):
            clause = clause[len(v):]
    place = addr or ((getattr(d, "district", None) or "") + (getattr(d, "road", None) or ""))
    road = getattr(d, "road", None)
    if place and place not in clause and not (road and road in clause):
        clause = place + clause
    return (verb + clause)[:MAX_LEN]
