"""The caller's name as an operator writes it on a ticket: surname + 先生/女士, from a (noisy ASR)
call transcript.

Hits, each a vote for a surname: 我姓X (X misheard too), X先生/X女士 (the operator addressing
the caller), the reply to 您贵姓 with 姓 or the title misheard (信陈, 周行生), and spellings
(nlp/surnames.py: 耳东陈, 三点水的汤, 茅草的茅). The surname with the most votes wins; ties go to
the commoner surname. A spelled surname decides the character: the votes of every homophone heard
elsewhere (唐先生 before 三点水的汤) are its votes. A surname said but not spelled is only its
sound: when several common surnames share it (何/贺, 唐/汤, 陈/程/成) the name is not confirmed
(``Name.confirmed`` False) and ``Name.homophones`` lists the names the operator asks about
(哪个字？), the value first. Regex + small tables (nlp/data/names.json), cheap enough to rerun on
the whole transcript at every segment.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from nlp.entity import Entity
from nlp.pinyin import char_keys
from nlp.surnames import CJK, SurnameTables, homophones, sounds_alike, spellings, surname_at, tables

_CJK = CJK
# 我姓周 / 免贵姓王 / 姓周 — but not 贵姓？ (operator asking) and not 姓名.
_SAY_SURNAME = re.compile(rf"(?:免贵|我|本人|我们)?姓([{_CJK}]{{1,2}})")
_NOT_SURNAME_AFTER_XING = set("名氏啥什哪么")
_NICK_END = set("啊呀吧就嘛哈呢哦")   # 叫我小王就行 / 我是老李啊: what may follow a nickname
_PRE_OK = set("的好谢问位请叫是您跟让给找")
_XING = ("xin", "xian", "jin")     # merged keys of 姓 (xing) as ASR writes it: 信/幸/行/性/新, 先/现, 尽/近
_ASKED_RE = re.compile(r"贵[姓性心信幸星兴新尽]|称呼|怎么叫|姓什么")   # 您贵姓, as ASR writes it too
_MALE_KEYS = (("xian", "xin"), ("sen",))          # 先生 and near-homophones (行生, 仙生, 现生)
_FEMALE_KEYS = (("lv", "nv", "li"), ("si",))      # 女士 and near-homophones (你是 after a name)
_TAIL = 14                                        # characters after 我姓X where its spelling is said
MAX_HOMOPHONES = 4                                # names offered for an unconfirmed surname


@dataclass
class Name(Entity):
    """A caller name; ``confirmed`` False: said, not spelled, and other common surnames sound
    the same -- ``homophones`` (value first, then the other surnames the call voted for) are what
    the operator asks about."""
    confirmed: bool = True
    homophones: list[str] = field(default_factory=list)


def _title_gender(title: str, t: SurnameTables) -> str | None:
    if title in t.male_titles:
        return "先生"
    if title in t.female_titles:
        return "女士"
    return None


@dataclass
class _NameHit:
    surname: str
    score: float
    span: tuple[int, int]
    gender: str | None = None
    spelled: bool = False    # the character was spelled out (施工的施): homophone hits are this one
    given_gender: str | None = None   # what the given name suggests (我叫陈建国: 先生), weaker than a title


def _stated(text: str, t: SurnameTables, hits: list[_NameHit], spelled_spans: set) -> None:
    """1. 我姓X, and its spelling right after (施工的施 / 口天吴 / 三点水的汤)."""
    for m in _SAY_SURNAME.finditer(text):
        if text[m.start(1)] in _NOT_SURNAME_AFTER_XING:
            continue
        if m.start() > 0 and text[m.start() - 1] == "贵" and not m.group(0).startswith("免"):
            continue  # 您贵姓 is the operator asking
        got = surname_at(text, m.start(1))
        if not got:
            continue
        sur, q = got
        prev = text[m.start() - 1] if m.start() > 0 else ""
        if q < 1.0 and m.group(0).startswith("姓") and re.match(rf"[{_CJK}]", prev or "，") and prev not in "就是说叫":
            continue  # 姓 inside a misheard word (培训 heard as 陪姓机构) names no one
        spelled = False
        end = m.start(1) + len(sur)
        for sp in spellings(text, end, end + _TAIL):
            if len(sur) == 2 and sp.surname == sur[0]:
                spelled = True   # 欧阳修的欧阳: the compound, spelled
                spelled_spans.add(sp.span)
                break
            if sounds_alike(sp.surname, sur) or q < 1.0:
                sur, q, spelled = sp.surname, 1.0, True   # the spelling wins over the homophone ASR wrote
                spelled_spans.add(sp.span)
                break
        hits.append(_NameHit(sur, 0.9 * q, (m.start(1), m.start(1) + len(sur)), spelled=spelled))


@lru_cache(maxsize=4)
def _say_name_re(leads: tuple[str, ...]) -> re.Pattern:
    # 我叫王明 / 我的名字是李小红 / 本人叫张伟: a full name, said as the whole clause
    return re.compile(rf"(?:{'|'.join(map(re.escape, leads))})([{_CJK}]{{2,4}})(?![{_CJK}])")


@lru_cache(maxsize=4)
def _lead_re(leads: tuple[str, ...]) -> re.Pattern | None:
    return re.compile("|".join(map(re.escape, sorted(leads, key=len, reverse=True)))) if leads else None


def _full_name(text: str, t: SurnameTables, hits: list[_NameHit]) -> None:
    """1b. 我叫王明: a real surname (not one that is also a word: 我叫车) + one or two characters."""
    for m in _say_name_re(t.name_leads).finditer(text):
        got = surname_at(text, m.start(1))
        if not got or got[1] < 1.0 or got[0] in t.ambiguous:
            continue
        given = len(m.group(1)) - len(got[0])
        if 1 <= given <= 2:
            hits.append(_NameHit(got[0], 0.8, (m.start(1), m.start(1) + len(got[0])),
                                 given_gender=_given_gender(m.group(1)[len(got[0]):], t)))


def _given_gender(given: str, t: SurnameTables) -> str | None:
    """先生/女士 when the given name's characters all point one way (建国, 秀英), else None."""
    votes = {t.given_gender[c] for c in given if c in t.given_gender}
    return votes.pop() if len(votes) == 1 else None


