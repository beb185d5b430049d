"""Warm-ups that open connections one after another but hold them all before returning any: the pool ends
with n open, so none is a single-connection warm-up, and each closes what it opened in a finally."""
from contextlib import AsyncExitStack

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=10)


async def warm_pool(n=10):
    conns = [await engine.connect() for _ in range(n)]
    try:
        for conn in conns:
            await conn.execute(text("SELECT 1"))
    finally:
        for conn in conns:
            await conn.close()


async def prewarm_held(n=10):
    held = []
    try:
        for _ in range(n):
            held.append(await engine.connect())
    finally:
        for conn in held:
            await conn.close()


async def warm_up_with_a_stack(n=10):
    async with AsyncExitStack() as stack:
        for _ in range(n):
            conn = await stack.enter_async_context(engine.connect())
            await conn.execute(text("SELECT 1"))
