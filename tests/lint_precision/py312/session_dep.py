"""3.12 type aliases for FastAPI dependencies, with a correct session dependency: nothing to report."""
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)
Sessions = async_sessionmaker(engine)


async def get_db():
    async with Sessions() as session:
        yield session


type SessionDep = Annotated[AsyncSession, Depends(get_db)]


def first[T](items: list[T]) -> T:
    return items[0]
