"""The sampler's SQL, one statement per ``.sql`` file beside this module, loaded once.

Keeping SQL in files keeps it reviewable and greppable, and the leading ``--`` comment of each file says
what it returns and why. Parameters are always bound (``:name``), never formatted in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

HERE = Path(__file__).parent


@cache
def load(name: str) -> str:
    """The text of ``<name>.sql``.

    >>> load("settings").lstrip().startswith("--")
    True
    """
    return (HERE / f"{name}.sql").read_text(encoding="utf-8")


@cache
def statement(name: str) -> TextClause:
    """``<name>.sql`` as a SQLAlchemy ``text()`` with its bound parameters."""
    return text(load(name))
