from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker

primary_engine = create_async_engine(settings.PRIMARY_DB_URL, pool_size=15)
replica_engine = create_async_engine(settings.REPLICA_DB_URL, pool_size=10)

PrimarySession = async_sessionmaker(primary_engine, expire_on_commit=False)
ReplicaSession = async_sessionmaker(replica_engine, expire_on_commit=False)

async def get_primary_db():
    async with PrimarySession() as s:
        yield s

async def get_replica_db():
    async with ReplicaSession() as s:
        yield s
