"""An engine built inside a route handler: a new pool per request."""
import pandas as pd
from fastapi import FastAPI
from litestar import get
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()


@app.get("/report")
async def report():
    engine = create_async_engine("postgresql+asyncpg://app@db/app")  # expect: engine-per-request
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT 1"))).scalar()


def export(url: str, query: str):
    return pd.read_sql(query, create_async_engine(url))  # expect: engine-per-request


@get("/count")
async def count() -> int:
    engine = create_async_engine("postgresql+asyncpg://app@db/app")  # expect: engine-per-request
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM orders"))).scalar()
