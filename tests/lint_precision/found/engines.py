"""Engine settings that are wrong whatever the server: no ceiling, sslmode for asyncpg; and too big a pool."""
from sqlalchemy.ext.asyncio import create_async_engine

unbounded = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=-1)  # expect: unbounded-overflow
tls = create_async_engine("postgresql+asyncpg://app@db/app?sslmode=require", pool_size=2, max_overflow=0)  # expect: asyncpg-ssl
