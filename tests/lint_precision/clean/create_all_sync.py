"""A synchronous create_all on a synchronous engine, in a tree that also has an async engine named engine."""
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

metadata = MetaData()
engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)


def create_tables(url: str) -> None:
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def create_with(engine: Engine) -> None:
    metadata.create_all(engine)


def on_sync_connection(conn) -> None:
    metadata.create_all(conn)


async def through_run_sync() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
