"""The project already reviewed these and silenced them the way other linters read (S608) or with ours."""
from sqlalchemy import text


async def count(db, table: str) -> int:
    # table comes from the admin page's fixed menu
    return (await db.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608


async def purge(db, table: str) -> None:
    await db.execute(text(f"DELETE FROM {table}"))  # pool-planner: ignore[sql-identifier-building]


async def vacuum(db, table: str) -> None:
    await db.execute(text(f"VACUUM {table}"))  # nosec B608
