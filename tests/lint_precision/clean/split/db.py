"""...constructed in another; an init function called from the lifespan in a third; a factory built by a
library class outside the tree."""
from advanced.sessions import ReadReplicaSessionMaker
from sqlalchemy import MetaData, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from clean.split.routing import RoutingSessionMaker

metadata = MetaData()
engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)
routed = RoutingSessionMaker(engine, expire_on_commit=False)
replicas = ReadReplicaSessionMaker(bind=engine)


def init_db(url: str) -> None:
    sync = create_engine(url)
    metadata.create_all(sync)
