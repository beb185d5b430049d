"""The lifespan that calls init_db() once per process."""
from contextlib import asynccontextmanager

from fastapi import FastAPI

from clean.split.db import init_db, routed


@asynccontextmanager
async def lifespan(app: FastAPI):
    init_db("postgresql+psycopg://app@db/app")
    yield


app = FastAPI(lifespan=lifespan)


async def get_session():
    async with routed() as session:
        yield session
