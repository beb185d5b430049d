"""Sessions and connections opened by hand: an exception before close() leaves the connection checked out."""
from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)
make_session = async_sessionmaker(engine)
app = FastAPI()


async def get_db():
    session = make_session()  # expect: session-without-context
    yield session
    await session.close()


@app.get("/ping")
async def ping(db: AsyncSession = Depends(get_db)):
    conn = await engine.connect()  # expect: session-without-context
    await conn.execute(text("SELECT 1"))
    await conn.close()
