"""CLI commands run once per invocation: typer and click commands, and the coroutine they hand to asyncio.run."""
import asyncio

import click
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

app = typer.Typer()


@app.command()
def seed(url: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO flags (name) VALUES ('seeded')"))

    asyncio.run(run())


@click.command()
@click.argument("url")
def check(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        click.echo(conn.execute(text("SELECT 1")).scalar())


async def async_main(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def main() -> None:
    asyncio.run(async_main("postgresql+asyncpg://app@db/app"))
