"""Identifiers checked against a fixed set, a Literal parameter, and IN lists made of bind placeholders."""
from typing import Literal

from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session

TABLES = frozenset({"orders", "users"})


async def count(db, table: str) -> int:
    if table not in TABLES:
        raise ValueError(f"unknown table {table}")
    return (await db.execute(text(f"SELECT count(*) FROM {table}"))).scalar()


async def ordered(db, sort: Literal["name", "created_at"] = "name"):
    return (await db.execute(text(f"SELECT id FROM users ORDER BY {sort}"))).all()


async def by_ids(db, ids: list[int]):
    placeholders = ", ".join(f":id{i}" for i in range(len(ids)))
    params = {f"id{i}": v for i, v in enumerate(ids)}
    return (await db.execute(text(f"SELECT * FROM users WHERE id IN ({placeholders})"), params)).all()


def upgrade():
    bind = op.get_bind()
    session = Session(bind=bind)
    session.execute(text("UPDATE users SET active = true"))


async def refresh(db) -> None:
    for view in ("daily_sales", "weekly_sales"):
        await db.execute(text(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}"))
