"""Alembic: a database made by the first revision upgrades to head keeping its tickets, and the
migrations build exactly the tables the models describe."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ticketing import TicketStore, db
from ticketing.models import metadata


def test_first_revision_database_upgrades_keeping_tickets(db_url):
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, "0001") == "0001"
    with engine.begin() as conn:  # write as the revision-0001 code would have: no locked_fields yet
        ticket = sa.Table("ticket", sa.MetaData(), autoload_with=conn)
        event = sa.Table("ticket_event", sa.MetaData(), autoload_with=conn)
        assert "locked_fields" not in ticket.c
        now = datetime(2026, 9, 1, 9, 30)
        tid = conn.execute(ticket.insert().values(
            call_id="old-call", created_at=now, updated_at=now, state="dispatched", appeal_type="投诉",
            category="noise", district="杨浦区", place_key="杨浦区|控江路1500弄", summary="夜间施工噪声",
            draft={"call_id": "old-call", "summary": "夜间施工噪声"}, kb_ids=[], dispatched_at=now,
            resolve_by=datetime(2026, 9, 8, 23, 59, 59), extended=False, warning=False, supervised=False,
            round=1)).inserted_primary_key[0]
        conn.execute(event.insert().values(ticket_id=tid, at=now, actor="op", action="dispatch",
                                           changes={"state": ["submitted", "dispatched"]}))
    engine.dispose()

    with TicketStore(db_url) as store:  # opening the store runs `upgrade head`
        assert db.current_revision(store.engine) == db.head_revision() == "0006"
        old = store.get(tid)
        assert old["summary"] == "夜间施工噪声" and old["state"] == "dispatched"
        assert old["locked_fields"] is None and old["resolve_by"] == "2026-09-08T23:59:59"
        assert store.events(tid)[0]["changes"] == {"state": ["submitted", "dispatched"]}
        assert [t["id"] for t in store.overdue(datetime(2026, 9, 9))] == [tid]
        store.update(tid, {"summary": "夜间施工噪声扰民"}, actor="op")  # the new column is usable
        assert store.get(tid)["locked_fields"] == ["summary"]
        indexes = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("ticket")}
        assert "ix_ticket_category_place" in indexes


def test_migrations_match_the_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_is_a_no_op_at_head(store):
    assert db.upgrade(store.engine) == db.head_revision()
    with TicketStore(store.url) as again:
        assert db.current_revision(again.engine) == db.head_revision()


def test_mining_indexes_made_before_0003_are_kept(db_url):
    """ticketing.mining.db.ensure_indexes may have created some of them by hand: 0003 skips those."""
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_mining_cat_street_created ON ticket (category, street, created_at)")
    engine.dispose()
    with TicketStore(db_url) as store:
        assert db.current_revision(store.engine) == db.head_revision()
        names = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("ticket")}
        assert {"ix_mining_cat_street_created", "ix_mining_created_dept"} <= names


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    with TicketStore(f"sqlite:///{tmp_path / 'wal.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_several_processes_open_a_fresh_database_at_once(db_url):
    """Server, CLI and pipeline may start together: the first upgrades, the others wait (no crash)."""
    import subprocess
    import sys

    code = ("import sys; from ticketing import TicketStore; "
            "s = TicketStore(sys.argv[1]); print(s.upsert_draft({'call_id': sys.argv[2]}))")
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url, f"boot-{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert sorted(int(out) for out, _ in results) == [1, 2, 3]
    with TicketStore(db_url) as store:
        assert store.count() == 3 and db.current_revision(store.engine) == db.head_revision()
