"""index findings by key with their patient and status (a run reads them all from the index)

Revision ID: d3e4f5a6b7c8
Revises: c2d3e4f5a6b7
Create Date: 2026-11-27
"""

from alembic import op

revision = "d3e4f5a6b7c8"
down_revision = "c2d3e4f5a6b7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_finding_state", "finding", ["key", "patient_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_finding_state", table_name="finding")