def _self_intro(text: str, t: SurnameTables, hits: list[_NameHit]) -> None:
    """1c. a surname given without 姓, after 我是/叫我: a nickname (叫我小王就行, 我是老李) or the
    surname + a title of one's trade or age (我是张师傅, 我是刘大姐); the title may tell the gender."""
    si = t.self_intro
    lead_re = _lead_re(tuple(si.get("leads", ())))
    if lead_re is None:
        return
    prefixes = tuple(si.get("nick_prefixes", ()))
    titles = sorted(si.get("self_titles", {}).items(), key=lambda kv: -len(kv[0]))
    words = tuple(si.get("not_nicknames", ()))
    for m in lead_re.finditer(text):
        k = m.end()
        if text.startswith(words, k):
            continue
        if text.startswith(prefixes, k):   # 小王 / 老李
            got = surname_at(text, k + 1)
            if got and got[1] >= 1.0 and got[0] not in t.ambiguous:
                after = text[k + 1 + len(got[0]):k + 2 + len(got[0])]
                if not after or not re.match(rf"[{_CJK}]", after) or after in _NICK_END:
                    hits.append(_NameHit(got[0], 0.8, (k + 1, k + 1 + len(got[0]))))
                    continue
        got = surname_at(text, k)
        if got and got[1] >= 1.0:   # 张师傅 / 刘大姐
            end = k + len(got[0])
            title = next(((ti, g) for ti, g in titles if text.startswith(ti, end)), None)
            if title:
                hits.append(_NameHit(got[0], 0.85, (k, end + len(title[0])), title[1]))


