"""Dashboards: the figures of each validated inventory, kept at validation time.

- inventory_metrics: one row per validated inventory (indexes, euros validated and estimated,
  trajectory point and its contribution to its territory's sums, and the full figures as JSON);
- vendor_metrics: one row per vendor of a validated inventory, for territory views;
- territory_vendors: per territory root (0: all organisations), the sums of its organisations'
  current vendor rows, kept at validation;
- an index on organisations.parent_id (the organisations attached to one).

The rows of inventories validated before this revision are computed when the server starts
(`server.dashboards.fill_missing`), with the catalog of that moment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables and their indexes."""
    op.create_index("ix_organisations_parent", "organisations", ["parent_id"])
    op.create_table(
        "inventory_metrics",
        sa.Column("inventory_id", sa.String(36), sa.ForeignKey("inventories.id"), primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quarter", sa.Integer, nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("point", sa.Boolean, nullable=False),
        sa.Column("index_overall", sa.Float),
        sa.Column("index_infrastructure", sa.Float),
        sa.Column("index_poste", sa.Float),
        sa.Column("index_logiciel", sa.Float),
        sa.Column("index_bucket", sa.Integer),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("non_eu_findings", sa.Integer, nullable=False),
        sa.Column("euros_validated", sa.Float, nullable=False),
        sa.Column("euros_estimated", sa.Float, nullable=False),
        sa.Column("non_eu_validated", sa.Float, nullable=False),
        sa.Column("non_eu_estimated", sa.Float, nullable=False),
        sa.Column("d_index", sa.Float, nullable=False),
        sa.Column("d_indexed", sa.Integer, nullable=False),
        sa.Column("d_euros_validated", sa.Float, nullable=False),
        sa.Column("d_euros_estimated", sa.Float, nullable=False),
        sa.Column("signature", sa.String(32), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_inventory_metrics_organisation_scanned",
        "inventory_metrics",
        ["organisation_id", "scanned_at"],
    )
    op.create_index(
        "ix_inventory_metrics_current_organisation",
        "inventory_metrics",
        ["current", "organisation_id"],
    )
    op.create_table(
        "vendor_metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("inventory_id", sa.String(36), sa.ForeignKey("inventories.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("vendor_name", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.String(20), nullable=False),
        sa.Column("products", sa.Integer, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("euros_validated", sa.Float, nullable=False),
        sa.Column("euros_estimated", sa.Float, nullable=False),
    )
    op.create_index("ix_vendor_metrics_inventory", "vendor_metrics", ["inventory_id"])
    op.create_index(
        "ix_vendor_metrics_organisation_current", "vendor_metrics", ["organisation_id", "current"]
    )
    op.create_index(
        "ix_vendor_metrics_current_vendor",
        "vendor_metrics",
        ["vendor"],
        postgresql_where=sa.text("current"),
        postgresql_include=[
            "organisation_id",
            "products",
            "euros_validated",
            "euros_estimated",
            "vendor_name",
            "jurisdiction",
        ],
        sqlite_where=sa.text("current"),
    )
    op.create_table(
        "territory_vendors",
        sa.Column("root_id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.Text, primary_key=True),
        sa.Column("vendor_name", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.String(20), nullable=False),
        sa.Column("organisations", sa.Integer, nullable=False),
        sa.Column("products", sa.Integer, nullable=False),
        sa.Column("euros_validated", sa.Float, nullable=False),
        sa.Column("euros_estimated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_table("territory_vendors")
    op.drop_table("vendor_metrics")
    op.drop_table("inventory_metrics")
    op.drop_index("ix_organisations_parent", "organisations")
