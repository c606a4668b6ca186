"""write-back outbox and audit; finding.opened_on

Revision ID: e1f2a3b4c5d6
Revises: c8d2e3f4a5b6
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "e1f2a3b4c5d6"
down_revision = "c8d2e3f4a5b6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "writeback_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("profile", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("resource_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("identifier", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("patient_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("finding_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("server_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("version_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("writeback_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_writeback_audit_identifier"), ["identifier"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_writeback_audit_run_id"), ["run_id"], unique=False)

    op.create_table(
        "writeback_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("resource_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("identifier", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("patient_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("finding_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("depends_on", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target", "resource_type", "identifier", name="uq_outbox_identifier"),
    )
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opened_on", sa.Date(), nullable=True))
    # Existing findings: their episode started when they were first seen.
    op.execute("UPDATE finding SET opened_on = first_seen WHERE opened_on IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_column("opened_on")
    op.drop_table("writeback_outbox")
    with op.batch_alter_table("writeback_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_writeback_audit_run_id"))
        batch_op.drop_index(batch_op.f("ix_writeback_audit_identifier"))
    op.drop_table("writeback_audit")
