"""create_all on an engine imported from another module of the tree, where it is an async engine."""
from found.create_all_async import engine
from sqlalchemy import MetaData

metadata = MetaData()


async def startup():
    metadata.create_all(engine)  # expect: create-all-without-run-sync
