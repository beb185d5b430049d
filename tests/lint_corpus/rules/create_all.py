"""create-all-without-run-sync: the synchronous MetaData.create_all called on async engines/connections."""
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import Base

async_engine = create_async_engine("postgresql+asyncpg://app@db/app")
sync_engine = create_engine("postgresql+psycopg://app@db/app")


async def on_engine():
    Base.metadata.create_all(async_engine)


async def on_connection():
    async with async_engine.begin() as conn:
        Base.metadata.create_all(conn)


async def awaited(engine):
    await Base.metadata.drop_all(bind=engine)


def sync_is_fine():
    Base.metadata.create_all(sync_engine)


async def run_sync_is_fine():
    async with async_engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
