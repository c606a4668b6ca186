"""bulk export jobs

Revision ID: f3a4b5c6d7e8
Revises: e1f2a3b4c5d6
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "f3a4b5c6d7e8"
down_revision = "e1f2a3b4c5d6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_export",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("manifest", sa.Text(), nullable=True),
        sa.Column("files_done", sa.Text(), nullable=True),
        sa.Column("kicked_off_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("bulk_export")
