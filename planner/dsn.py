"""Connection URLs: parse with SQLAlchemy's ``make_url``, mask the password, and check per driver.

SQLAlchemy's asyncpg dialect passes every URL query key to ``asyncpg.connect()`` as a string keyword
(docs/facts.md, B), so URLs that look right fail only at the first connect: ``sslmode=`` raises a
TypeError, ``statement_cache_size=`` and ``timeout=`` fail on the string value. These checks catch that
before a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from planner import ids
from planner.model import Finding, InputError, PgBouncer

MASK = "***"
POOLER_PORTS = frozenset({6432, 6543})
"""PgBouncer's default port, and the transaction-mode pooler port of hosted PostgreSQL (Supabase)."""
_POOLER_HOST = re.compile(r"bouncer|pooler|pgpool|odyssey|pgcat|supavisor|pgdog", re.I)

SYNC_DRIVERS = {("postgresql", "psycopg2"), ("postgresql", "pg8000"), ("postgresql", "psycopg2cffi"),
                ("sqlite", "pysqlite"), ("mysql", "pymysql"), ("mysql", "mysqldb")}
# asyncpg URL keys that reach asyncpg.connect() as strings and fail there (docs/facts.md, B), with the fix.
_ASYNCPG_BAD_KEYS = {
    "statement_cache_size": 'connect_args={"statement_cache_size": 0}',
    "timeout": 'connect_args={"timeout": 5}',
    "application_name": 'connect_args={"server_settings": {"application_name": "myapp"}}',
    "connect_timeout": 'connect_args={"timeout": 5}',
}
UUID_NAME_FUNC = 'lambda: f"__asyncpg_{uuid4()}__"'


