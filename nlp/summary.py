"""One-line ticket title in 12345 style: 反映杨浦区营口路588号大楼门口人行道私设铁栅栏影响通行.

Built from the extracted place + the key clause of the call. The best clause is usually the
operator's read-back (好的，普陀区曹杨路兰溪路口公交站旁人行道，井盖缺失，是吧？); without one, the
caller's first substantive sentence. A consultation answered from the KB is titled by the article
(咨询浦东新区不动产权证遗失补办).
"""
from __future__ import annotations

import re
from typing import Any

from nlp.entities import cn_numbers_to_digits

VERB = {"投诉": "反映", "求助": "反映", "举报": "举报", "咨询": "咨询", "建议": "建议", "表扬": "表扬"}
MAX_LEN = 48
CLAUSE_MIN = 34       # keep adding comma pieces of a long clause until it is this long

# where the operator starts reading the case back
_READBACK = re.compile(
    r"(?:(?:核实|确认|重复)一下|记录下来|记录一下|您反映的是|您说的是|好的|明白了?)[，,：:]\s*(?:是|您反映的是|您说的是)?")
_READBACK_TAIL = re.compile(
    r"[，,。]?\s*(?:对吗|是吧|是吗|对吧|没错吧|我说得对吗)[？?]?.*$|[，,。]\s*(?:我们|我帮您|我这边|我已经|您贵姓|请问|我马上).*$")
_CALLER_LEAD = re.compile(
    r"^(?:(?:喂|哎|哦)[，,？?]?\s*)*(?:你好|您好)*[，,]?\s*"
    r"(?:我(?:不是投诉啊?[，,]\s*我?)?(?:打电话)?(?:是)?(?:想|要)?(?:反映|反应|投诉|举报|咨询|表扬|建议|问|报|说|提)(?:一下|个事情|一个|个)?[，,]?)?")
_FILLER = re.compile(r"(?:嗯|呃|啊|那个|就是|这个|哎呀|喂)+")
_PUNCT = re.compile(r"[，,。！!？?、；;：:\s“”\"'…]+")


def _clean(s: str) -> str:
    s = _FILLER.sub("", s)
    return _PUNCT.sub("", s)


def _clip(body: str) -> str:
    """The first comma pieces of a clause, up to about CLAUSE_MIN characters."""
    pieces = [p for p in re.split(r"[，,；;]", body) if p.strip()]
    out = ""
    for p in pieces:
        if out and len(_clean(out + p)) > MAX_LEN:
            break
        out += p
        if len(_clean(out)) >= CLAUSE_MIN:
            break
    return _clean(out)


def _readback(lines: list[str], anchors: list[str]) -> str | None:
    for ln in lines[2:]:
        if not any(a and a in ln for a in anchors):
            continue
        for m in reversed(list(_READBACK.finditer(ln))):   # the last marker starts the read-back
            body = ln[m.end():]
            if not any(a and a in body for a in anchors):
                continue
            body = _READBACK_TAIL.sub("", body)
            # a misheard 我核实一下 / 跟您核实一下 left in front (我和时依下，)
            body = re.sub(r"^(?:我|跟您|给您)[^，,]{1,5}[，,]", "", body)
            body = re.sub(r"^(?:您(?:是)?(?:反映|建议|投诉|举报)的?是?)", "", body)
            body = re.sub(r"[，,]\s*您(?:是)?(?:建议|希望|是想|想要?)", "，", body)
            body = _clip(body)
            if len(body) >= 6:
                return body
    return None


def _caller_clause(lines: list[str]) -> str | None:
    for ln in lines[1:5]:
        if "12345" in ln or len(ln) < 6:
            continue
        body = _CALLER_LEAD.sub("", ln)
        first = re.split(r"[。！!？?]", body)[0]
        first = _clip(first)
        if len(first) >= 6:
            return first
    return None


def _clause_at(text: str, span: tuple[int, int]) -> str | None:
    """The comma pieces around a span (the classifier's evidence for the category)."""
    s, e = span
    if not (0 <= s < e <= len(text)):
        return None
    a = max(text.rfind(c, 0, s) for c in "\n。！？!?") + 1
    b = min((i for i in (text.find(c, e) for c in "\n。！？!?") if i >= 0), default=len(text))
    sent = text[a:b]
    pieces = [p for p in re.split(r"[，,；;]", sent)]
    # start at the piece before the one holding the span: it usually names the thing
    off, k = 0, 0
    for k, p in enumerate(pieces):
        if a + off + len(p) >= s:
            break
        off += len(p) + 1
    body = "，".join(pieces[max(0, k - 1):])
    body = _CALLER_LEAD.sub("", body)
    clause = _clip(body)
    return clause if len(clause) >= 6 else None


def make_summary(d: Any, text: str, kb_title: str | None = None,
                 key_span: tuple[int, int] | None = None) -> str | None:
    """Title for draft ``d`` (uses .appeal_type, .district, .street, .road, .address, .landmark)."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return None
    verb = VERB.get(getattr(d, "appeal_type", None) or "", "反映")
    district = getattr(d, "district", None)
    if verb == "咨询" and kb_title:
        return f"{verb}{district or ''}{kb_title}"[:MAX_LEN]
    anchors = [getattr(d, k, None) for k in ("road", "street", "district", "landmark")]
    addr = getattr(d, "address", None)
    anchors = [a for a in anchors if a] + ([addr] if addr else [])
    clause = _readback(lines, anchors)
    if clause is None and key_span is not None:
        clause = _clause_at(text, key_span)
    if clause is None:
        clause = _caller_clause(lines)
    if clause is None:
        return None
    for v in list(VERB.values()) + ["投诉"]:   # the clause may repeat the verb (您建议… / 反映…)
        if clause.startswith(v):
            clause = clause[len(v):]
    place = addr or ((district or "") + (getattr(d, "road", None) or ""))
    named = [x for x in (district, getattr(d, "street", None), getattr(d, "road", None)) if x]
    if place and place not in clause and not any(x in clause or x[:-1] in clause for x in named if len(x) > 2):
        clause = place + clause
    return cn_numbers_to_digits(verb + clause)[:MAX_LEN]
