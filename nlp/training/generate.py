"""Synthetic training calls for the classifier, from templates + vocabulary (vocab.json).

Every example is a dict {"text", "appeal_type", "category", "kind"}. Kinds: ``call`` (a whole
operator/caller dialogue), ``turn`` (one caller utterance, as the Extractor sees a final
segment), ``readback`` (one operator read-back line). ASR-style noise (homophones, lost
punctuation, Traditional leftovers, stutters) is applied to a share of them.

Deterministic for a given seed:  python -m nlp.training.generate --out nlp/training/examples.jsonl
"""
from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOCAB = HERE / "vocab.json"
APPEAL = HERE / "appeal.json"
HANDWRITTEN = HERE / "handwritten.jsonl"

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass
class GenOptions:
    per_category: int = 400         # examples per category (before handwritten ones)
    seed: int = 12345
    noise: float = 0.5              # share of examples that get ASR-style noise
    call_share: float = 0.55        # whole calls; the rest are single turns / read-backs
    readback_share: float = 0.12
    free_appeal: float = 1.0        # share of examples whose appeal type ignores the category's
                                    # usual framing (any type the category allows, uniformly)
    wrong_word: float = 0.15        # share of openers that name another appeal type


class _Gen:
    def __init__(self, vocab: dict, rng: random.Random, split: str = "train", appeal: dict | None = None,
                 opts: GenOptions | None = None):
        self.v = vocab
        self.a = appeal or {"types": {}, "fill": {}, "wrong_word": {}, "operator_formulas": []}
        self.opts = opts or GenOptions()
        self.rng = rng
        self.split = split
        self._homophones = self._homophone_table()
        try:  # Traditional leftovers: Whisper sometimes emits Traditional characters
            import opencc

            self._s2t = opencc.OpenCC("s2t")
        except Exception:  # pragma: no cover - opencc is a project dependency
            self._s2t = None

    def _homophone_table(self) -> dict[str, list[str]]:
        """char -> other common chars with the same (toneless, fuzzy) pinyin. "Common" = seen
        in our own vocabulary or the knowledge base, so substitutes look like Whisper's."""
        from nlp.cues import build_char_keys

        keys = build_char_keys()
        text = json.dumps(self.v, ensure_ascii=False)
        for extra in (HANDWRITTEN, HERE.parent / "data" / "kb.jsonl"):
            if extra.exists():
                text += extra.read_text(encoding="utf-8")
        pool = sorted({c for c in text if "\u4e00" <= c <= "\u9fff" and c in keys})
        by_key: dict[str, list[str]] = {}
        for c in pool:
            by_key.setdefault(keys[c], []).append(c)
        return {c: [o for o in by_key[keys[c]] if o != c] for c in pool if len(by_key[keys[c]]) > 1}

    # -- helpers -----------------------------------------------------------------------
    def pick(self, xs: list[str]) -> str:
        # every 5th phrase of a list of 5+ is kept for the held-out split, so calibration
        # is measured on phrasings the model never saw
        if len(xs) >= 5:
            xs = [x for i, x in enumerate(xs) if (i % 5 == 4) == (self.split == "held")]
        return self.rng.choice(xs)

    def fill(self, s: str, ctx: dict) -> str:
        def rep(m: re.Match) -> str:
            k = m.group(1)
            if k in ctx:
                return ctx[k]
            return self.pick(self.v["fill"].get(k) or self.a["fill"].get(k) or [k])

        for _ in range(3):   # a filler may hold slots itself ({proposal} -> ...{topic}...)
            if "{" not in s:
                break
            s = _SLOT.sub(rep, s)
        return s

    def context(self, cat: dict) -> dict:
        f = self.v["fill"]
        return {
            "road": self.pick(f["road"]), "cross": self.pick(f["cross"]),
            "compound": self.pick(f["compound"]), "district": self.pick(f["district"]),
            "street": self.pick(f["street"]), "topic": self.pick(cat["topic"]),
        }

    def appeal_for(self, cat: dict) -> str:
        names, weights = zip(*cat["appeal"].items())
        if self.a["types"] and self.rng.random() < self.opts.free_appeal:
            # any type the category allows: 咨询/建议/表扬 fit every matter; 举报, 投诉 and 求助
            # only where the category's own framing has them
            allowed = sorted(set(names) | ({"咨询", "建议", "表扬"} & set(self.a["types"])))
            fw = self.a.get("free_weights", {})
            return self.rng.choices(allowed, weights=[fw.get(x, 1.0) for x in allowed])[0]
        return self.rng.choices(names, weights=weights)[0]

    def _body(self, appeal: str, ctx: dict, n: int = 1) -> list[str]:
        t = self.a["types"].get(appeal)
        if not t:
            return []
        return [self.fill(self.pick(t["body"]), ctx) for _ in range(n)]

    def _opener(self, appeal: str) -> tuple[str, bool]:
        """(opener, names the type itself). Openers name the type, another type (on purpose:
        callers say the wrong word), or none; the old frames of vocab.json are mixed in."""
        r = self.rng.random()
        t = self.a["types"].get(appeal)
        fr = self.v["appeal_frames"][appeal]
        wrong = self.a["wrong_word"].get(appeal)
        if t is None:
            return (self.pick(fr["open"]), True) if r < 0.7 else ("", False)
        if r < self.opts.wrong_word and wrong:
            return self.pick(wrong), False
        if r < self.opts.wrong_word + 0.12 and self.a.get("neutral_open"):
            return self.pick(self.a["neutral_open"]), False
        if r < 0.4:
            return self.pick(t["said"] if self.rng.random() < 0.6 else fr["open"]), True
        if r < 0.8:
            return self.pick(t["plain"]), False
        return "", False

    # -- the caller's statement of the matter, shaped by the appeal type -----------------
    def statement(self, code: str, cat: dict, appeal: str, ctx: dict) -> list[str]:
        fr = self.v["appeal_frames"][appeal]
        t = self.a["types"].get(appeal, {})
        r = self.rng
        issue = self.fill(self.pick(cat["issue"]), ctx)
        detail = self.fill(self.pick(cat["detail"]), ctx) if cat.get("detail") and r.random() < 0.6 else ""
        opener, said = self._opener(appeal)
        closer = ""
        if r.random() < 0.6:
            pool = t.get("close") if t and r.random() < 0.6 else fr["close"]
            closer = self.fill(self.pick(pool), ctx)
        default = max(cat["appeal"], key=cat["appeal"].get)
        # without the type's word the type-defining body must be there: labels stay learnable
        body = self._body(appeal, ctx, r.choice([1, 1, 2])) if (not said or r.random() < 0.6) else []
        if appeal != default and not said and not body:
            opener, said = self.pick(fr["open"]), True
        if appeal == "咨询":
            ask = cat.get("ask")
            if ask and r.random() < 0.7:
                q = self.fill(self.pick(ask), ctx)
                main = [q] if r.random() < 0.6 else [issue, q]
            else:
                main = [issue] + (body[:1] or [self.pick(["这个应该找哪个部门", "这种情况怎么办", "我想问问有什么规定", "能不能告诉我怎么处理"])])
                body = body[1:]
            parts = [opener, *main, *body, closer if r.random() < 0.5 else ""]
        elif appeal == "建议":
            sug = cat.get("suggest")
            if sug and r.random() < 0.6:
                main = [self.fill(self.pick(sug), ctx)]
            else:
                main = body[:1] or [self.pick(["建议有关部门把{topic}这个问题好好整治一下", "能不能增加一些设施，解决{topic}", "我建议你们定期来检查一下{topic}"]).format(topic=ctx["topic"])]
                body = body[1:]
            parts = [opener, issue if r.random() < 0.6 else "", *main, *body, closer]
        elif appeal == "表扬":
            pr = cat.get("praise")
            if pr and r.random() < 0.6:
                main = [self.fill(self.pick(pr), ctx)]
            else:
                main = body[:1] or [self.pick(["{topic}那边的工作人员处理得特别及时", "上次反映的{topic}问题工作人员很快就解决了"]).format(topic=ctx["topic"])]
                body = body[1:]
            parts = [opener or self.pick(t.get("plain") or fr["open"]), *main, *body, closer]
            if t.get("resolved") and r.random() < 0.45:
                # praise often tells the old problem first, then who put it right: the problem
                # words alone must not make it a complaint
                past = self.pick(t.get("past") or [""]) + issue
                parts = [parts[0], past, self.fill(self.pick(t["resolved"]), ctx), *parts[1:]]
        else:
            parts = [opener, issue, detail, *body, closer]
            if body and r.random() < 0.5:   # the type-defining sentence anywhere in the turn
                parts = [opener, *body, issue, detail, closer]
        return [p for p in parts if p]

    # -- ASR-style noise ----------------------------------------------------------------
    def noisy(self, text: str) -> str:
        r = self.rng
        for a, b in self.v["homophones"]:
            if a in text and r.random() < 0.35:
                text = text.replace(a, b, 1)
        if r.random() < 0.6:  # random same-sound characters, as Whisper mishears them
            rate = r.choice([0.03, 0.06, 0.1])
            text = "".join(r.choice(self._homophones[c]) if c in self._homophones and r.random() < rate else c
                           for c in text)
        if r.random() < 0.5:  # Whisper often drops or changes punctuation
            text = re.sub(r"[，。？！、,.?!]", r.choice(["", " ", "，"]), text)
        if r.random() < 0.2 and self._s2t is not None:
            i = r.randrange(max(1, len(text) - 8))
            text = text[:i] + self._s2t.convert(text[i:i + 8]) + text[i + 8:]
        if r.random() < 0.4:  # characters lost in fast speech or a bad line
            rate = r.choice([0.02, 0.04, 0.06])
            text = "".join(c for c in text if not ("\u4e00" <= c <= "\u9fff" and r.random() < rate))
        if r.random() < 0.2 and len(text) > 6:  # stutter or a dropped character
            i = r.randrange(len(text) - 1)
            text = text[:i] + (text[i] * 2 if r.random() < 0.5 else "") + text[i + 1:]
        return text

    # -- whole examples -----------------------------------------------------------------
    def call(self, code: str, cat: dict) -> dict:
        v, r = self.v, self.rng
        appeal = self.appeal_for(cat)
        ctx = self.context(cat)
        op, cl = v["operator"], v["caller"]
        stmt = self.statement(code, cat, appeal, ctx)
        turns = [self.pick(op["greet"])]
        chat = [self.fill(self.pick(cl["chatter"]), ctx) for _ in range(r.choice([0, 0, 1, 2, 3]))]
        first = "，".join(([self.pick(cl["hello"])] if r.random() < 0.7 else []) + chat[:1] + stmt[:2])
        turns.append(first)
        rest = stmt[2:]
        if len(chat) > 1:
            turns.append(self.pick(op["ask_more"]))
            turns.append("，".join(chat[1:] + [self.fill(self.pick(cat["issue"]), ctx)]))
        if r.random() < 0.7:
            turns.append(self.pick(op["ask_place"]))
            turns.append(self.fill(self.pick(cl["place"]), ctx))
        if rest or r.random() < 0.5:
            turns.append(self.pick(op["ask_more"]))
            extra = rest or ([self.fill(self.pick(cat["detail"]), ctx)] if cat.get("detail") else [])
            if r.random() < 0.4:
                extra = [self.pick(cl["filler"])] + extra
            turns.append("，".join(extra) or self.pick(cl["filler"]))
        if code == "other" and r.random() < 0.85:
            turns.append(self.pick(cat["operator"]))
        elif r.random() < 0.7:
            turns.append(self.fill(self.pick(op["readback"]), ctx))
            turns.append(self.pick(["对", "是的是的", "对的", "嗯对"]))
        if self.a["operator_formulas"] and r.random() < 0.35:
            # closing formulas naming any appeal type: the operator's words carry no label
            turns.append(self.pick(self.a["operator_formulas"]))
        if r.random() < 0.7:
            turns.append(self.pick(op["name"]))
            turns.append(self.pick(cl["name"]))
        turns.append(self.pick(op["close"]))
        if r.random() < 0.4:
            turns.append(self.pick(cl["thanks"]))
        turns = [t if t[-1] in "。？！?" else t + "。" for t in turns]
        sep = r.choice(["\n", "\n", "", " "])
        return {"text": sep.join(turns), "appeal_type": appeal, "category": code, "kind": "call"}

    def turn(self, code: str, cat: dict) -> dict:
        appeal = self.appeal_for(cat)
        ctx = self.context(cat)
        stmt = self.statement(code, cat, appeal, ctx)
        if self.rng.random() < 0.3:
            stmt.insert(self.rng.randrange(len(stmt) + 1), self.fill(self.pick(self.v["caller"]["place"]), ctx))
        return {"text": "，".join(stmt) + "。", "appeal_type": appeal, "category": code, "kind": "turn"}

    def readback(self, code: str, cat: dict) -> dict:
        appeal = self.appeal_for(cat)
        ctx = self.context(cat)
        if code == "other":
            text = self.pick(cat["operator"])
        else:
            text = self.fill(self.pick(self.v["operator"]["readback"]), ctx)
        return {"text": text, "appeal_type": appeal, "category": code, "kind": "readback"}