def _negated(text: str, t: SurnameTables) -> set[str]:
    """Surnames the caller says are not theirs (我不姓李 / 不是李先生，是许先生)."""
    out: set[str] = set()
    titles = t.male_titles + t.female_titles
    for neg in t.negations:
        k = text.find(neg)
        while k >= 0:
            j = k + len(neg)
            got = surname_at(text, j)
            if got and got[1] >= 1.0 and (neg.endswith("姓") or text.startswith(titles, j + len(got[0]))):
                out.add(got[0])
            k = text.find(neg, k + 1)
    return out


def _titled(text: str, t: SurnameTables, hits: list[_NameHit]) -> None:
    """2. X先生 / X女士 / X阿姨 / X老先生 (operator addressing the caller, or the caller's own)."""
    titles = t.male_titles + t.female_titles
    title_re = re.compile("|".join(sorted(map(re.escape, titles), key=len, reverse=True)))
    for m in title_re.finditer(text):
        title = m.group(0)
        for n in (2, 1):
            i = m.start() - n
            if i < 0:
                continue
            got = surname_at(text, i)
            if not got or len(got[0]) != n:
                continue
            sur, q = got
            prev = text[i - 1] if i > 0 else ""
            if q < 1.0 and (n != 1 or re.match(rf"[{_CJK}]", prev or "，") and prev not in _PRE_OK):
                continue  # a homophone counts only as a word of its own (，琉先生)
            if sur in t.ambiguous and re.match(rf"[{_CJK}]", prev or "，") and prev not in _PRE_OK:
                continue
            if prev == "老" or prev == "小":
                continue  # 小王先生? rare; 老X is a nickname, not what the ticket records
            hits.append(_NameHit(sur, 0.85 * q, (i, m.end()), _title_gender(title, t)))
            break


def _replies(text: str, t: SurnameTables, hits: list[_NameHit]) -> list[tuple[int, int]]:
    """3. the reply to 您贵姓 with 姓 misheard (信陈 / 行动); returns the reply zones (the two
    lines after the operator asks the name, or the rest of the asking line)."""
    pos = 0
    lines = text.split("\n")
    zone: list[tuple[int, int]] = []
    for li, line in enumerate(lines):
        start = pos
        pos += len(line) + 1
        replies: list[int] = []          # where an answer to 您贵姓 starts
        if li > 0 and _ASKED_RE.search(lines[li - 1]):
            replies.append(start)
            zone.append((start, start + len(line) + 1 + len(lines[li + 1]) if li + 1 < len(lines) else pos))
        asked = list(_ASKED_RE.finditer(line))
        if asked and asked[-1].end() < len(line) - 1:
            # 8 kHz ASR often runs the caller's answer into the operator's line (请问您贵姓，我尽李)
            k = start + asked[-1].end()
            replies.append(k)
            zone.append((k, start + len(line)))
        for j in replies:
            end = start + len(line)
            while j < end and (text[j] in "我嗯哦呃，,、。？? " or text[j:j + 2] == "免贵"):
                j += 2 if text[j:j + 2] == "免贵" else 1
            got = surname_at(text, j)
            if got and got[1] >= 1.0 and got[0] not in t.ambiguous and not re.match(rf"[{_CJK}]", text[j + len(got[0]):j + len(got[0]) + 1]):
                # the surname alone as the answer (您贵姓？ -- 刘。/ 王，王先生)
                hits.append(_NameHit(got[0], 0.6, (j, j + len(got[0]))))
                continue
            if j + 1 < end and text[j] != "姓" and set(_XING) & set(char_keys(text[j])):
                got = surname_at(text, j + 1)
                if got:
                    # a real surname character stated is worth more than a homophone guess
                    score = 0.6 if got[1] >= 1.0 else 0.5 * got[1]
                    hits.append(_NameHit(got[0], score, (j + 1, j + 1 + len(got[0]))))
    return zone


def _spelled(text: str, zone: list[tuple[int, int]], hits: list[_NameHit], spelled_spans: set) -> None:
    """4. spellings in the reply (我现实施工的事: 施工的施 with both characters misheard alike)
    and, anywhere, the ones no everyday sentence says (耳东陈, 三点水的汤)."""
    found = [sp for zs, ze in zone for sp in spellings(text, zs, ze)] + spellings(text, given=False)
    seen = set(spelled_spans)
    for sp in found:
        if sp.span in seen:
            continue
        seen.add(sp.span)
        score = 0.8 if sp.how != "word" or text[sp.span[1] - 1] == sp.surname else 0.7
        hits.append(_NameHit(sp.surname, score, sp.span, spelled=True))


