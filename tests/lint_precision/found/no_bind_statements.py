"""SET and NOTIFY take no bind parameters: the value is put into the text (the fix is set_config/pg_notify)."""
from sqlalchemy import text


async def as_tenant(db, tenant_id: str):
    await db.execute(text(f"SET LOCAL app.tenant_id = '{tenant_id}'"))  # expect: sql-string-building


async def notify(db, payload: str):
    await db.execute(text(f"NOTIFY jobs, '{payload}'"))  # expect: sql-string-building


async def as_user(db, user_id: str):
    await db.execute(text("SET LOCAL app.user_id = :uid"), {"uid": user_id})  # expect: bind-in-literal


async def notify_bound(db, payload: str):
    await db.execute(text("NOTIFY jobs, :payload"), {"payload": payload})  # expect: bind-in-literal
