"""A URL with sslmode= that the code converts for asyncpg before creating the engine."""
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DATABASE_URL = "postgresql+asyncpg://app@db/app?sslmode=require"


def engine_for(raw: str):
    url = make_url(raw)
    query = dict(url.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return create_async_engine(url.set(query=query), pool_size=5, max_overflow=5)
