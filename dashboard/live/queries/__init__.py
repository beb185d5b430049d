"""The sampler's SQL, one statement per ``.sql`` file beside this module, loaded once.

Keeping SQL in files keeps it reviewable and greppable, and the leading ``--`` comment of each file says
what it returns and why. Parameters are always bound (``:name``), never formatted in.

Every function, relation and type is schema-qualified (``pg_catalog.now()``, ``pg_catalog.pg_settings``), and
the monitor's session also pins ``search_path`` to ``pg_catalog, pg_temp`` at connect time (``db.MONITOR_SEARCH_PATH``),
which covers operators and the driver's own statements: a database owner who sets ``search_path = public,
pg_catalog`` and creates ``public.now()`` cannot run code as the monitor's role (docs/security.md).
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
def sent_text(name: str) -> str:
    """``<name>.sql`` as sent to the server: without its whole-line ``--`` comments and indentation.

    The server copies the text of every statement it runs into pg_stat_activity, checking it character by
    character, on every execution: the comments of sample_activity.sql cost about 19,000 instructions per
    sample (callgrind), and a DBA reading pg_stat_activity sees the statement, not a page of comments.
    Only lines that are comments as a whole are dropped, so a ``--`` inside a string literal is never touched.

    >>> sent_text("names").startswith("SELECT")
    True
    """
    lines = (line.strip() for line in load(name).splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


@cache
def statement(name: str) -> TextClause:
    """``<name>.sql`` as a SQLAlchemy ``text()`` with its bound parameters (comments dropped: ``sent_text``)."""
    return text(sent_text(name))
