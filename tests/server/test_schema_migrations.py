"""Alembic migrations: the first revision keeps building the first schema, later ones the schema
the code describes, and databases of the pre-Alembic migrator are carried over with their data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, inspect

from inventory import Inventory
from server import db, migrations

FIRST_SCHEMA = {
    "organisations": {"id", "name", "siren", "type", "parent_id", "created_at"},
    "agent_tokens": {"id", "organisation_id", "prefix", "token_hash", "created_at", "revoked_at"},
    "users": {"id", "username", "password_hash", "role", "created_at"},
    "user_organisations": {"user_id", "organisation_id"},
    "sessions": {"token_hash", "user_id", "created_at", "expires_at"},
    "login_failures": {"id", "key", "at"},
    "inventories": {
        "id",
        "organisation_id",
        "status",
        "received_at",
        "started_at",
        "finished_at",
        "agent_hostname",
        "findings_count",
        "observations_count",
        "body_sha256",
        "document",
    },
    "findings": {
        "id",
        "inventory_id",
        "position",
        "finding_id",
        "product",
        "vendor",
        "jurisdiction",
        "category",
    },
}
"""The schema the first server created, written out here once and for all."""


@pytest.fixture
def bare(database_url: str) -> Iterator[Engine]:
    """An engine on the empty test database, not migrated."""
    made = db.make_engine(database_url)
    yield made
    made.dispose()


def _columns(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {
        name: {column["name"] for column in inspector.get_columns(name)}
        for name in inspector.get_table_names()
        if name != "alembic_version"
    }


def test_the_first_revision_still_builds_the_first_schema(bare: Engine) -> None:
    assert migrations.migrate(bare, "0001") == ["0001"]
    assert _columns(bare) == FIRST_SCHEMA
    assert migrations.applied(bare) == "0001"


def test_head_builds_exactly_the_tables_columns_and_indexes_of_the_code(bare: Engine) -> None:
    assert migrations.migrate(bare) == migrations.revisions()
    assert _columns(bare) == {t.name: set(t.columns.keys()) for t in db.metadata.sorted_tables}
    inspector = inspect(bare)
    for table in db.metadata.sorted_tables:
        wanted = {index.name for index in table.indexes}
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        assert wanted <= present, table.name
    uniques = inspector.get_unique_constraints("decisions")
    assert [sorted(u["column_names"]) for u in uniques] == [["finding_key", "organisation_id"]]
    assert migrations.migrate(bare) == []


def test_a_database_of_the_first_migrator_is_carried_over_with_its_findings(
    bare: Engine, make_inventory: Any
) -> None:
    # What the pre-Alembic server left: its two steps in schema_migrations, no alembic_version.
    migrations.migrate(bare, "0002")
    inventory: Inventory = make_inventory("Commune", findings=3)
    with db.write_transaction(bare) as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql(
            "CREATE TABLE schema_migrations (name VARCHAR(100) PRIMARY KEY, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        for name in ("0001_initial", "0002_postgresql_lz4_documents"):
            connection.exec_driver_sql(
                "INSERT INTO schema_migrations VALUES (%s, CURRENT_TIMESTAMP)"
                if connection.dialect.name == "postgresql"
                else "INSERT INTO schema_migrations VALUES (?, CURRENT_TIMESTAMP)",
                (name,),
            )
        organisation = connection.execute(
            db.organisations.insert().values(
                name="Commune", type="commune", created_at=inventory.started_at
            )
        ).inserted_primary_key[0]
        connection.execute(
            db.inventories.insert().values(
                id=str(inventory.id),
                organisation_id=organisation,
                status="validated",
                received_at=inventory.started_at,
                started_at=inventory.started_at,
                finished_at=inventory.finished_at,
                agent_hostname="poste",
                findings_count=3,
                observations_count=1,
                body_sha256="0" * 64,
                document=inventory.to_json(),
            )
        )
        for position, finding in enumerate(inventory.findings):
            connection.exec_driver_sql(
                "INSERT INTO findings (inventory_id, position, finding_id, product, vendor, "
                "jurisdiction, category) VALUES "
                + (
                    "(%s, %s, %s, %s, %s, %s, %s)"
                    if connection.dialect.name == "postgresql"
                    else "(?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    str(inventory.id),
                    position,
                    finding.id,
                    finding.product,
                    finding.vendor,
                    "non-eu",
                    "infrastructure",
                ),
            )

    assert migrations.migrate(bare) == ["0003", "0004"]

    assert "schema_migrations" not in inspect(bare).get_table_names()
    with bare.connect() as connection:
        rows = connection.execute(db.findings.select().order_by(db.findings.c.position)).all()
        validated = connection.execute(db.inventories.select()).one()
    assert [json.loads(row.data)["id"] for row in rows] == [f.id for f in inventory.findings]
    assert json.loads(rows[2].data)["version"] == "15.2"
    assert validated.validated_at is not None
