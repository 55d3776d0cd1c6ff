"""Database access: the engine for SQLite or PostgreSQL, and the tables as the code sees them.

The same SQLAlchemy Core code runs on both databases. SQLite is the embedded default: WAL mode so
readers never wait for the writer, a busy timeout so concurrent writers queue instead of failing,
and write transactions opened with `BEGIN IMMEDIATE` so two writers never deadlock upgrading a read
lock. The tables here describe the latest schema; the Alembic migrations of `server/migrations/`
build it step by step, and a test checks that both agree. Every query lives in `server.store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)

SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a SQLite writer waits for the lock before giving up (a minute: never in practice)."""

metadata = MetaData()

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(300), nullable=False),
    Column("siren", String(9), unique=True),
    Column("type", String(20), nullable=False),
    Column("parent_id", Integer, ForeignKey("organisations.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_organisations_parent", "parent_id"),
)

agent_tokens = Table(
    "agent_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("prefix", String(16), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
)

user_organisations = Table(
    "user_organisations",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

inventories = Table(
    "inventories",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("agent_hostname", Text, nullable=False),
    Column("findings_count", Integer, nullable=False),
    Column("observations_count", Integer, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("source", String(20), nullable=False, server_default="agent"),
    Column("validated_at", DateTime(timezone=True)),
    Column("validated_by", Text),
    Column("validated_findings", Text),
    Index("ix_inventories_status_received", "status", "received_at"),
    Index("ix_inventories_organisation_received", "organisation_id", "received_at"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inventory_id", String(36), ForeignKey("inventories.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("finding_id", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("vendor", Text, nullable=False),
    Column("jurisdiction", String(20), nullable=False),
    Column("category", String(30), nullable=False),
    Column("data", Text, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    # A finding's stable id, "obs:<observation id>" for a classified observation, or
    # "add:<product or name>" for a product that no scan saw.
    Column("finding_key", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20)),
    Column("product", Text),
    Column("manual", Text),
    Column("reason", Text),
    Column("criticality", String(20)),
    Column("annual_cost_eur", Float),
    Column("licences", Integer),
    Column("replaceability", String(20)),
    Column("note", Text),
    Column("inventory_id", String(36)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", Text, nullable=False),
    UniqueConstraint("organisation_id", "finding_key", name="uq_decisions_organisation_key"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", Text, nullable=False),
    Column("organisation_id", Integer),
    Column("inventory_id", String(36)),
    Column("subject", Text, nullable=False),
    Column("action", String(40), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Index("ix_audit_log_organisation_subject", "organisation_id", "subject"),
)


# The figures of each validated inventory, computed once at validation (server/metrics.py), so
# that dashboards and territory views read one row per organisation instead of its findings.
# `current`: the organisation's current validated inventory; `point`: a point of its trajectory
# (a validated inventory whose figures equal the previous point's is not one); `d_*`: what this
# point changes in its territory's sums (the trajectory of a territory is their running sum).
inventory_metrics = Table(
    "inventory_metrics",
    metadata,
    Column("inventory_id", String(36), ForeignKey("inventories.id"), primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("scanned_at", DateTime(timezone=True), nullable=False),
    Column("validated_at", DateTime(timezone=True), nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("current", Boolean, nullable=False),
    Column("point", Boolean, nullable=False),
    Column("index_overall", Float),
    Column("index_infrastructure", Float),
    Column("index_poste", Float),
    Column("index_logiciel", Float),
    Column("index_bucket", Integer),
    Column("findings", Integer, nullable=False),
    Column("non_eu_findings", Integer, nullable=False),
    Column("euros_validated", Float, nullable=False),
    Column("euros_estimated", Float, nullable=False),
    Column("non_eu_validated", Float, nullable=False),
    Column("non_eu_estimated", Float, nullable=False),
    Column("d_index", Float, nullable=False),
    Column("d_indexed", Integer, nullable=False),
    Column("d_euros_validated", Float, nullable=False),
    Column("d_euros_estimated", Float, nullable=False),
    Column("signature", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_inventory_metrics_organisation_scanned", "organisation_id", "scanned_at"),
    Index("ix_inventory_metrics_current_organisation", "current", "organisation_id"),
)

vendor_metrics = Table(
    "vendor_metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inventory_id", String(36), ForeignKey("inventories.id"), nullable=False),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("current", Boolean, nullable=False),
    Column("vendor", Text, nullable=False),
    Column("vendor_name", Text, nullable=False),
    Column("jurisdiction", String(20), nullable=False),
    Column("products", Integer, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("euros_validated", Float, nullable=False),
    Column("euros_estimated", Float, nullable=False),
    Index("ix_vendor_metrics_inventory", "inventory_id"),
    Index("ix_vendor_metrics_organisation_current", "organisation_id", "current"),
    # The national view groups every current row by vendor: read from this index alone.
    Index(
        "ix_vendor_metrics_current_vendor",
        "vendor",
        postgresql_where=text("current"),
        postgresql_include=[
            "organisation_id",
            "products",
            "euros_validated",
            "euros_estimated",
            "vendor_name",
            "jurisdiction",
        ],
        sqlite_where=text("current"),
    ),
)


# Per territory (an organisation and every one below it; root 0: all organisations), the sums of
# its organisations' current vendor rows, kept up to date at each validation, so that a
# territory's top vendors read a few hundred rows whatever the number of organisations.
territory_vendors = Table(
    "territory_vendors",
    metadata,
    Column("root_id", Integer, primary_key=True),
    Column("vendor", Text, primary_key=True),
    Column("vendor_name", Text, nullable=False),
    Column("jurisdiction", String(20), nullable=False),
    Column("organisations", Integer, nullable=False),
    Column("products", Integer, nullable=False),
    Column("euros_validated", Float, nullable=False),
    Column("euros_estimated", Float, nullable=False),
)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = "IMMEDIATE" if connection.get_execution_options().get("write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...), set up for concurrency."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # Keep connections open: closing the last one of a WAL database checkpoints it, which
        # would cost every request a few milliseconds. A connection serves one thread at a time.
        engine = create_engine(url, pool_size=10, max_overflow=40)
        _sqlite_setup(engine)
        return engine
    # As many connections as the web server has worker threads (40), so none waits for one.
    return create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed at the end of the block, rolled back on any error."""
    with engine.connect() as connection:
        connection.execution_options(write=True)
        with connection.begin():
            yield connection
