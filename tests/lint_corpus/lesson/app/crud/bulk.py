from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.dialects.postgresql import insert

async def upsert_users(db: AsyncSession, users: list[dict]) -> None:
    stmt = insert(User).values(users)
    stmt = stmt.on_conflict_do_update(
        index_elements=["email"],
        set_={"username": stmt.excluded.username, "updated_at": func.now()},
    )
    await db.execute(stmt)
