"""Entity: one value read from a call transcript (caller name, phone), with where and how sure."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entity:
    value: str
    confidence: float
    span: tuple[int, int]                                   # [start, end) into the text given
    candidates: list[dict] = field(default_factory=list)   # [{value, confidence}] best first
