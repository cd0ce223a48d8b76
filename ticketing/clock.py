"""Local time: every stored datetime is a naive Asia/Shanghai wall-clock time."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def now_local() -> datetime:
    return datetime.now(TZ).replace(tzinfo=None, microsecond=0)


def to_local(value: datetime | str | None) -> datetime | None:
    """Aware datetimes are converted to Shanghai time; naive ones are taken as Shanghai time."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(TZ).replace(tzinfo=None)
    return value