def generate(opts: GenOptions | None = None, vocab_path: Path = VOCAB, split: str = "train",
             appeal_path: Path | None = APPEAL) -> list[dict]:
    """All synthetic examples (plus the hand-written ones for split="train"), in a
    deterministic order. split="held" uses only the phrases kept out of training."""
    opts = opts or GenOptions()
    vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
    rng = random.Random(opts.seed)
    appeal = json.loads(Path(appeal_path).read_text(encoding="utf-8")) if appeal_path else None
    g = _Gen(vocab, rng, split, appeal, opts)
    out: list[dict] = []
    for code, cat in vocab["categories"].items():
        for _ in range(opts.per_category):
            x = rng.random()
            if x < opts.call_share:
                ex = g.call(code, cat)
            elif x < opts.call_share + opts.readback_share:
                ex = g.readback(code, cat)
            else:
                ex = g.turn(code, cat)
            if rng.random() < opts.noise:
                ex["text"] = g.noisy(ex["text"])
            out.append(ex)
    if split == "train" and HANDWRITTEN.exists():
        for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ex = json.loads(line)
                ex.setdefault("kind", "hand")
                out.extend([ex] * 3)  # hand-written ones are few and careful: weigh them up
    rng.shuffle(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "examples.jsonl")
    ap.add_argument("--per-category", type=int, default=GenOptions.per_category)
    ap.add_argument("--seed", type=int, default=GenOptions.seed)
    a = ap.parse_args()
    exs = generate(GenOptions(per_category=a.per_category, seed=a.seed))
    with a.out.open("w", encoding="utf-8") as f:
        for ex in exs:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    print(f"wrote {len(exs)} examples to {a.out}")


if __name__ == "__main__":
    main()
