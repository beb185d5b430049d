from contextlib import asynccontextmanager
from app.db.warmup import warmup_pool
from fastapi import FastAPI

@asynccontextmanager
async def lifespan(app: FastAPI):
    await warmup_pool()
    yield

app = FastAPI(lifespan=lifespan)
