"""Restricted object types (object_types.restricted): their objects are seen only by admins and sites.

A plain ADD COLUMN with a server default: every existing type stays open to everyone logged in.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("object_types", sa.Column("restricted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("object_types", "restricted")  # SQLite (3.35+) drops a column in place
