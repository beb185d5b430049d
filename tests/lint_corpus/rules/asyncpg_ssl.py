"""asyncpg-ssl: sslmode= reaches asyncpg.connect() as an unknown keyword."""
from sqlalchemy.ext.asyncio import create_async_engine

DATABASE_URL = "postgresql+asyncpg://app:s3cret@db.internal/app?sslmode=require"

engine = create_async_engine(
    "postgresql+asyncpg://app@db/app",
    connect_args={"sslmode": "require"},
)
fine_asyncpg = create_async_engine("postgresql+asyncpg://app@db/app?ssl=require")
fine_psycopg = create_async_engine("postgresql+psycopg://app@db/app?sslmode=require")
templated = f"postgresql+asyncpg://{USER}@{HOST}/app?sslmode=verify-full&application_name={NAME}"
