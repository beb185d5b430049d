"""bind-in-literal: binds SQLAlchemy sees inside quotes, and :name::type casts that are not binds."""
from sqlalchemy import text
import sqlalchemy as sa

HOURLY = text("SELECT count(*) FROM ev WHERE created_at > now() - interval ':hours hours'")

SEARCH = "SELECT * FROM users WHERE name LIKE '%:q%'"


async def recent(db, days):
    return await db.execute(sa.text("SELECT * FROM ev WHERE created_at > now() - INTERVAL ':days days'"), {"days": days})


async def search(db, q):
    return await db.execute(text(SEARCH), {"q": q})


async def typed(db, limit):
    return await db.execute(text("SELECT * FROM ev LIMIT :limit::int"), {"limit": limit})


async def both(db, days):
    stmt = text("SELECT :days AS asked, now() - interval ':days days' AS since")
    return await db.execute(stmt, {"days": days})


async def dollar(db, v):
    return await db.execute(text("SELECT $body$ :v $body$"), {"v": v})
