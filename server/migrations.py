"""Schema migrations: small named functions applied in order, each in its own transaction.

`migrate(engine)` applies the ones a database has not seen yet and records each name in
`schema_migrations`; it runs on `tiebreak server migrate` and when the server starts, and is safe to
run from two processes at once (SQLite: the write lock; PostgreSQL: an advisory lock). A migration
is never edited once released: a change to the schema is a new function appended to MIGRATIONS,
and `server.db` is updated to describe the result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, select

from server import db

_ADVISORY_LOCK_KEY = 0x7469_6562  # "tieb": any constant shared by every tiebreak server

_history = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _history,
    Column("name", String(100), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _0001_initial(connection: Connection) -> None:
    """Organisations, agent tokens, users, sessions, login failures, inventories, findings."""
    # The tables of server.db are the first schema verbatim; a later change to one of them comes
    # with its own migration below (ALTER TABLE…), and this one keeps creating the first version.
    db.metadata.create_all(connection)


def _0002_postgresql_lz4_documents(connection: Connection) -> None:
    """PostgreSQL: compress inventory documents with lz4 rather than pglz when the server can."""
    # Documents are a few hundred kilobytes of JSON; lz4 compresses them several times faster,
    # which is most of the database's work per inventory. SQLite stores them as they are.
    if connection.dialect.name != "postgresql":
        return
    supported = connection.exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)"
    ).scalar()
    if supported:
        connection.exec_driver_sql(
            "ALTER TABLE inventories ALTER COLUMN document SET COMPRESSION lz4"
        )


MIGRATIONS: tuple[tuple[str, Callable[[Connection], None]], ...] = (
    ("0001_initial", _0001_initial),
    ("0002_postgresql_lz4_documents", _0002_postgresql_lz4_documents),
)
"""Every migration, in the order it is applied."""


def applied(engine: Engine) -> list[str]:
    """Names of the migrations this database has already applied."""
    with engine.connect() as connection:
        _history.create_all(connection)
        connection.commit()
        return list(connection.scalars(select(schema_migrations.c.name)))


def migrate(engine: Engine) -> list[str]:
    """Apply pending migrations in order; return the names applied now."""
    done_now = []
    for name, step in MIGRATIONS:
        with db.write_transaction(engine) as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
            _history.create_all(connection)
            seen = connection.scalar(
                select(schema_migrations.c.name).where(schema_migrations.c.name == name)
            )
            if seen is not None:
                continue
            step(connection)
            connection.execute(
                schema_migrations.insert().values(name=name, applied_at=datetime.now(UTC))
            )
            done_now.append(name)
    return done_now
