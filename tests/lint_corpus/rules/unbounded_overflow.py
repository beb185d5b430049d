"""unbounded-overflow: pools without a ceiling."""
from sqlalchemy.ext.asyncio import create_async_engine

NO_LIMIT = -1

unbounded = create_async_engine("postgresql+asyncpg://app@db/app", max_overflow=-1)
no_size = create_async_engine(
    "postgresql+asyncpg://app@db/app",
    pool_size=0,
)
via_constant = create_async_engine("postgresql+asyncpg://app@db/app", max_overflow=NO_LIMIT)
bounded = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=0)
