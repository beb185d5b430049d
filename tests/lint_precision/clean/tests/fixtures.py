"""Test fixtures: pytest runs the code after yield even when the test fails; test engines are not production's."""
import pytest
import pytest_asyncio
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session


@pytest.fixture
def sqlite_engine():
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


@pytest.fixture
def db(sqlite_engine):
    session = Session(sqlite_engine)
    yield session
    session.close()


@pytest_asyncio.fixture
async def async_db():
    engine = create_async_engine("postgresql+asyncpg://postgres@localhost/test", pool_size=20, max_overflow=20)
    session = AsyncSession(engine)
    yield session
    await session.close()
    await engine.dispose()
