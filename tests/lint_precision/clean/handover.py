"""Engines handed to what keeps them, and sessions whose transaction block hands the connection back."""
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

_engines: dict = {}
SessionLocal = sessionmaker()


class Database:
    def __init__(self, engine):
        self.engine = engine


def engine_for(url: str):
    return _engines.setdefault(url, create_engine(url))


def database(url: str) -> Database:
    return Database(create_engine(url))


class Registry:
    def open(self, url: str) -> None:
        self.db = Database(engine=create_engine(url))


def archive(order_id: int) -> None:
    session = SessionLocal()
    with session.begin():
        session.execute(text("UPDATE orders SET archived = true WHERE id = :id"), {"id": order_id})
