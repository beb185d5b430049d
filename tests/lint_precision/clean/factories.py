"""Session factories: building, wrapping or testing one does not open a session."""
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker as make_sessions

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_size=5, max_overflow=5)


def create_async_sessionmaker(bind) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind, expire_on_commit=False)


class RoutingSessionMaker(async_sessionmaker):
    """A factory that picks the engine per statement."""


class Config:
    def create_session_maker(self):
        return create_async_sessionmaker(engine)


def is_async_session_maker(obj) -> bool:
    return isinstance(obj, async_sessionmaker)


factory = create_async_sessionmaker(engine)
routed = RoutingSessionMaker(bind=engine)
sync_factory = make_sessions(bind=engine.sync_engine)
from_config = Config().create_session_maker()
checked = is_async_session_maker(factory)


async def get_session():
    async with factory() as session:
        yield session
