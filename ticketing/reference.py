"""Reference data in the store: the company directory, knowledge-base articles and the
departments tickets are dispatched to (loaded by `hotline init`; TicketStore inherits it)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from ticketing.models import Company, Department, KbArticle
from ticketing.store_base import StoreBase


def ensure_department(session: Session, name: str, district: str | None) -> None:
    """Add the department `name` unless it is known (a dispatch names one the table lacks)."""
    if session.exec(select(Department).where(Department.name == name)).first() is None:
        kind = name[len(district):] if district and name.startswith(district) else name
        try:  # in a savepoint: another transaction may add the same department at the same moment
            with session.begin_nested():
                session.add(Department(name=name, kind=kind,
                                       district=district if district and name.startswith(district) else None))
        except IntegrityError:
            pass


class ReferenceData(StoreBase):
    def init_reference_data(self, companies_path: str | Path | None = None,
                            kb_path: str | Path | None = None) -> dict[str, int]:
        """Load (or refresh) the company directory, KB articles and district departments."""
        from config import Settings

        settings = Settings()
        companies_path = Path(companies_path or settings.companies_path)
        kb_path = Path(kb_path or settings.kb_path)
        with open(companies_path, encoding="utf-8", newline="") as fh:
            companies = [row for row in csv.DictReader(fh) if row.get("credit_code")]
        articles = []
        with open(kb_path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        articles.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{kb_path}:{n}: not JSON ({exc})") from exc
        districts = sorted({row["district"] for row in companies if row.get("district")})
        with self.session() as session, session.begin():
            for row in companies:
                session.merge(Company(**{k: (row.get(k) or None) for k in
                                         ("credit_code", "name", "short_name", "district", "address", "industry")}))
            for art in articles:
                session.merge(KbArticle(id=art["id"], title=art["title"], keywords=art.get("keywords"),
                                        questions=art.get("questions"), answer=art["answer"],
                                        department=art.get("department"), updated=art.get("updated"),
                                        demo=bool(art.get("demo"))))
            names = set()
            for cat in self.taxonomy["categories"]:
                for template in (cat["department"], cat.get("co_handler")):
                    if not template or "{street}" in template:
                        continue
                    for district in (districts if "{district}" in template else [None]):
                        names.add((template.replace("{district}", district or ""), district))
            for name, district in sorted(names):
                ensure_department(session, name, district)
        with self.session() as session:
            n_dept = session.exec(select(func.count()).select_from(Department)).one()
        return {"companies": len(companies), "kb_articles": len(articles), "departments": n_dept}

    def departments(self) -> list[dict[str, Any]]:
        with self.session() as session:
            return [d.model_dump() for d in session.exec(select(Department).order_by(Department.name)).all()]