def _misheard_titles(text: str, zone: list[tuple[int, int]], hits: list[_NameHit]) -> None:
    """5. a surname + misheard title (周行生, 神女士 as 神你是): outside the reply, a gender hint."""
    for i in range(len(text) - 2):
        b = char_keys(text[i + 2])
        if "sen" not in b and "si" not in b:
            continue  # cheap test first: the title's second syllable
        a = char_keys(text[i + 1])
        got = surname_at(text, i)
        if not got or len(got[0]) != 1:
            continue
        gender = None
        if set(a) & set(_MALE_KEYS[0]) and set(b) & set(_MALE_KEYS[1]) and text[i + 1:i + 3] != "先生":
            gender = "先生"
        elif set(a) & set(_FEMALE_KEYS[0]) and set(b) & set(_FEMALE_KEYS[1]) and text[i + 1:i + 3] != "女士":
            gender = "女士"
        prev = text[i - 1] if i > 0 else ""
        in_zone = any(a <= i < b for a, b in zone)
        if gender == "女士" and "li" in a and not in_zone:
            continue  # 你是 is a title only right after the name was asked
        if gender and (not re.match(rf"[{_CJK}]", prev or "，") or prev in _PRE_OK or prev == "姓"):
            # outside the reply to 您贵姓 a misheard surname + misheard title is only a gender hint
            score = 0.5 if got[1] >= 1.0 else (0.3 * got[1] if in_zone else 0.0)
            hits.append(_NameHit(got[0], score, (i, i + 3), gender))


def _name_hits(text: str, t: SurnameTables) -> tuple[list[_NameHit], list[tuple[int, int]]]:
    """Surname hits, and the text ranges that answer the operator's 您贵姓 (the reply zones)."""
    hits: list[_NameHit] = []
    spelled_spans: set = set()
    _stated(text, t, hits, spelled_spans)
    _full_name(text, t, hits)
    _self_intro(text, t, hits)
    _titled(text, t, hits)
    zone = _replies(text, t, hits)
    _spelled(text, zone, hits, spelled_spans)
    _misheard_titles(text, zone, hits)
    return hits, zone


def _title_after(text: str, end: int, t: SurnameTables) -> str | None:
    """先生/女士 (a title of the tables) said right after `end`, across a comma at most."""
    k = end
    while k < len(text) and k - end < 2 and text[k] in "，,、 ":
        k += 1
    for title in t.male_titles + t.female_titles:
        if text.startswith(title, k):
            return _title_gender(title, t)
    return None


_ADDRESS_AFTER = ("好的", "是的", "对的", "行的", "谢谢", "您好", "你好", "请问", "那么")


def _addressing(text: str, k: int) -> bool:
    """A bare title at text[k] is said to the caller: on its own, or after an operator's word."""
    prev = text[k - 1:k]
    return (not prev or not re.match(rf"[{_CJK}]", prev) or prev == "请"
            or text[max(0, k - 2):k] in _ADDRESS_AFTER)


def _gender_from_cues(text: str, t: SurnameTables) -> str | None:
    male = sum(text.count(c) for c in t.male_cues)
    female = sum(text.count(c) for c in t.female_cues)
    if male > female:
        return "先生"
    if female > male:
        return "女士"
    return None