_MIN_SECRET = 3
"""No run of this many characters of a password survives masking or scrubbing (docs/security.md)."""
_DSN_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")
_URL_PASSWORD = re.compile(r"(?i)(password=).*", re.DOTALL)
_CONNECT_KEYS = (
    "host|hostaddr|port|dbname|user|passfile|channel_binding|connect_timeout|client_encoding|options|"
    "application_name|fallback_application_name|keepalives[a-z_]*|tcp_user_timeout|replication|gssencmode|"
    "sslmode|requiressl|sslcompression|sslcert|sslkey|sslpassword|sslcertmode|sslrootcert|sslcrl|sslcrldir|"
    "sslsni|requirepeer|ssl_min_protocol_version|ssl_max_protocol_version|krbsrvname|gsslib|gssdelegation|"
    "service|target_session_attrs|load_balance_hosts|ssl|direct_tls|prepared_statement_cache_size|"
    "statement_cache_size|timeout|command_timeout|async_fallback"
)
# A query password as typed: up to the next "&<connection parameter>=", since an unencoded "&" may be its own.
_QUERY_PASSWORD = re.compile(rf"(?i)[?&]password=(.*?)(?=&(?:{_CONNECT_KEYS})=|$)", re.DOTALL)


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``: the one masking function of the project.

    Works on anything a user may type: a URL whose password holds unencoded ``@ : / ? # %`` (everything
    from the first ``:`` of the user part to the last ``@`` is masked), ``password=`` in the query (masked to
    the end of the URL, as an unencoded ``&`` may be part of it), a libpq ``key=value`` string, or text that
    parses as nothing. Then ``scrub`` removes any run of 3 or more characters of every password found, so no
    part of the password can survive whatever the parse (``tests/test_masking.py`` checks it by property).
    """
    raw = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    secrets = url_secrets(raw)
    if isinstance(url, URL) and url.password:
        secrets = (*secrets, str(url.password))
    return scrub(_mask_structure(raw), secrets)


def _mask_structure(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    colon, last_at = rest.find(":"), rest.rfind("@")
    if 0 <= colon < last_at:
        rest = f"{rest[: colon + 1]}{MASK}{rest[last_at:]}"
    rest = (_URL_PASSWORD if sep else _DSN_PASSWORD).sub(rf"\g<1>{MASK}", rest)
    return f"{scheme}{sep}{rest}"


def url_secrets(url: str) -> tuple[str, ...]:
    """Every string that may be the password of ``url``, raw and percent-decoded: the userinfo password as
    SQLAlchemy parses it and as the text reads (first ``:`` to last ``@``), ``password=`` query values, and
    libpq ``password=`` values. For ``scrub``-bing driver errors, which may echo what the driver was given."""
    text = str(url)
    found: list[str] = []
    _, sep, rest = text.partition("://")
    rest = rest if sep else text
    colon, last_at = rest.find(":"), rest.rfind("@")
    if 0 <= colon < last_at:
        found.append(rest[colon + 1: last_at])
    try:
        parsed = make_url(text.strip())
        found += [str(parsed.password or "")]
        for key, value in parsed.query.items():
            if "password" in key.lower():
                found += [value] if isinstance(value, str) else list(value)
    except (ArgumentError, ValueError, TypeError):  # unparsable: the textual candidates still apply
        pass
    for match in _QUERY_PASSWORD.finditer(text) if sep else ():
        found.append(match.group(1))
    for match in _DSN_PASSWORD.finditer(text):
        value = match.group(2)
        found.append(value.split("&")[0] if sep else value.strip("'").replace("\\'", "'"))
    found += [unquote(item) for item in found]
    return tuple(dict.fromkeys(item for item in found if len(item) >= _MIN_SECRET))


def mask_in_text(text: str, url: str) -> str:
    """``text`` (a driver's or SQLAlchemy's message) with ``url`` quoted in it masked, in the forms a library
    may quote it (as typed, or re-rendered by SQLAlchemy with its query reordered), then ``scrub``-bed of
    every password of the URL."""
    forms = [url]
    try:
        parsed = make_url(url.strip())
        forms += [parsed.render_as_string(hide_password=False), parsed.render_as_string(hide_password=True)]
    except (ArgumentError, ValueError, TypeError):
        pass
    for form in sorted({f for f in forms if len(f) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(form, mask_url(url))
    return scrub(text, url_secrets(url))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every run of 3 or more characters of any secret replaced by ``***``.

    Covers the password itself, its parts, and its percent-decoded form wherever it appears (a driver error,
    a host name that swallowed half of an unencoded password). Over-masks a word that shares 3 characters
    with a password: on purpose.
    """
    grams = {secret[i: i + _MIN_SECRET] for secret in secrets for i in range(len(secret) - _MIN_SECRET + 1)}
    if not grams:
        return text
    for _ in range(4):  # a replacement can form a new match with its neighbours ("*" in a password)
        covered = bytearray(len(text))
        for i in range(len(text) - _MIN_SECRET + 1):
            if text[i: i + _MIN_SECRET] in grams:
                covered[i: i + _MIN_SECRET] = b"\x01" * _MIN_SECRET
        if not any(covered):
            return text
        text = re.sub("\x01+", MASK, "".join("\x01" if c else ch for ch, c in zip(text, covered, strict=True)))
    return text


def parse_url(url: str) -> URL:
    """``make_url(url)``, with a bad URL reported as ``InputError('url', ...)`` quoting it masked.

    Parsed once per URL string (memoised: a ``URL`` is immutable), however many rules and snippets read it."""
    if not isinstance(url, str) or not url.strip():
        raise InputError("url", f"must be a connection URL such as postgresql+asyncpg://user@host/db, got {url!r}")
    return _parse(url)


@dataclass(frozen=True, slots=True)
class UrlFacts:
    """What the rules and snippets read from an engine's URL, typed: backend, driver, host, port, database, the
    query keys, whether it asks for SSL and whether it looks like a connection pooler (PgBouncer's port)."""

    backend: str
    driver: str
    host: str | None
    port: int | None
    database: str | None
    query_keys: frozenset[str]
    ssl: bool
    pooler: bool


