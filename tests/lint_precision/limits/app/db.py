"""A pool that does not fit 100 connections with 4 workers: 4 x 20 = 80 fits, but 4 x (20 + 10) = 120 > 97."""
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=20, max_overflow=10)  # expect: overflow-exceeds-budget, too-many-connections
