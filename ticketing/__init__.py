"""The ticket system: SQLModel store with Alembic migrations, lifecycle, time limits, duplicates.

    from ticketing import TicketStore
    store = TicketStore()            # SQLite in HOTLINE_HOME, or HOTLINE_DATABASE_URL
    tid = store.upsert_draft(draft)  # during the call, after every final segment
"""
from ticketing.lifecycle import ConflictError, TransitionError
from ticketing.sla import compute_deadlines, deadlines
from ticketing.store import TicketNotFound, TicketStore
from ticketing.workdays import CalendarRangeError

__all__ = ["TicketStore", "TicketNotFound", "TransitionError", "ConflictError", "CalendarRangeError", "deadlines",
           "compute_deadlines"]
