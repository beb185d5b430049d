"""A warm-up that checks out one connection at a time leaves one open connection."""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=2, max_overflow=0)


async def warm_up():
    for _ in range(2):
        async with engine.connect() as conn:  # expect: single-connection-warmup
            await conn.execute(text("SELECT 1"))
