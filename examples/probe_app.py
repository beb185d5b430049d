"""A FastAPI service with the pool probe mounted: ``/probe/metrics`` (Prometheus) and ``/probe/json``.

Run it from the repository root, several workers behind one port::

    export DATABASE_URL=postgresql+asyncpg://app@127.0.0.1:5432/app
    export POOL_PROBE_DIR=$(mktemp -d)          # shared by the workers: every scrape shows all of them
    uvicorn --app-dir examples probe_app:app --workers 4 --port 8000
    curl -s localhost:8000/probe/json           # or scrape localhost:8000/probe/metrics with Prometheus

``GET /hold?ms=N`` checks out a connection and holds it N ms on the server (a stand-in for a request's work).
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # planner/, when run from examples/

from planner.probe import ProbeApp, instrument

SERVICE = os.environ.get("SERVICE_NAME", "orders")
engine = create_async_engine(
    os.environ["DATABASE_URL"],
    pool_size=int(os.environ.get("POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("MAX_OVERFLOW", "5")),
    pool_timeout=float(os.environ.get("POOL_TIMEOUT", "10")),
    pool_pre_ping=True,
    connect_args={"server_settings": {"application_name": SERVICE}},  # the dashboard joins on this name
)
instrument(engine, service=SERVICE)  # every worker process imports this module: one probe per process


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.mount("/probe", ProbeApp())


@app.get("/hold")
async def hold(ms: float = 0.0) -> dict[str, int]:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_catalog.pg_sleep(:s)"), {"s": max(0.0, ms) / 1000})
    return {"pid": os.getpid()}
