"""PostgreSQL: compress inventory documents with lz4 rather than pglz when the server can.

Documents are a few hundred kilobytes of JSON; lz4 compresses them several times faster, which is
most of the database's work per inventory. SQLite stores them as they are.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Set lz4 compression on inventories.document (PostgreSQL 14 and later built with lz4)."""
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    supported = connection.exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)"
    ).scalar()
    if supported:
        op.execute("ALTER TABLE inventories ALTER COLUMN document SET COMPRESSION lz4")
