"""Test engines: a literal sqlite URL (no sync-driver finding) and a big test pool, not counted in production."""
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture
def sqlite_engine():
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


@pytest.fixture
async def pg_engine():
    engine = create_async_engine("postgresql+asyncpg://postgres@localhost/test", pool_size=50, max_overflow=50)
    yield engine
    await engine.dispose()
