"""Caller name (surname + 先生/女士) and phone number from a (noisy ASR) call transcript.

Both parsers are regex + small tables (nlp/data/names.json), cheap enough to rerun on the whole
transcript at every segment. Every result carries a confidence and a [start, end) span into the
text it was given.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path

from pypinyin import lazy_pinyin

from nlp.pinyin import char_keys

DATA = Path(__file__).resolve().parent / "data" / "names.json"


@dataclass
class Entity:
    value: str
    confidence: float
    span: tuple[int, int]
    candidates: list[dict] = field(default_factory=list)   # [{value, confidence}] best first


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _NameTables:
    surnames: str
    rank: dict[str, int]
    compound: tuple[str, ...]
    descriptions: dict[str, str]
    male_titles: tuple[str, ...]
    female_titles: tuple[str, ...]
    male_cues: tuple[str, ...]
    female_cues: tuple[str, ...]
    default_title: str
    ambiguous: str
    by_pinyin: dict[str, str]
    # (word length, surname position, merged syllables of the other characters) -> [(word, surname)]
    spelling_words: dict[tuple, list[tuple[str, str]]]


@lru_cache(maxsize=1)
def _tables() -> _NameTables:
    d = json.loads(DATA.read_text(encoding="utf-8"))
    s = d["surnames"]
    by_py: dict[str, str] = {}
    for ch in s:  # most common first: the first surname with a pinyin wins the homophone tie
        by_py.setdefault(lazy_pinyin(ch)[0], ch)
    for ch in s:  # then ASR-tolerant keys (陈 ← 尘 chen, 曹 ← 吵 chao→cao)
        for k in char_keys(ch):
            by_py.setdefault("~" + k, ch)
    spelling: dict[tuple, list[tuple[str, str]]] = {}
    for sur, words in d.get("spelling_words", {}).items():
        for w in words:
            for p, ch in enumerate(w):
                if ch != sur:
                    continue
                for others in _other_keys(w, p):
                    spelling.setdefault((len(w), p, others), []).append((w, sur))
    return _NameTables(
        surnames=s, rank={c: i for i, c in enumerate(s)}, compound=tuple(d.get("compound", [])),
        descriptions=dict(d.get("descriptions", {})),
        male_titles=tuple(sorted(d["male_titles"], key=len, reverse=True)),
        female_titles=tuple(sorted(d["female_titles"], key=len, reverse=True)),
        male_cues=tuple(d.get("male_cues", [])), female_cues=tuple(d.get("female_cues", [])),
        default_title=d.get("default_title", "女士"), ambiguous=d.get("ambiguous", ""), by_pinyin=by_py,
        spelling_words=spelling,
    )


def _other_keys(word: str, skip: int) -> list[tuple[str, ...]]:
    """Merged-pinyin readings of ``word`` without the character at ``skip`` (heteronyms: each)."""
    per = [char_keys(c) for k, c in enumerate(word) if k != skip]
    if any(not p for p in per):
        return []
    return [tuple(c) for c in product(*per)][:8]


def _spelled_surname(word: str, said: str, t: "_NameTables") -> str | None:
    """The surname a spelling "word的said" names, matched by sound (深无空的深 -> 孙悟空的孙).

    The word's other characters must sound like a known spelling word's, and the surname's own
    sound must be heard at least once (in ``said`` or in its place in the word) -- unless the
    word has two or more other syllables that agree (悟空 of 孙悟空)."""
    for p in range(len(word)):
        for others in _other_keys(word, p):
            for _w, sur in t.spelling_words.get((len(word), p, others), ()):
                sur_keys = set(char_keys(sur))
                if sur_keys & (set(char_keys(said)) | set(char_keys(word[p]))):
                    return sur
                if len(others) >= 2:
                    return sur   # 深无空的分: 悟空 heard right says 孙悟空 even with 孙 heard twice wrong
    return None


_CJK = r"\u4e00-\u9fff"
# 我姓周 / 免贵姓王 / 姓周 — but not 贵姓？ (operator asking) and not 姓名.
_SAY_SURNAME = re.compile(rf"(?:免贵|我|本人|我们)?姓([{_CJK}]{{1,2}})")
_NOT_SURNAME_AFTER_XING = set("名氏啥什哪么")
_SPELL = re.compile(rf"([{_CJK}]{{1,3}})的([{_CJK}])")        # 施工的施 / 照顾的顾
_PRE_OK = set("的好谢问位请叫是您跟让给找")
# words that stand before a title without being a name (我先生, 这位女士, 好的先生)
_NEVER_SURNAME = set("我你您他她它这那哪位个的是了和跟给让叫请问好谢老小大各两一诸们嗯啊呢吧呀哦喂对")
_XING = ("xin", "xian", "jin")     # merged keys of 姓 (xing) as ASR writes it: 信/幸/行/性/新, 先/现, 尽/近
_ASKED_RE = re.compile(r"贵[姓性心信幸星兴新尽]|称呼|怎么叫|姓什么")   # 您贵姓, as ASR writes it too
_MALE_KEYS = (("xian", "xin"), ("sen",))          # 先生 and near-homophones (行生, 仙生, 现生)
_FEMALE_KEYS = (("lv", "nv", "li"), ("si",))      # 女士 and near-homophones (你是 after a name)


@lru_cache(maxsize=20000)
def _surname_of_char(ch: str) -> tuple[str, float] | None:
    """(surname, quality) a single character stands for: itself, or the commonest homophone."""
    t = _tables()
    if ch in t.rank:
        return ch, 1.0
    if not re.match(rf"[{_CJK}]", ch) or ch in _NEVER_SURNAME:
        return None
    py = lazy_pinyin(ch)[0]
    if py in t.by_pinyin:  # ASR wrote a homophone (洲 for 周)
        return t.by_pinyin[py], 0.6
    for k in char_keys(ch):  # a near-homophone (尘 for 陈)
        if "~" + k in t.by_pinyin:
            return t.by_pinyin["~" + k], 0.5
    return None


def _surname_at(text: str, i: int, t: _NameTables) -> tuple[str, float] | None:
    """Surname starting at text[i] (compound first); homophones map to the commonest surname."""
    two = text[i:i + 2]
    if two in t.compound:
        return two, 1.0
    ch = text[i:i + 1]
    return _surname_of_char(ch) if ch else None


def _title_gender(title: str, t: _NameTables) -> str | None:
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


def _name_hits(text: str, t: _NameTables) -> tuple[list[_NameHit], list[tuple[int, int]]]:
    """Surname hits, and the text ranges that answer the operator's 您贵姓 (the reply zones)."""
    hits: list[_NameHit] = []
    # 1. 我姓X (+ optional spelling: 施工的施 / 口天吴 / X先生 right after)
    for m in _SAY_SURNAME.finditer(text):
        if text[m.start(1)] in _NOT_SURNAME_AFTER_XING:
            continue
        if m.start() > 0 and text[m.start() - 1] == "贵" and not m.group(0).startswith("免"):
            continue  # 您贵姓 is the operator asking
        got = _surname_at(text, m.start(1), t)
        if not got:
            continue
        sur, q = got
        prev = text[m.start() - 1] if m.start() > 0 else ""
        if q < 1.0 and m.group(0).startswith("姓") and re.match(rf"[{_CJK}]", prev or "，") and prev not in "就是说叫":
            continue  # 姓 inside a misheard word (培训 heard as 陪姓机构) names no one
        spelled = False
        tail = text[m.start(1) + len(sur):m.start(1) + len(sur) + 14]
        for sm in _SPELL.finditer(tail):
            word, ch = sm.group(1), sm.group(2)
            if ch in word and ch in t.rank and lazy_pinyin(ch)[0] == lazy_pinyin(sur)[0]:
                sur, q, spelled = ch, 1.0, True
                break
        for desc, ch in t.descriptions.items():
            if desc + ch in tail or desc in tail[:4]:
                if lazy_pinyin(ch)[0] == lazy_pinyin(sur)[0] or q < 1.0:
                    sur, q, spelled = ch, 1.0, True
                break
        hits.append(_NameHit(sur, 0.9 * q, (m.start(1), m.start(1) + len(sur)), spelled=spelled))
    # 2. X先生 / X女士 / X阿姨 / X老先生 (operator addressing the caller, or the caller's own)
    titles = t.male_titles + t.female_titles
    title_re = re.compile("|".join(sorted(map(re.escape, titles), key=len, reverse=True)))
    for m in title_re.finditer(text):
        title = m.group(0)
        for n in (2, 1):
            i = m.start() - n
            if i < 0:
                continue
            got = _surname_at(text, i, t)
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
    # 3. the reply to 您贵姓: 姓 misheard (信陈 / 行动), or a title misheard (周行生)
    pos = 0
    lines = text.split("\n")
    zone: list[tuple[int, int]] = []     # the two lines after the operator asks the name
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
            if j + 1 < end and text[j] != "姓" and set(_XING) & set(char_keys(text[j])):
                got = _surname_at(text, j + 1, t)
                if got:
                    # a real surname character stated is worth more than a homophone guess
                    score = 0.6 if got[1] >= 1.0 else 0.5 * got[1]
                    hits.append(_NameHit(got[0], score, (j + 1, j + 1 + len(got[0]))))
    # 4. a spelling in the reply with both characters misheard alike (我现实施工的事: 施工的施)
    for zs, ze in zone:
        for sm in _SPELL.finditer(text, zs, ze):
            word, ch = sm.group(1), sm.group(2)
            for n in (3, 2):   # a known spelling word by sound (深无空的深: 孙悟空的孙)
                sur = _spelled_surname(word[-n:], ch, t) if len(word) >= n else None
                if sur:
                    i = sm.end(1) - n
                    hits.append(_NameHit(sur, 0.8, (i, sm.end(2)), spelled=True))
                    break
            if ch in word:
                continue   # written right: step 1 has it when 姓 was heard
            for k, w in enumerate(word):
                if w in t.rank and lazy_pinyin(w)[0] == lazy_pinyin(ch)[0]:
                    i = sm.start(1) + k
                    hits.append(_NameHit(w, 0.7, (i, i + 1), spelled=True))
                    break
    for i in range(len(text) - 2):
        b = char_keys(text[i + 2])
        if "sen" not in b and "si" not in b:
            continue  # cheap test first: the title's second syllable
        a = char_keys(text[i + 1])
        got = _surname_at(text, i, t)
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
    return hits, zone


