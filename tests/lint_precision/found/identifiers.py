"""Identifiers and code-built fragments: cannot be bound, reported below critical with an allow-list fix."""
from sqlalchemy import text


async def count_rows(db, table: str) -> int:
    return (await db.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # expect: sql-identifier-building


async def filtered(db, conditions: list[str], params: dict):
    where = " AND ".join(conditions)
    return (await db.execute(text(f"SELECT id FROM orders WHERE {where}"), params)).all()  # expect: sql-identifier-building


async def grant(db, role: str, schema: str):
    await db.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))  # expect: sql-identifier-building


async def next_id(db, seq: str) -> int:
    return (await db.execute(text(f"SELECT nextval('{seq}')"))).scalar()  # expect: sql-identifier-building


async def tables_of(db, schema: str):
    return (await db.execute(text(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'"))).all()  # expect: sql-identifier-building