@lru_cache(maxsize=1024)
def url_facts(url: str) -> UrlFacts:
    """The ``UrlFacts`` of a URL, parsed once (memoised per string); bad URLs raise ``InputError('url', ...)``."""
    parsed = parse_url(url)
    keys = frozenset(parsed.query)
    return UrlFacts(parsed.get_backend_name(), parsed.get_driver_name(), parsed.host, parsed.port, parsed.database,
                    keys, bool(keys & {"ssl", "sslmode"}), looks_like_pooler(parsed))


@lru_cache(maxsize=1024)
def _parse(url: str) -> URL:
    try:
        parsed = make_url(url.strip())
        parsed.port  # noqa: B018 - a non-numeric port raises here, not in make_url
    except (ArgumentError, ValueError) as err:
        reason = "the port must be a number" if "int()" in str(err) else "SQLAlchemy cannot parse it"
        raise InputError("url", f"{reason}: {mask_url(url)}") from None
    return parsed


def backend_and_driver(url: URL) -> tuple[str, str]:
    """('postgresql', 'asyncpg'); a URL naming no driver gets SQLAlchemy's default for the backend."""
    return url.get_backend_name(), url.get_driver_name()


def looks_like_pooler(url: URL) -> bool:
    """Port 6432/6543 or a host named like a connection pooler (pgbouncer, pooler, pgcat, ...)."""
    return (url.port in POOLER_PORTS) or bool(url.host and _POOLER_HOST.search(url.host))


def pgbouncer_drops_prepared_statements(pgbouncer: PgBouncer) -> bool:
    """True when asyncpg's default prepared statements break behind this PgBouncer (docs/facts.md, C):
    transaction or statement mode, and either a version before 1.21 or ``max_prepared_statements = 0``."""
    if pgbouncer.pool_mode == "session":
        return False
    return pgbouncer.version_tuple < (1, 21) or pgbouncer.effective_max_prepared_statements == 0


def statement_caches_off(url: URL | None, statement_cache_size: int | None) -> tuple[bool, bool]:
    """(SQLAlchemy's ``prepared_statement_cache_size=0`` in the URL, asyncpg's ``statement_cache_size=0``)."""
    sqla = url is not None and str(url.query.get("prepared_statement_cache_size", "")).strip() == "0"
    return sqla, statement_cache_size == 0


def prepared_statement_fix(driver: str) -> tuple[str, str]:
    """(fix sentence, snippet) for prepared statements behind a transaction-mode pooler."""
    if driver == "asyncpg":
        return (
            "add ?prepared_statement_cache_size=0 to the URL and pass connect_args with statement_cache_size 0 "
            "and unique statement names (or run PgBouncer >= 1.21 with max_prepared_statements > 0)",
            "create_async_engine(\n"
            '    url,  # ...?prepared_statement_cache_size=0\n'
            "    connect_args={\n"
            '        "statement_cache_size": 0,\n'
            f'        "prepared_statement_name_func": {UUID_NAME_FUNC},  # from uuid import uuid4\n'
            "    },\n"
            ")",
        )
    return (
        "turn psycopg's server-side prepared statements off (prepare_threshold=None), or run PgBouncer >= 1.21 "
        "with max_prepared_statements > 0",
        'create_async_engine(url, connect_args={"prepare_threshold": None})',
    )


