"""The project already reviewed these and silenced them the way other linters read (S608) or with ours."""
from sqlalchemy import text

ALLOWED = {"orders", "users"}


async def count(db, table: str) -> int:
    if table not in ALLOWED:
        raise ValueError(table)
    return (await db.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608


async def purge(db, table: str) -> None:
    if table not in ALLOWED:
        raise ValueError(table)
    await db.execute(text(f"DELETE FROM {table}"))  # pool-planner: ignore[sql-identifier-building]
