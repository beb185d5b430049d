"""A test about warm-ups is not a warm-up."""
from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg://app@db/test", pool_size=5, max_overflow=0)


def test_warm_up_leaves_connections_open():
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
