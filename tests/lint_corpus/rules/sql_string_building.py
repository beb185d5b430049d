"""sql-string-building: SQL assembled from values and passed to text()/execute()/exec_driver_sql()."""
from sqlalchemy import text


async def by_fstring(db, user_id):
    return await db.execute(text(f"SELECT * FROM users WHERE id = {user_id}"))


async def by_percent(conn, name):
    return await conn.exec_driver_sql("SELECT * FROM users WHERE name = '%s'" % name)


async def by_plus(db, order):
    return await db.execute(text("SELECT * FROM users ORDER BY " + order))


async def by_format(db, table):
    return await db.execute(text("SELECT count(*) FROM {}".format(table)))


async def via_variable(db, status):
    query = f"SELECT * FROM orders WHERE status = '{status}'"
    return await db.execute(text(query))


async def via_statement(db, status):
    stmt = text(f"SELECT * FROM orders WHERE status = '{status}'")
    return await db.execute(stmt)


async def constants_only(db):
    return await db.execute(text("SELECT 1 " + "FROM orders"))


def streamlit_text(st, n):
    st.text(f"{n} rows")


ORDERS = "orders"


async def from_constant(db):
    return await db.execute(text(f"SELECT count(*) FROM {ORDERS}"))
