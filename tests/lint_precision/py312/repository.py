"""Python 3.12+ syntax (type statements, PEP 695 generics): parsed, and checked like any other module."""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

type Row = tuple[int, str]


class Repository[T]:
    def __init__(self, session: AsyncSession, table: str) -> None:
        self.session = session
        self.table = table

    async def by_name[K: str](self, name: K) -> list[Row]:
        rows = await self.session.execute(text(f"SELECT id, name FROM users WHERE name = '{name}'"))  # expect: sql-string-building
        return list(rows)

    async def ok(self, name: str) -> list[Row]:
        rows = await self.session.execute(text("SELECT id, name FROM users WHERE name = :n"), {"n": name})
        return list(rows)
