"""Dependencies that build one engine per process: cached, or created lazily and kept."""
from functools import lru_cache

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

URL = "postgresql+asyncpg://app@db/app"
app = FastAPI()
_engine: AsyncEngine | None = None


@lru_cache
def get_engine() -> AsyncEngine:
    return create_async_engine(URL, pool_size=5, max_overflow=5)


def lazy_engine() -> AsyncEngine:
    global _engine
    if _engine is None:
        _engine = create_async_engine(URL, pool_size=5, max_overflow=5)
    return _engine


def state_engine(request: Request) -> AsyncEngine:
    if not hasattr(request.app.state, "engine"):
        request.app.state.engine = create_async_engine(URL, pool_size=5, max_overflow=5)
    return request.app.state.engine


@app.get("/")
async def root(a=Depends(get_engine), b=Depends(lazy_engine), c=Depends(state_engine)):
    return {"ok": True}
