"""An engine built in a setup function and kept through the global session factory it feeds."""
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

Session = None


def configure(url: str) -> None:
    global Session
    engine = create_async_engine(url, pool_size=5, max_overflow=5)
    Session = async_sessionmaker(engine)
