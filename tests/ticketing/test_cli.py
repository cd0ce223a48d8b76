"""`hotline tickets ...` and `hotline db upgrade` end to end through cli.main."""
from __future__ import annotations

import json
from datetime import datetime

from cli import main
from ticketing.db import head_revision

HEAD = head_revision()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_db_upgrade_on_an_empty_database(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, _ = run(capsys, "db", "upgrade", "--db", url, "--json")
    assert code == 0 and json.loads(out)["from"] is None and json.loads(out)["to"] == HEAD
    code, out, _ = run(capsys, "db", "upgrade", "--db", url)
    assert code == 0 and out.strip().endswith(f"{HEAD} -> {HEAD}")


def test_ticket_commands(capsys, store, labelled_drafts):
    db = store.url
    ids = {cid: store.upsert_draft(d, now=datetime(2026, 9, 30, 9)) for cid, d in labelled_drafts.items()}
    manhole, streetlight, consult = ids["dev-005"], ids["dev-002"], ids["dev-021"]

    code, out, _ = run(capsys, "tickets", "list", "--db", db, "--json")
    assert code == 0 and {t["id"] for t in json.loads(out)} == set(ids.values())
    code, out, _ = run(capsys, "tickets", "submit", str(manhole), "--db", db, "--actor", "op1")
    assert code == 0 and "submitted" in out
    code, out, _ = run(capsys, "tickets", "dispatch", str(manhole), "--db", db, "--json", "--now", "2026-09-30T10:00")
    shown = json.loads(out)
    assert shown["state"] == "dispatched" and shown["resolve_by"] == "2026-10-01T10:00:00"
    assert [e["action"] for e in shown["events"]] == ["draft", "submit", "dispatch"]

    code, _, err = run(capsys, "tickets", "transition", str(streetlight), "resolved", "--db", db)
    assert code == 1 and err.strip() == "error: cannot go from draft to resolved; allowed: submitted, merged"

    code, out, _ = run(capsys, "tickets", "list", "--overdue", "--now", "2026-10-02T00:00", "--db", db, "--json")
    assert [(t["id"], t["overdue"]) for t in json.loads(out)] == [(manhole, ["response", "resolve"])]
    code, out, _ = run(capsys, "tickets", "extend", str(manhole), "--reason", "需道路开挖", "--db", db, "--json")
    assert json.loads(out)["extended"] is True
    code, _, err = run(capsys, "tickets", "extend", str(manhole), "--reason", "再延", "--db", db)
    assert code == 1 and "second extension is refused" in err

    for state in ("contacted", "resolved"):
        assert run(capsys, "tickets", "transition", str(manhole), state, "--db", db, "--note", "ok")[0] == 0
    code, out, _ = run(capsys, "tickets", "visit", str(manhole), "--satisfaction", "不满意", "--db", db, "--json")
    reopened = json.loads(out)
    assert reopened["state"] == "dispatched" and reopened["warning"] is True and reopened["round"] == 2

    assert run(capsys, "tickets", "submit", str(consult), "--db", db)[0] == 0
    code, out, _ = run(capsys, "tickets", "answer", str(consult), "--db", db, "--json")
    assert json.loads(out)["state"] == "closed"

    code, out, _ = run(capsys, "tickets", "edit", str(streetlight), "district=闵行区", "street=七宝镇", "--db", db, "--json")
    assert json.loads(out)["department"] == "闵行区绿化和市容管理局"
    code, out, _ = run(capsys, "tickets", "merge", str(streetlight), str(manhole), "--db", db, "--json")
    assert json.loads(out)["merged_into"] == manhole
    code, out, _ = run(capsys, "tickets", "related", str(manhole), "--db", db, "--json")
    assert code == 0 and json.loads(out) == []  # the merged one is not a live duplicate
    code, out, _ = run(capsys, "tickets", "show", str(manhole), "--db", db)
    assert code == 0 and "预警工单" in out and "曹杨路" in out
    code, _, err = run(capsys, "tickets", "show", "9999", "--db", db)
    assert code == 1 and "no ticket 9999" in err
