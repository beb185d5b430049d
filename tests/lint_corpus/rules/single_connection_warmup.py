"""single-connection-warmup: warm-ups that check out one connection at a time."""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=10)


async def warm_up(n=10):
    for _ in range(n):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


async def prewarm_once():
    conn = await engine.connect()
    try:
        await conn.execute(text("SELECT 1"))
    finally:
        await conn.close()
