"""The result shapes of nlp/location.py: PlaceMatch, LocationResult, LocationOptions."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class PlaceMatch:
    value: str
    kind: str
    confidence: float
    span: tuple[int, int] | None = None
    candidates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["span"] = list(self.span) if self.span else None
        return d


@dataclass
class LocationResult:
    district: PlaceMatch | None = None
    street: PlaceMatch | None = None
    road: PlaceMatch | None = None
    address: PlaceMatch | None = None       # normalised ticket address, e.g. 杨浦区营口路588号
    landmark: PlaceMatch | None = None
    location: dict | None = None            # {"lat", "lon", "approximate": True, "level"}
    corrected_text: str = ""                # transcript with misheard place names replaced
    candidates: dict[str, list[dict]] = field(default_factory=dict)  # undecided fields
    outside: list[str] = field(default_factory=list)                 # out-of-Shanghai places named

    def to_dict(self) -> dict:
        out: dict = {}
        for k in ("district", "street", "road", "address", "landmark"):
            m = getattr(self, k)
            out[k] = m.to_dict() if m else None
        out["location"] = self.location
        out["corrected_text"] = self.corrected_text
        out["candidates"] = self.candidates
        out["outside"] = self.outside
        return out


@dataclass
class LocationOptions:
    fuzzy: bool = True                  # pinyin-fuzzy matching (off: exact characters only)
    min_district_share: float = 0.6     # below this share of the district vote: candidates only
    min_confidence: float = 0.5         # mentions scoring below are ignored
    readback_weight: float = 1.3        # operator read-back / confirmation lines (district vote)
    road_readback_weight: float = 2.0   # the road and number read back win over the caller's first mention
    late_weight: float = 0.3            # a mention at the end of the call counts 1 + this

