"""The exact words PostgreSQL refuses a connection with when its slots run out (SQLSTATE 53300).

Quoted from the servers themselves: ``tests/test_refusal_texts.py`` starts a PostgreSQL 15 (Debian's
binaries) and a PostgreSQL 16 (pgserver), fills their slots as an ordinary role, a
``pg_use_reserved_connections`` member and a superuser, and compares every refusal with these strings.
PostgreSQL 16 added ``reserved_connections`` and reworded the superuser refusal (src/backend/utils/init/
postinit.c, InitPostgres); before 16 there is one reserved-slot text.
"""

from __future__ import annotations

TOO_MANY_CLIENTS = "sorry, too many clients already"
"""Every slot is taken (all versions): nobody gets in, superusers included."""
SUPERUSER_RESERVED_PG16 = "remaining connection slots are reserved for roles with the SUPERUSER attribute"
"""PostgreSQL 16+: only superuser_reserved_connections slots are left."""
RESERVED_PG16 = (
    'remaining connection slots are reserved for roles with privileges of the "pg_use_reserved_connections" role'
)
"""PostgreSQL 16+: only reserved_connections (and superuser) slots are left; the role lacks the privilege."""
SUPERUSER_RESERVED_PG15 = "remaining connection slots are reserved for non-replication superuser connections"
"""PostgreSQL 12-15: only superuser_reserved_connections slots are left."""


def first_refusal(major_version: int, superuser_reserved: int, reserved: int = 0) -> str:
    """What an ordinary application role (no superuser, no pg_use_reserved_connections) is refused with first
    when it fills the slots it may use."""
    if major_version >= 16:
        if reserved > 0:
            return RESERVED_PG16
        return SUPERUSER_RESERVED_PG16 if superuser_reserved > 0 else TOO_MANY_CLIENTS
    return SUPERUSER_RESERVED_PG15 if superuser_reserved > 0 else TOO_MANY_CLIENTS


__all__ = [
    "RESERVED_PG16",
    "SUPERUSER_RESERVED_PG15",
    "SUPERUSER_RESERVED_PG16",
    "TOO_MANY_CLIENTS",
    "first_refusal",
]
