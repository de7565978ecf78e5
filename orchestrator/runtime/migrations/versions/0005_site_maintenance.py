"""Database maintenance mode of a site (sites.maintenance): its running database actions are stopped and
requeued, new ones wait, other actions go on (`orchestrator site maintenance on|off`).

A plain ADD COLUMN with a server default: every existing site is out of maintenance.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("maintenance", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("sites", "maintenance")
