"""A road or compound named in an address, as heard, matched by sound to the gazetteer.

resolve(gaz, "银口路", ("road",)) -> 营口路: the same name, the same merged sound, or (roads of 4+
syllables, or a road the call names elsewhere) one syllable off sharing its initial or final.
"""
from __future__ import annotations

from nlp.gazetteer import Gazetteer, Place
from nlp.pinyin import char_plain
from nlp.place_match import _PLACE_READINGS, _heard_keys, _share_sound


def resolve(gaz: Gazetteer, word: str, kinds: tuple[str, ...], district: str | None = None,
            said: frozenset[str] | set[str] = frozenset(), fuzzy: bool = True) -> Place | None:
    """The known place (of `kinds`) that a road- or compound-shaped name heard as `word`
    stands for: the same name, the same merged sound, or (roads of 4+ syllables, or one the call
    names elsewhere) one syllable off sharing its initial or final. Inside `district` when
    known; a name the call also says (`said`) is preferred; None unless exactly one place fits."""
    g = gaz
    exact = [a.place for a in g.aliases.get(word, ()) if a.place.kind in kinds and not a.short]
    if exact:
        inside = [p for p in exact if district is None or district in p.districts]
        return (inside or exact)[0]
    if not fuzzy:
        return None
    per = [_heard_keys(c) for c in word]
    if any(not k for k in per):
        return None
    keys: list[tuple[str, ...]] = [()]
    for ks in per:
        keys = [k + (x,) for k in keys for x in ks][:16]
    found: dict[str, tuple[Place, bool]] = {}
    for k in keys:
        for surface in g.key_index.get(k, ()):
            for a in g.aliases[surface]:
                if a.place.kind in kinds and not a.short:
                    found.setdefault(a.place.name, (a.place, False))
    if not found and len(word) >= 3 and "road" in kinds:
        for k in keys:
            for i in range(len(k) - 1):
                for surface in g.near_index.get(k[:i] + ("*",) + k[i + 1:], ()):
                    if len(surface) != len(word) or surface[-1] != word[-1]:
                        continue
                    for a in g.aliases[surface]:
                        if a.place.kind not in kinds or a.short:
                            continue
                        alike = any(_share_sound(x, y) for x in char_plain(word[i])[:1]
                                    for y in (_PLACE_READINGS.get(surface[i]) or char_plain(surface[i])[:1]))
                        # a 3-character name one syllable off (泰和路 -> 通河路) is too loose
                        # unless the call names that road too
                        if (alike and len(word) >= 4) or a.place.name in said:
                            found.setdefault(a.place.name, (a.place, True))
    cands = list(found.values())
    if district:
        cands = [c for c in cands if district in c[0].districts or c[0].name in said]
    else:   # with no district known a name one syllable off must be one the call says
        cands = [c for c in cands if not c[1] or c[0].name in said]
    preferred = [c for c in cands if c[0].name in said]
    cands = preferred or cands
    return cands[0][0] if len(cands) == 1 else None