def check_url(
    url: str,
    *,
    statement_cache_size: int | None = None,
    pgbouncer_declared: bool = False,
    engine: str | None = None,
    server: str | None = None,
) -> list[Finding]:
    """Pitfalls visible in the URL alone, for an engine built with ``create_async_engine``.

    ``statement_cache_size`` is the engine's asyncpg ``connect_args`` value (None = asyncpg's default).
    ``pgbouncer_declared``: the plan declares the PgBouncer this URL goes through, so the precise
    version-aware rule in ``planner.rules.static`` judges prepared statements and the port heuristic here
    stays quiet. Raises ``InputError('url', ...)`` for an unparsable URL.
    """
    parsed = parse_url(url)
    backend, driver = backend_and_driver(parsed)
    shown = mask_url(url)
    who = f"engine {engine}: " if engine else ""
    findings: list[Finding] = []

    def add(id_: str, severity: str, message: str, fix: str, snippet: str = "") -> None:
        message, fix, snippet = (mask_in_text(text, url) for text in (message, fix, snippet))
        findings.append(Finding(id_, severity, who + message, fix, snippet, server))  # type: ignore[arg-type]

    if (backend, driver) in SYNC_DRIVERS:
        add(
            ids.SYNC_DRIVER, "critical",
            f"{shown} names the synchronous driver {driver}: create_async_engine refuses it "
            f"(InvalidRequestError: the asyncio extension requires an async driver)",
            f"use an async driver: {backend}+asyncpg://" if backend == "postgresql" else "use an async driver",
            _with_driver(parsed, "asyncpg" if backend == "postgresql" else "aiosqlite"),
        )
    elif "+" not in parsed.drivername and backend == "postgresql":
        add(
            ids.SYNC_DRIVER, "warning",
            f"{shown} names no driver: SQLAlchemy 2.1 picks psycopg (async-capable), SQLAlchemy 2.0 picked "
            f"psycopg2, which create_async_engine refuses",
            "name the driver explicitly",
            _with_driver(parsed, "asyncpg"),
        )
    if backend != "postgresql":
        add(
            ids.NOT_POSTGRESQL, "info",
            f"{shown} is {backend}, not PostgreSQL: the connection budget and live checks do not apply",
            "plan against the production PostgreSQL URL",
        )
        return findings

    query = {k: v for k, v in parsed.query.items()}
    if driver == "asyncpg":
        if "sslmode" in query:
            value = query["sslmode"] if isinstance(query["sslmode"], str) else query["sslmode"][0]
            add(
                ids.ASYNCPG_SSL, "critical",
                f"{shown} passes sslmode={value} to asyncpg, which raises "
                f"TypeError: connect() got an unexpected keyword argument 'sslmode' at the first connect",
                f"replace sslmode={value} with ssl={value}",
                mask_url(_replace_query(parsed, "sslmode", "ssl")),
            )
        for key, fix in _ASYNCPG_BAD_KEYS.items():
            if key in query:
                add(
                    ids.ASYNCPG_URL_PARAM, "critical",
                    f"{shown} passes {key}= to asyncpg.connect() as a string; asyncpg fails on it at the "
                    f"first connect",
                    f"remove {key} from the URL and pass it in connect_args",
                    f"create_async_engine(url, {fix})",
                )
    if looks_like_pooler(parsed) and not pgbouncer_declared:
        sqla_off, asyncpg_off = statement_caches_off(parsed, statement_cache_size)
        need_fix = not (sqla_off and asyncpg_off) if driver == "asyncpg" else driver == "psycopg"
        if need_fix:
            fix, snippet = prepared_statement_fix(driver)
            why = f"port {parsed.port}" if parsed.port in POOLER_PORTS else f"host {parsed.host}"
            add(
                ids.PREPARED_STATEMENT_CACHE, "warning",
                f"{shown} looks like a connection pooler ({why}) and {_caches_state(driver, sqla_off, asyncpg_off)}: "
                f"check the pooler's pool mode, version and max_prepared_statements; in transaction mode with "
                f"PgBouncer < 1.21 or max_prepared_statements = 0, queries fail with "
                f'prepared statement "__asyncpg_stmt_N__" does not exist',
                f"declare [pgbouncer] in the plan to get an exact verdict, or {fix}",
                snippet,
            )
    return findings


def _caches_state(driver: str, sqla_off: bool, asyncpg_off: bool) -> str:
    if driver != "asyncpg":
        return f"{driver} prepares statements server-side"
    on = [name for name, off in (("prepared_statement_cache_size", sqla_off), ("statement_cache_size", asyncpg_off))
          if not off]
    return f"{' and '.join(on)} {'is' if len(on) == 1 else 'are'} not 0"


def _with_driver(url: URL, driver: str) -> str:
    return mask_url(url.set(drivername=f"{url.get_backend_name()}+{driver}"))


def _replace_query(url: URL, old: str, new: str) -> URL:
    query = dict(url.query)
    query[new] = query.pop(old)
    return url.set(query=query)
