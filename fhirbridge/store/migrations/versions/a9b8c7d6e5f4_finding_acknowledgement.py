"""finding acknowledgements (suppression of acknowledged findings)

Revision ID: a9b8c7d6e5f4
Revises: f3a4b5c6d7e8
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "a9b8c7d6e5f4"
down_revision = "f3a4b5c6d7e8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_acknowledgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("patient_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finding_acknowledgement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finding_acknowledgement_finding_key"), ["finding_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("finding_acknowledgement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_acknowledgement_finding_key"))
    op.drop_table("finding_acknowledgement")
