"""`store` runs every test on SQLite (a fresh file) and on PostgreSQL (a fresh schema per test,
dropped afterwards, so parallel runs on one server do not meet). PostgreSQL needs
HOTLINE_TEST_POSTGRES_URL, e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from ticketing import TicketStore

PG_ENV = "HOTLINE_TEST_POSTGRES_URL"
LABELS = Path(__file__).resolve().parents[1] / "data" / "calls" / "labels.jsonl"


def _with_search_path(url: str, schema: str) -> str:
    parsed = sa.engine.make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test)")
    return url


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    schema = f"hotline_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_search_path(pg_base_url, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tickets.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[TicketStore]:
    with TicketStore(db_url) as s:
        yield s


@pytest.fixture(scope="session")
def labelled_drafts() -> dict[str, dict]:
    """The test calls' labels as drafts (the fields the pipeline would fill), by call id."""
    drafts = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        label["call_id"] = label.pop("id")
        label["kb_ids"] = [label.pop("kb_id")] if label.get("kb_id") else []
        drafts[label["call_id"]] = label
    return drafts


def _make_draft(call_id: str, **fields) -> dict:
    draft = {"call_id": call_id, "transcript": "路灯不亮", "appeal_type": "投诉", "category": "streetlight",
             "urgency": "normal", "district": "宝山区", "street": "友谊路街道", "road": "牡丹江路",
             "address": "宝山区牡丹江路密山路口", "department": None, "summary": "路灯不亮", "phone": None}
    draft.update(fields)
    return draft


@pytest.fixture
def make_draft():
    """make_draft(call_id, **fields): a small draft (a streetlight complaint in 宝山区); fields override."""
    return _make_draft
