"""The review workspace: decisions that outlive scans, an audit log, findings read from their table.

- users.disabled_at: an administrator disables a person without deleting what they decided;
- inventories: where it came from (agent or upload) and who validated it, when, with what findings;
- findings.data: each finding as sent, so that pages read findings from the table they are written
  to (filled here from the stored documents);
- decisions: one row per organisation and finding identity, applied to every later draft;
- audit_log: every human decision, before and after;
- schema_migrations, the pre-Alembic record, is dropped.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _fill_findings_data() -> None:
    connection = op.get_bind()
    inventories = connection.exec_driver_sql(
        "SELECT id, document FROM inventories WHERE findings_count > 0"
    ).all()
    for inventory_id, document in inventories:
        findings = json.loads(document).get("findings", [])
        connection.execute(
            sa.text(
                "UPDATE findings SET data = :data WHERE inventory_id = :id AND position = :position"
            ),
            [
                {"data": json.dumps(finding, ensure_ascii=False), "id": inventory_id, "position": n}
                for n, finding in enumerate(findings)
            ],
        )


def upgrade() -> None:
    """Add the review columns and tables; fill findings.data from the documents."""
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("inventories") as inventories:
        inventories.add_column(
            sa.Column("source", sa.String(20), nullable=False, server_default="agent")
        )
        inventories.add_column(sa.Column("validated_at", sa.DateTime(timezone=True)))
        inventories.add_column(sa.Column("validated_by", sa.Text))
        inventories.add_column(sa.Column("validated_findings", sa.Text))
    op.create_index("ix_inventories_status_received", "inventories", ["status", "received_at"])
    op.create_index(
        "ix_inventories_organisation_received", "inventories", ["organisation_id", "received_at"]
    )
    op.execute("UPDATE inventories SET validated_at = received_at WHERE status = 'validated'")
    with op.batch_alter_table("findings") as findings:
        findings.add_column(sa.Column("data", sa.Text))
    _fill_findings_data()
    with op.batch_alter_table("findings") as findings:
        findings.alter_column("data", existing_type=sa.Text, nullable=False)
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("finding_key", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("product", sa.Text),
        sa.Column("manual", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("criticality", sa.String(20)),
        sa.Column("annual_cost_eur", sa.Float),
        sa.Column("licences", sa.Integer),
        sa.Column("replaceability", sa.String(20)),
        sa.Column("note", sa.Text),
        sa.Column("inventory_id", sa.String(36)),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.UniqueConstraint("organisation_id", "finding_key", name="uq_decisions_organisation_key"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("organisation_id", sa.Integer),
        sa.Column("inventory_id", sa.String(36)),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index(
        "ix_audit_log_organisation_subject", "audit_log", ["organisation_id", "subject"]
    )
    op.execute("DROP TABLE IF EXISTS schema_migrations")
