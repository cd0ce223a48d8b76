"""DraftTicket: the ticket the pipeline prefills from one call (nlp/data/draft_ticket.schema.json)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Field names of draft_ticket.schema.json, in schema order; to_dict() adds evidence + candidates.
SCHEMA_FIELDS = (
    "call_id", "transcript", "segments", "appeal_type", "category", "category_l1", "urgency",
    "district", "street", "road", "address", "landmark", "location", "department", "co_handler",
    "company", "caller_name", "caller_name_confirmed", "caller_name_candidates", "phone", "kb_ids", "summary",
    "confidence", "deadlines", "timings",
)


@dataclass
class DraftTicket:
    call_id: str = ""
    transcript: str = ""
    segments: list[dict] = field(default_factory=list)
    appeal_type: str | None = None
    category: str | None = None
    category_l1: str | None = None
    urgency: str | None = None
    district: str | None = None
    street: str | None = None
    road: str | None = None
    address: str | None = None
    landmark: str | None = None
    location: dict | None = None          # {"lat": .., "lon": ..}
    department: str | None = None
    co_handler: str | None = None
    company: str | None = None
    caller_name: str | None = None
    # False: the surname was said, not spelled, and other common surnames sound the same; the
    # operator asks 哪个字 and picks one of caller_name_candidates (caller_name first). None: no name.
    caller_name_confirmed: bool | None = None
    caller_name_candidates: list[str] = field(default_factory=list)
    phone: str | None = None
    kb_ids: list[str] = field(default_factory=list)
    summary: str | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    deadlines: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # Beyond the schema: where each value was found and the runner-up values.
    evidence: dict[str, list[int]] = field(default_factory=dict)       # field -> [start, end] in transcript
    candidates: dict[str, list[dict]] = field(default_factory=dict)    # field -> [{value, confidence}]
    final: bool = False                                                # True once finalize() ran

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in SCHEMA_FIELDS:
            v = getattr(self, name)
            if isinstance(v, dict):
                v = dict(v)
            elif isinstance(v, list):
                v = [dict(x) if isinstance(x, dict) else x for x in v]
            d[name] = v
        d["confidence"] = {k: round(float(c), 3) for k, c in self.confidence.items()}
        d["evidence"] = {k: [int(s), int(e)] for k, (s, e) in self.evidence.items()}
        d["candidates"] = {k: [dict(c) for c in v] for k, v in self.candidates.items()}
        d["final"] = self.final
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DraftTicket":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def evidence_text(self, name: str) -> str | None:
        """The transcript text a field was read from (for highlighting / checks)."""
        span = self.evidence.get(name)
        return self.transcript[span[0]:span[1]] if span else None
