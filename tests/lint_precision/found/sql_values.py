"""Values put into SQL text, directly or step by step in a route."""
from fastapi import FastAPI
from sqlalchemy import text

app = FastAPI()


@app.get("/users")
async def users(db, name: str):
    return (await db.execute(text(f"SELECT id FROM users WHERE name = '{name}'"))).all()  # expect: sql-string-building


@app.get("/orders")
async def orders(db, status: str | None = None, limit: str = "10"):
    query = "SELECT id FROM orders WHERE true"
    if status:
        query += f" AND status = '{status}'"
    else:
        query += " AND status <> 'archived'"
    query += " LIMIT " + limit
    return (await db.execute(text(query))).all()  # expect: sql-string-building


@app.get("/recent")
async def recent(db, days: str):
    query = "SELECT count(*) FROM events WHERE at > now() - INTERVAL ':days days'"
    query = query.replace(":days", days)
    return (await db.execute(text(query))).scalar()  # expect: sql-string-building


@app.get("/search")
async def search(db, term: str):
    sql = "SELECT id FROM docs WHERE title ILIKE '%{}%'".format(term)
    return (await db.execute(text(sql))).all()  # expect: sql-string-building


async def by_id(cursor, user_id):
    await cursor.execute("SELECT * FROM users WHERE id = %s" % user_id)  # expect: sql-string-building
