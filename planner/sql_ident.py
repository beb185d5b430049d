"""SQL identifiers in generated snippets: always double-quoted, so ``Order-Svc`` or ``pp monitor`` stay one name."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (embedded double quotes doubled).

    >>> quote_ident('Order-Svc')
    '"Order-Svc"'
    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'
