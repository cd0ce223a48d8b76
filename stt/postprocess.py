"""Clean Whisper output for the hotline: Simplified script, fixed vocabulary, no hallucinations or loops.

The word lists live in stt/data/hotline_vocab.json.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "hotline_vocab.json"

_PUNCT = "，。？！、；：,.?!;:…—-～~\"'“”‘’（）()《》【】[] \t\n"
_CJK = r"[\u3400-\u9fff]"


@dataclass
class Vocabulary:
    initial_prompt: str = ""
    replacements: list[tuple[str, str]] = field(default_factory=list)
    hallucinations: list[str] = field(default_factory=list)
    hallucination_patterns: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path = DATA) -> "Vocabulary":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            initial_prompt=raw.get("initial_prompt", ""),
            replacements=[tuple(p) for p in raw.get("replacements", [])],
            hallucinations=raw.get("hallucinations", []),
            hallucination_patterns=raw.get("hallucination_patterns", []),
        )


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return Vocabulary.load()


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def strip_punct(text: str) -> str:
    return "".join(ch for ch in text if ch not in _PUNCT)


def cut_loops(text: str, max_repeats: int = 2) -> str:
    """Collapse a unit repeated more than `max_repeats` times in a row (Whisper's decode loops).

    "对对对对对对对对" -> "对对"; "我说的是我说的是我说的是我说的是" -> "我说的是我说的是".
    Units of 1..15 characters; 1-character units only when repeated 4+ times (对对对 is speech).
    """
    def repl(m: re.Match) -> str:
        return m.group(1) * max_repeats

    # A whole clause said twice in a row is the decoder looping, not the caller repeating.
    text = re.sub(r"(.{6,40}?)[，。,.？?、\s]*\1(?:[，。,.？?、\s]*\1)*", r"\1", text)
    text = re.sub(r"(.{2,15}?)\1{2,}", repl, text)
    text = re.sub(r"(.)\1{3,}", repl, text)
    return text


@functools.lru_cache(maxsize=8)
def _hallucination_re(phrases: tuple[str, ...], patterns: tuple[str, ...]) -> re.Pattern:
    # Whisper sprinkles spaces/punctuation into these phrases: allow any between the characters.
    gap = "[" + re.escape(_PUNCT) + "]*"
    alts = [gap.join(map(re.escape, p)) for p in sorted(phrases, key=len, reverse=True)] + list(patterns)
    return re.compile("|".join(f"(?:{a})" for a in alts))


def remove_hallucinations(text: str, vocab: Vocabulary) -> str:
    return _hallucination_re(tuple(vocab.hallucinations), tuple(vocab.hallucination_patterns)).sub("", text)


# The int8 model sometimes gets the last byte of a full-width comma (EF BC 8C) wrong, which
# decodes as U+FFFD or a stray full-width letter/digit (４, Ｇ): those are clause breaks.
_BROKEN_PUNCT = re.compile("[\ufe50-\ufe6b\ufffd\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff02-\uff07\uff0a\uff0b\uff0d\uff0f\uff20]")


# A question mark needs a question in its clause. With the call's text as context, Whisper copies
# a question's ？ onto the following statements (好的？长宁区…？我们转交…？).
_QUESTION = re.compile(r"[吗呢吧么啥谁几哪怎多喂]|什么|为什么|是否|还是|贵姓|称呼|请问|(.)[不没]\1")


def _unasked_questions(text: str) -> str:
    parts = re.split(r"([，。？！；])", text)
    for i in range(1, len(parts), 2):
        if parts[i] == "？" and not _QUESTION.search(parts[i - 1]):
            parts[i] = "，" if any(strip_punct(p) for p in parts[i + 1:]) else "。"
    return "".join(parts)


def tidy_punctuation(text: str) -> str:
    """Whisper base separates Chinese clauses with spaces or ASCII commas: use Chinese punctuation."""
    text = _BROKEN_PUNCT.sub("，", text)
    text = re.sub(rf"(?<={_CJK})\s+(?={_CJK})", "，", text)
    text = re.sub(rf"(?<={_CJK}),\s*", "，", text)
    text = re.sub(rf"(?<={_CJK})\?", "？", text)
    text = re.sub(rf"(?<={_CJK})!", "！", text)
    text = re.sub(r"([，。？！、])[，。？！、\s]+", r"\1", text)
    text = _unasked_questions(text)
    return text.strip(" ，、")


def postprocess(text: str, vocab: Vocabulary | None = None) -> str:
    """Final text for one utterance ("" when nothing but hallucination/noise remains)."""
    vocab = vocab or default_vocabulary()
    text = to_simplified(text).strip()
    text = remove_hallucinations(text, vocab)
    for wrong, right in vocab.replacements:
        text = text.replace(wrong, right)
    text = cut_loops(text)
    text = tidy_punctuation(text)
    if not strip_punct(text):
        return ""
    return text
