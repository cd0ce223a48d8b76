"""The caller's phone number from a (noisy ASR) call transcript.

Digit runs (Arabic or spoken: 幺三九，幺七六五，四三二一) chained by separators are tried as a
number, longest first; what counts as a phone is stt/phone_numbers.py's one definition (the digit
pass uses it too). Context decides the rest: a landline needs a phone word before it, a run
followed by 号/路/年… is a house number, a bus line or a date. Regex and small tables, cheap enough
to rerun on the whole transcript at every segment; every result carries a confidence and a
[start, end) span into the text it was given.
"""
from __future__ import annotations

from dataclasses import dataclass

from pypinyin import lazy_pinyin

from nlp.entity import Entity
from nlp.numerals import SPOKEN_DIGITS as _DIGIT
from stt.phone_numbers import normalize_phone

_SEP = set(" ，,、-—.。：:…\n\t")
_PHONE_WORDS = ("电话", "号码", "手机", "座机", "联系", "打我", "拨")
# Spoken-number context that means "not a phone": 号 (house number), 路 (bus line), 年/月/日 …
_AFTER_NOT_PHONE = set("号弄室楼层栋幢路年月日点块元岁级个次年万千百十")


@dataclass
class _Group:
    digits: str
    start: int
    end: int
    spoken: bool  # written with Chinese numerals (幺三九) rather than 139


def _digit_groups(text: str) -> list[_Group]:
    groups: list[_Group] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in _DIGIT:
            j = i
            while j < n and text[j] in _DIGIT:
                j += 1
            run = text[i:j]
            groups.append(_Group("".join(_DIGIT[c] for c in run), i, j, not run[0].isdigit()))
            i = j
        else:
            i += 1
    return groups


def _phone_runs(text: str) -> list[list[_Group]]:
    """Digit groups chained by separators only (幺三九，幺七六五，四三二一 is one run)."""
    runs: list[list[_Group]] = []
    for g in _digit_groups(text):
        if runs:
            prev = runs[-1][-1]
            gap = text[prev.end:g.start]
            if len(gap) <= 3 and all(c in _SEP for c in gap):
                runs[-1].append(g)
                continue
        runs.append([g])
    return runs


def _looks_like_date(d: str) -> bool:
    return len(d) == 8 and d[:2] in ("19", "20") and 1 <= int(d[4:6]) <= 12 and 1 <= int(d[6:8]) <= 31


_YAO_LIKE = {"yao", "yo", "you", "yu", "yi", "ya", "ye"}   # 幺 misheard as 于/有/要 before 3-9


def _misheard_leading_one(text: str, run: list[_Group]) -> bool:
    first = run[0]
    digits = "".join(g.digits for g in run)
    if len(digits) != 10 or digits[0] not in "3456789" or first.start == 0 or not first.spoken:
        return False
    return bool(set(lazy_pinyin(text[first.start - 1])) & _YAO_LIKE)


def phone_candidates(text: str) -> list[Entity]:
    """Every valid phone number said in ``text``, in order of appearance."""
    out: list[Entity] = []
    for run in _phone_runs(text):
        if _misheard_leading_one(text, run):
            s0, e0 = run[0].start - 1, run[-1].end
            if any(w in text[max(0, s0 - 16):s0] for w in _PHONE_WORDS):
                out.append(Entity("1" + "".join(g.digits for g in run), 0.5, (s0, e0)))
                continue
        # try the longest chain of whole groups first, at every start
        used_until = -1
        for a in range(len(run)):
            if run[a].start < used_until:
                continue
            for b in range(len(run), a, -1):
                digits = "".join(g.digits for g in run[a:b])
                if len(digits) > 13:
                    continue
                phone = normalize_phone(digits)
                if not phone:
                    continue
                s, e = run[a].start, run[b - 1].end
                after = text[e:e + 1]
                if after and after in _AFTER_NOT_PHONE:
                    continue
                before = text[max(0, s - 16):s]
                keyword = any(w in before for w in _PHONE_WORDS)
                if len(phone) <= 12 and not phone.startswith("1"):   # landline: needs context
                    if not keyword or _looks_like_date(digits) or "12345" in digits:
                        continue
                if all(g.digits == "1" * len(g.digits) for g in run[a:b]) and not keyword:
                    continue
                conf = 0.9 if keyword else 0.75
                if phone.startswith("1") and len(phone) == 11:
                    conf += 0.05
                out.append(Entity(phone, round(min(conf, 0.99), 3), (s, e)))
                used_until = e
                break
    return out


def extract_phone(text: str) -> Entity | None:
    """The caller's number: the last valid one said (callers correct themselves; operators read
    it back), more confident when it is said more than once."""
    cands = phone_candidates(text)
    if not cands:
        return None
    counts: dict[str, int] = {}
    for c in cands:
        counts[c.value] = counts.get(c.value, 0) + 1
    best = cands[-1]
    said = max(c.confidence for c in cands if c.value == best.value)
    conf = min(0.99, said + 0.03 * (counts[best.value] - 1))
    first = next(c for c in cands if c.value == best.value)
    order = list(dict.fromkeys([best.value] + [c.value for c in reversed(cands)]))
    total = sum(counts.values())
    cands_out = [{"value": v, "confidence": round(counts[v] / total, 3)} for v in order[:3]]
    return Entity(best.value, round(conf, 3), first.span if counts[best.value] > 1 else best.span, cands_out)


