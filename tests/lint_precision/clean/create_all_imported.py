"""create_all with a parameter named like the async engine elsewhere: the parameter is what counts."""
from sqlalchemy import MetaData

metadata = MetaData()


def reset(engine):
    metadata.drop_all(engine)
    metadata.create_all(engine)
