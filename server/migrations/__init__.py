"""Schema migrations with Alembic, on SQLite and PostgreSQL alike.

`migrate(engine)` brings a database to the latest revision; it runs on `tiebreak server migrate` and
when the server starts, in one transaction, and is safe to run from two processes at once (SQLite:
the write lock of `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock). Each revision in `versions/`
spells out its own tables: none reads `server.db`, so the first revision keeps creating the first
schema whatever later ones change. A change to the schema is a new revision, and `server.db` is
updated to describe the result (a test checks that they agree).

Databases made before Alembic (the ordered functions of the first server) recorded their steps in
`schema_migrations`; they are stamped at the matching revision, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from server import db

_ADVISORY_LOCK_KEY = 0x7469_6562  # "tieb": any constant shared by every tiebreak server
_LEGACY = {"0001_initial": "0001", "0002_postgresql_lz4_documents": "0002"}
"""Steps of the pre-Alembic migrator and the revision each one corresponds to."""


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package, bound to `connection` when given."""
    settings = Config()
    settings.set_main_option("script_location", str(Path(__file__).parent))
    settings.attributes["connection"] = connection
    return settings


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def applied(engine: Engine) -> str | None:
    """The revision this database is at (None: empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _legacy_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("schema_migrations"):
        return None
    names = {row[0] for row in connection.exec_driver_sql("SELECT name FROM schema_migrations")}
    known = [revision for name, revision in _LEGACY.items() if name in names]
    return max(known) if known else None


def migrate(engine: Engine, target: str = "head") -> list[str]:
    """Upgrade to `target` (the latest revision by default); return the revisions applied now."""
    with db.write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
        before = MigrationContext.configure(connection).get_current_revision()
        settings = config(connection)
        if before is None:
            legacy = _legacy_revision(connection)
            if legacy is not None:
                command.stamp(settings, legacy)
                before = legacy
        command.upgrade(settings, target)
        after = MigrationContext.configure(connection).get_current_revision()
    order = revisions()
    start = order.index(before) + 1 if before else 0
    return order[start : order.index(after) + 1] if after else []
