"""SQL built in steps but with every value bound: only bind names and constant text are concatenated."""
from fastapi import FastAPI
from sqlalchemy import text

app = FastAPI()


@app.get("/orders")
async def orders(db, status: str | None = None, days: int = 7):
    query = "SELECT id FROM orders WHERE created_at > now() - make_interval(days => :days)"
    params = {"days": days}
    if status is not None:
        query += " AND status = :status"
        params["status"] = status
    else:
        query += " AND status <> 'archived'"
    query += " ORDER BY created_at DESC"
    return (await db.execute(text(query), params)).all()


@app.get("/settings")
async def set_timezone(db, tz: str):
    await db.execute(text("SELECT set_config('timezone', :tz, true)"), {"tz": tz})
    await db.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": "jobs", "payload": tz})
