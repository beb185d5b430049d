"""A one-off script: run by hand, not by the web workers, so not in their budget."""
import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def main() -> None:
    engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=20, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO flags (name) VALUES ('seeded')"))
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
