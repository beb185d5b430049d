"""A factory class defined in one module..."""
from sqlalchemy.ext.asyncio import async_sessionmaker


class RoutingSessionMaker(async_sessionmaker):
    """Picks the primary or the replica per statement."""
