"""engine-per-request: engines built inside code that runs per request (and the patterns that are fine)."""
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

URL = "postgresql+asyncpg://app@db/app"
app = FastAPI()


@app.get("/users/{user_id}")
async def read_user(user_id: int):
    engine = create_async_engine(URL)
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT :id"), {"id": user_id})).scalar()


async def get_session():
    engine = create_async_engine(URL)
    async with async_sessionmaker(engine)() as session:
        yield session


@app.get("/orders")
async def orders(session=Depends(get_session)):
    return await count_orders()


async def count_orders():
    engine = create_async_engine(URL)
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM orders"))).scalar()


async def report():
    engine = create_async_engine(URL)
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT 1"))).scalar()


@lru_cache
def cached_engine():
    return create_async_engine(URL)


def make_engine(url):
    return create_async_engine(url, pool_size=5)


async def one_off_script():
    engine = create_async_engine(URL)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


@asynccontextmanager
async def lifespan(app):
    app.state.engine = create_async_engine(URL)
    yield
    await app.state.engine.dispose()


def wrapped_factory(url):
    eng = create_async_engine(url)
    return cast(AsyncEngine, eng)


def registered_cleanup(stack, url):
    eng = create_async_engine(url)
    stack.callback(eng.dispose)


def test_builds_its_own_engine():
    engine = create_async_engine(URL)
