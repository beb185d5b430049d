"""Python 3.12 f-strings that reuse their own quotes inside the braces (PEP 701): read and checked."""
from sqlalchemy import text


async def by_key(db, row: dict):
    return (await db.execute(text(f"SELECT * FROM users WHERE id = {row["id"]}"))).all()  # expect: sql-string-building


async def label(rows: list[str]) -> str:
    return f"rows: {", ".join(rows)}"
