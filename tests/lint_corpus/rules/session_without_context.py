"""session-without-context: sessions and connections opened by hand, not closed on exception."""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine)


async def manual_session():
    session = SessionLocal()
    await session.execute(text("SELECT 1"))
    await session.close()


async def manual_connection():
    conn = await engine.connect()
    await conn.execute(text("SELECT 1"))
    await conn.close()


async def get_db():
    db = AsyncSession(engine)
    yield db
    await db.close()


async def one_shot():
    return await SessionLocal().execute(text("SELECT 1"))


async def closed_in_finally():
    session = SessionLocal()
    try:
        await session.execute(text("SELECT 1"))
    finally:
        await session.close()


async def context_managed():
    async with SessionLocal() as session:
        await session.execute(text("SELECT 1"))
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def exit_stack(stack):
    session = await stack.enter_async_context(SessionLocal())
    return session


def factory():
    return SessionLocal()


def probe():
    engine.sync_engine.connect().close()
