"""Binds inside quoted literals, also when the SQL is appended with += in a route."""
from fastapi import FastAPI
from sqlalchemy import text

app = FastAPI()


@app.get("/stats")
async def stats(db, days: int = 7, status: str | None = None):
    query = "SELECT count(*) FROM orders WHERE true"
    if status:
        query += " AND status = :status"
    query += " AND created_at > now() - INTERVAL ':days days'"  # expect: bind-in-literal
    return (await db.execute(text(query), {"days": days, "status": status})).scalar()


async def typed(db, limit: int):
    return (await db.execute(text("SELECT id FROM orders LIMIT :limit::int"), {"limit": limit})).all()  # expect: bind-in-literal
