"""index stored records by generation and patient (the analyze stage's lists read the index)

Revision ID: c2d3e4f5a6b7
Revises: b1c2d3e4f5a6
Create Date: 2026-11-27
"""

from alembic import op

revision = "c2d3e4f5a6b7"
down_revision = "b1c2d3e4f5a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_stored_records_generation_patient",
        "stored_records",
        ["generation", "patient_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_stored_records_generation_patient", table_name="stored_records")
