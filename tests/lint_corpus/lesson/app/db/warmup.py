from sqlalchemy import text
from app.db.session import engine, AsyncSessionFactory

async def warmup_pool() -> None:
    """Pre-populate the connection pool at startup."""
    tasks = []
    async with AsyncSessionFactory() as session:
        await session.execute(text("SELECT 1"))
