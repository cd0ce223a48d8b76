"""ticketing.writer.StoreWriter: writes made while the database is away are queued, in order,
and written when it is back; other errors are not swallowed. A real SQLite store whose
methods are made to fail as a dropped connection does (unit test of the writer)."""
from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy.exc import OperationalError

from ticketing import TicketStore
from ticketing.writer import StoreWriter


class Flaky:
    """Wraps a store; while `down`, every call raises what SQLAlchemy raises for a lost server."""

    def __init__(self, store: TicketStore) -> None:
        self.store, self.down, self.calls = store, False, []

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        def call(*args, **kwargs):
            if self.down:
                raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


@pytest.fixture
def flaky(tmp_path):
    with TicketStore(f"sqlite:///{tmp_path / 'w.db'}") as store:
        yield Flaky(store)


def _seg(i: int) -> dict:
    return {"id": i, "start": i, "end": i + 1, "text": f"第{i}句"}


def test_an_outage_queues_in_order_and_writes_when_back(flaky, caplog):
    writer = StoreWriter(flaky, retry_s=0.05)
    writer.add_segment("c1", _seg(0))
    flaky.down = True
    with caplog.at_level(logging.ERROR, logger="hotline.ticketing.writer"):
        for i in (1, 2):
            writer.add_segment("c1", _seg(i))
            writer.upsert_draft({"call_id": "c1", "transcript": f"draft {i}"})
    assert writer.pending == 3  # two segments and the newest draft (it replaced the older one)
    assert any("database unavailable" in r.message for r in caplog.records)
    writer.add_segment("c1", _seg(3))
    time.sleep(0.2)
    assert writer.pending == 4 and not writer.available
    flaky.down = False
    assert writer.flush(timeout=5)
    assert [s["id"] for s in flaky.store.segments("c1")] == [0, 1, 2, 3]
    assert flaky.store.get_by_call("c1")["transcript"] == "draft 2"
    assert flaky.calls == ["add_segment"] * 3 + ["upsert_draft", "add_segment"] and writer.available


def test_a_bad_write_is_not_queued(flaky):
    writer = StoreWriter(flaky)
    with pytest.raises(ValueError, match="call_id"):
        writer.upsert_draft({"transcript": "no call id"})
    assert writer.pending == 0
