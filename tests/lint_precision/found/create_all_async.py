"""The synchronous create_all handed an async engine or connection."""
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()
engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)


async def init_models():
    metadata.create_all(engine)  # expect: create-all-without-run-sync


async def init_with(engine: AsyncEngine):
    metadata.create_all(engine)  # expect: create-all-without-run-sync


async def init_on_connection():
    async with engine.begin() as conn:
        metadata.create_all(conn)  # expect: create-all-without-run-sync
