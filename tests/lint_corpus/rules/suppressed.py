"""Silencing: a comment naming the rule on the line, or on the first line of a multi-line statement."""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

TABLE = "orders"

unbounded = create_async_engine("postgresql+asyncpg://app@db/app", max_overflow=-1)  # pool-planner: ignore[unbounded-overflow]


async def count(db):
    return await db.execute(text(f"SELECT count(*) FROM {TABLE}"))  # pool-planner: ignore[sql-string-building]


async def multi_line(db, days):
    result = await db.execute(  # pool-planner: ignore[bind-in-literal]
        text("""
            SELECT count(*) FROM ev
            WHERE created_at > now() - interval ':days days'
        """),
        {"days": days},
    )
    return result


async def wrong_id(db, name):
    return await db.execute(text(f"SELECT * FROM users WHERE name = '{name}'"))  # pool-planner: ignore[bind-in-literal]


async def typo(db, name):
    return await db.execute(text(f"SELECT * FROM users WHERE name = '{name}'"))  # pool-planner: ignore[sql-string-bulding]
