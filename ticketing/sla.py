"""Time limits (限时办结) from the taxonomy's `sla` section.

How a deadline counts (start = dispatch time T, naive Shanghai time):
- normal tickets: first contact by the end (23:59:59) of the Nth working day after T's date,
  resolution likewise, N from `sla.by_appeal_type[appeal_type]`. T's own day never counts.
- urgent tickets: T + `sla.urgent.first_contact_hours` / `resolve_hours` calendar hours.
- an extension (once, with a reason) moves resolve_by to the end of the
  `sla.extension.max_resolve_working_days`-th working day after T.
- a deadline in a year the installed calendar does not know yet counts Monday to Friday and is
  marked provisional (the basis says so), to be checked once that year's holidays are published.
For the draft shown to the operator during the call, T is "now" (the ticket is not dispatched yet).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ticketing.clock import to_local
from ticketing.taxonomy_data import load_taxonomy
from ticketing.workdays import calendar_known, working_days_deadline

DEFAULT_APPEAL_TYPE = "投诉"  # unknown appeal type: use the complaint limits


@dataclass(frozen=True)
class Deadlines:
    response_by: datetime
    resolve_by: datetime
    basis: str  # human-readable rule, e.g. "投诉: 1/5个工作日"
    provisional: bool = False  # counted past the calendar's known years (Monday to Friday)

    def to_dict(self) -> dict[str, Any]:
        return {
            "response_by": self.response_by.isoformat(timespec="seconds"),
            "resolve_by": self.resolve_by.isoformat(timespec="seconds"),
            "basis": self.basis,
            "provisional": self.provisional,
        }


def _sla(taxonomy: dict[str, Any] | None) -> dict[str, Any]:
    return (taxonomy or load_taxonomy())["sla"]


def compute_deadlines(appeal_type: str | None, urgency: str | None, start: datetime | str,
                      *, taxonomy: dict[str, Any] | None = None) -> Deadlines:
    sla = _sla(taxonomy)
    start = to_local(start)
    if urgency == "urgent":
        rule = sla["urgent"]
        return Deadlines(start + timedelta(hours=rule["first_contact_hours"]),
                         start + timedelta(hours=rule["resolve_hours"]),
                         f"紧急: {rule['first_contact_hours']}/{rule['resolve_hours']}小时")
    kind = appeal_type if appeal_type in sla["by_appeal_type"] else DEFAULT_APPEAL_TYPE
    rule = sla["by_appeal_type"][kind]
    response_by = working_days_deadline(start, rule["first_contact_working_days"])
    resolve_by = working_days_deadline(start, rule["resolve_working_days"])
    basis = f"{kind}: {rule['first_contact_working_days']}/{rule['resolve_working_days']}个工作日"
    provisional = not calendar_known(resolve_by.date())
    if provisional:
        basis += f"（{resolve_by.year}年节假日安排尚未收录，暂按周一至周五计算）"
    return Deadlines(response_by, resolve_by, basis, provisional)


def deadlines(appeal_type: str | None, urgency: str | None, start: datetime | str,
              *, taxonomy: dict[str, Any] | None = None) -> dict[str, str]:
    """The draft's `deadlines` field: {response_by, resolve_by, basis} as ISO strings."""
    return compute_deadlines(appeal_type, urgency, start, taxonomy=taxonomy).to_dict()


def extended_resolve_by(dispatched_at: datetime, *, taxonomy: dict[str, Any] | None = None) -> datetime:
    days = _sla(taxonomy)["extension"]["max_resolve_working_days"]
    return working_days_deadline(dispatched_at, days)