def _title_after(text: str, end: int, t: _NameTables) -> str | None:
    """先生/女士 (a title of the tables) said right after `end`, across a comma at most."""
    k = end
    while k < len(text) and k - end < 2 and text[k] in "，,、 ":
        k += 1
    for title in t.male_titles + t.female_titles:
        if text.startswith(title, k):
            return _title_gender(title, t)
    return None


def _gender_from_cues(text: str, t: _NameTables) -> str | None:
    male = sum(text.count(c) for c in t.male_cues)
    female = sum(text.count(c) for c in t.female_cues)
    if male > female:
        return "先生"
    if female > male:
        return "女士"
    return None


def extract_name(text: str, operator_spans: list[tuple[int, int]] | None = None) -> Entity | None:
    """Caller's surname + 先生/女士 (gender from the title used, else cues, else the default).

    ``operator_spans``: text ranges the operator said (known on stereo calls); a surname *stated*
    there (我姓李) is ignored, a title there (王先生您好) still counts."""
    t = _tables()
    hits, zone = _name_hits(text, t)
    if operator_spans:  # stereo calls: 我姓李 said by the operator is the operator's own name
        hits = [h for h in hits if h.gender is not None or not any(a <= h.span[0] < b for a, b in operator_spans)]
    if not hits:
        return None
    votes: dict[str, float] = {}
    for h in hits:
        if h.score > 0:
            votes[h.surname] = votes.get(h.surname, 0.0) + h.score
    if not votes:
        return None
    # a spelled surname (施工的施) is what the homophones heard elsewhere (时先生, 石) mean
    for h in hits:
        if h.spelled and h.surname in votes:
            py = lazy_pinyin(h.surname)[0]
            for other in [s for s in votes if s != h.surname and lazy_pinyin(s)[0] == py]:
                votes[h.surname] += votes.pop(other)
                for o in hits:
                    if o.surname == other:
                        o.surname = h.surname
    # a tie (宗女士 then 宋女士: one of them misheard) goes to the commoner surname
    ranked = sorted(votes.items(), key=lambda kv: (-round(kv[1], 6), t.rank.get(kv[0], len(t.rank))))
    best = ranked[0][0]
    mine = [h for h in hits if h.surname == best]
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
            while k >= 0 and text[k - 1:k] in ("我", "她", "他"):   # 我先生 is a husband
                k = text.find(title, k + 1)
            if k >= 0:
                after.append((k, _title_gender(title, t)))
        genders = [min(after)[1]] if after else []
    if genders:
        gender, gq = genders[-1], 1.0
    else:
        cue = _gender_from_cues(text, t)
        gender, gq = (cue, 0.8) if cue else (t.default_title, 0.5)
    total = sum(votes.values())
    conf = min(0.99, max(h.score for h in mine) * (votes[best] / total) ** 0.5 * (0.6 + 0.4 * gq))
    span = mine[0].span
    cands = [{"value": s + gender, "confidence": round(v / total, 3)} for s, v in ranked[:3]]
    return Entity(best + gender, round(conf, 3), span, cands)


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

