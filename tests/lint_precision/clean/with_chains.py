"""Connections opened by a with statement through a method chain, and sessions handed to the request's owner."""
from fastapi import FastAPI, Request
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

sync_engine = create_engine("postgresql+psycopg://app@db/app", pool_size=2, max_overflow=0)
engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)
SessionLocal = async_sessionmaker(engine)
app = FastAPI()


def vacuum() -> None:
    with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE orders"))


@app.middleware("http")
async def db_session(request: Request, call_next):
    session = SessionLocal()
    request.state.db = session
    try:
        return await call_next(request)
    finally:
        await session.close()


@app.middleware("http")
async def db_session_direct(request: Request, call_next):
    request.state.reporting = SessionLocal()
    response = await call_next(request)
    await request.state.reporting.close()
    return response
