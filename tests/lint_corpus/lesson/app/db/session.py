from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker, AsyncSession
from app.core.config import settings

engine = create_async_engine(
    settings.DATABASE_URL,
    echo=False, # Disable SQL logging in production
    pool_size=20, # Connections kept open (per worker process)
    max_overflow=10, # Additional connections beyond pool_size
    pool_timeout=30, # Seconds to wait for a connection from pool
    pool_recycle=1800, # Recycle connections every 30 minutes
    pool_pre_ping=True, # Test connection before returning from pool
)