_DIGIT = {"零": "0", "〇": "0", "○": "0", "洞": "0", "幺": "1", "一": "1", "壹": "1", "二": "2", "两": "2",
          "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
for _i in range(10):
    _DIGIT[str(_i)] = str(_i)
    _DIGIT[chr(0xFF10 + _i)] = str(_i)  # full-width
_SEP = set(" ，,、-—.。：:…\n\t")
_MOBILE = re.compile(r"1[3-9]\d{9}")
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


def _valid(digits: str) -> str | None:
    if _MOBILE.fullmatch(digits):
        return digits
    if len(digits) == 11 and digits.startswith("021") and digits[3] in "23456789":
        return f"021-{digits[3:]}"
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    if len(digits) == 8 and digits[0] in "2345689":
        return digits
    return None


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
                phone = _valid(digits)
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


# --------------------------------------------------------------------------------------------
# House numbers said in words (五零二室, 二十三号楼) → digits, for addresses and titles
# --------------------------------------------------------------------------------------------

_CN_VAL = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_HOUSE_NUM = re.compile(r"[零〇一幺二两三四五六七八九十百千]+(?=号楼|号(?!线)|弄|室|栋|幢|楼|层|单元)")


def cn_to_int(s: str) -> int | None:
    """五零二 → 502 (digit by digit), 二十三 → 23, 一千零五十 → 1050; None if not a number."""
    if not s:
        return None
    if not any(c in _CN_UNIT for c in s):
        try:
            return int("".join(str(_CN_VAL[c]) for c in s))
        except KeyError:
            return None
    total, cur = 0, 0
    for c in s:
        if c in _CN_VAL:
            cur = _CN_VAL[c]
        elif c in _CN_UNIT:
            total += (cur or 1) * _CN_UNIT[c]
            cur = 0
        else:
            return None
    return total + cur


def cn_numbers_to_digits(text: str) -> str:
    """Numbers before 号/弄/室/楼/栋… in digits: 7号五零二室 → 7号502室 (一楼 stays 1楼)."""
    def sub(m: re.Match) -> str:
        v = cn_to_int(m.group(0))
        return str(v) if v is not None else m.group(0)

    return _CN_HOUSE_NUM.sub(sub, text)
