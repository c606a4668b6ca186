"""cds feedback

Revision ID: b7c1d2e3f4a5
Revises: 75e36e08174c
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "75e36e08174c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("card", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("finding_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("override_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "accepted_suggestions", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True
        ),
        sa.Column("outcome_timestamp", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("card", "outcome_timestamp", name="uq_cds_feedback"),
    )
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cds_feedback_finding_key"), ["finding_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_feedback_finding_key"))
    op.drop_table("cds_feedback")
