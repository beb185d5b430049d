"""Correct code: the lesson's patterns done right. The linter must report nothing here."""
import asyncio
import logging
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import Depends, FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.models import Base, Order

log = logging.getLogger(__name__)

engine = create_async_engine(
    "postgresql+asyncpg://app@db.internal/app?ssl=require",
    pool_size=10,
    max_overflow=5,
    pool_timeout=10,
    pool_recycle=1800,
    pool_pre_ping=True,
    connect_args={"server_settings": {"application_name": "orders-api"}},
)
SessionFactory = async_sessionmaker(engine, expire_on_commit=False)

DAILY_REVENUE = """
    SELECT DATE(created_at) AS day, SUM(total_amount) AS revenue
    FROM orders
    WHERE created_at >= NOW() - make_interval(days => :days)
      AND status = 'completed'
      AND created_at::date <> '2024-01-01'::date
    GROUP BY DATE(created_at)
"""


async def prewarm(n: int | None = None) -> None:
    """Check out pool_size connections at once so each worker starts warm."""
    n = min(n or engine.pool.size(), engine.pool.size())
    conns = await asyncio.gather(*(engine.connect() for _ in range(n)))
    try:
        await asyncio.gather(*(c.execute(text("SELECT 1")) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await prewarm()
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_db():
    async with SessionFactory() as session:
        yield session


async def get_db_manually():
    session = SessionFactory()
    try:
        yield session
    finally:
        await session.close()


@app.get("/revenue")
async def revenue(days: int = 30, db: AsyncSession = Depends(get_db)):
    log.info(f"revenue for {days} days")
    result = await db.execute(text(DAILY_REVENUE), {"days": days})
    return [dict(row._mapping) for row in result]


@app.get("/recent")
async def recent(hours: int = 1, db: AsyncSession = Depends(get_db_manually)):
    stmt = text("""
        SELECT count(*) FROM orders
        WHERE created_at > NOW() - :hours * INTERVAL '1 hour'
          AND opened_at::time > '10:30'
          AND note <> 'ratio 1\\:2'
          AND id = CAST(:id AS int)  -- not ':id::int'
    """)
    return (await db.execute(stmt, {"hours": hours, "id": 1})).scalar()


@app.get("/orders/{order_id}")
async def order(order_id: int, db: AsyncSession = Depends(get_db)):
    return (await db.execute(select(Order).where(Order.id == order_id))).scalar_one()


@lru_cache
def reporting_engine():
    return create_async_engine("postgresql+asyncpg://reporting@replica.internal/app", pool_size=2, max_overflow=0)


async def report():
    async with reporting_engine().connect() as conn:
        return (await conn.execute(text("SELECT 1"))).scalar()
