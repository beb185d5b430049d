"""Engines that are not PostgreSQL: not in the server's budget, and no crash on a dialect not installed."""
from sqlalchemy import create_engine

analytics = create_engine("duckdb:///:memory:")
cache = create_engine("sqlite:///cache.db")