def _gender(text: str, hits: list[_NameHit], mine: list[_NameHit], best: str, zone, t) -> tuple[str, float]:
    genders = [h.gender for h in mine if h.gender]
    if not genders:  # a bare title right after the surname (向前，先生 → 钱 + 先生)
        genders = [g for h in mine if (g := _title_after(text, h.span[1], t))]
    if not genders:  # a misheard title right next to the name (信尘，神仙生 → 陈 + 先生)
        genders = [h.gender for h in hits if h.gender and h.surname != best
                   and any(abs(h.span[0] - m.span[1]) <= 4 for m in mine)]
    if not genders and zone:
        # the first title after the caller answered 您贵姓 (the operator's 请先生 for 钱先生): its
        # surname may be misheard, its title is still the caller's
        z0 = min(a for a, _ in zone)
        after = [(h.span[0], h.gender) for h in hits if h.gender and h.span[0] >= z0]
        for title in t.male_titles + t.female_titles:   # a bare title too (请先生，我们会…)
            k = text.find(title, z0)
            # 我先生 is a husband; 那个阿姨 / 楼下的大爷 someone the caller talks about: a bare
            # title addresses the caller only on its own (，先生，/ 好的女士 / 请先生)
            while k >= 0 and not _addressing(text, k):
                k = text.find(title, k + 1)
            if k >= 0:
                after.append((k, _title_gender(title, t)))
        genders = [min(after)[1]] if after else []
    if genders:
        return genders[-1], 1.0
    cue = _gender_from_cues(text, t)
    if cue:
        return cue, 0.8
    given = [h.given_gender for h in mine if h.given_gender]
    return (given[-1], 0.7) if given else (t.default_title, 0.5)


def extract_name(text: str, operator_spans: list[tuple[int, int]] | None = None) -> Name | None:
    """Caller's surname + 先生/女士 (gender from the title used, else cues, else the default).

    ``operator_spans``: text ranges the operator said (known on stereo calls); a surname *stated*
    there (我姓李) is ignored, a title there (王先生您好) still counts."""
    t = tables()
    hits, zone = _name_hits(text, t)
    if operator_spans:  # stereo calls: 我姓李 said by the operator is the operator's own name
        hits = [h for h in hits if h.gender is not None or not any(a <= h.span[0] < b for a, b in operator_spans)]
    wrong = _negated(text, t)
    if wrong:   # 我不姓李: the operator's 李先生 before it was a mishearing
        hits = [h for h in hits if h.surname not in wrong]
    votes: dict[str, float] = {}
    for h in hits:
        if h.score > 0:
            votes[h.surname] = votes.get(h.surname, 0.0) + h.score
    if not votes:
        return None
    # a spelled surname (施工的施, 三点水的汤) is what the homophones heard elsewhere (时先生, 唐) mean
    spelled = sorted({h.surname for h in hits if h.spelled and h.surname in votes}, key=lambda s: -votes[s])
    for sur in spelled:
        if sur not in votes:
            continue   # absorbed by a stronger spelling of the same sound
        for other in [s for s in votes if s != sur and sounds_alike(s, sur)]:
            votes[sur] += votes.pop(other)
            for o in hits:
                if o.surname == other:
                    o.surname = sur
    # a tie (宗女士 then 宋女士: one of them misheard) goes to the commoner surname
    ranked = sorted(votes.items(), key=lambda kv: (-round(kv[1], 6), t.rank.get(kv[0], len(t.rank))))
    best = ranked[0][0]
    mine = [h for h in hits if h.surname == best]
    gender, gq = _gender(text, hits, mine, best, zone, t)
    total = sum(votes.values())
    conf = min(0.99, max(h.score for h in mine) * (votes[best] / total) ** 0.5 * (0.6 + 0.4 * gq))
    cands = [{"value": s + gender, "confidence": round(v / total, 3)} for s, v in ranked[:3]]
    same_sound = homophones(best)
    confirmed = any(h.spelled for h in mine) or len(same_sound) == 1
    # unconfirmed: its homophones, then the other surnames the call voted for (姓秦 … 前先生: 钱),
    # so the operator's 哪个字？ has them all in front of them
    others = [s for s, _ in ranked[1:] if s not in same_sound]
    alts = [] if confirmed else [s + gender for s in (list(same_sound[:MAX_HOMOPHONES]) + others)[:MAX_HOMOPHONES + 1]]
    return Name(best + gender, round(conf, 3), mine[0].span, cands, confirmed, alts)
