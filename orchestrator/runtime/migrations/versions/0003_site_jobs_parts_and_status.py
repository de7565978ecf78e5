"""Jobs one site may claim (jobs.site_id), cancelled parts of a job (jobs.cancelled_parts), and sites'
status from heartbeats (sites.last_seen_at, sites.status, sites.paused).

Plain ADD COLUMNs with server defaults, so existing rows read as before (any site may claim, nothing
cancelled, never seen, idle, not paused) and SQLite needs no table rebuild.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("site_id", sa.String(length=200), nullable=True))
    op.add_column("jobs", sa.Column("cancelled_parts", _json(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("sites", sa.Column("last_seen_at", sa.DateTime(), nullable=True))
    op.add_column(
        "sites",
        sa.Column("status", _json(), server_default=sa.text('\'{"running": 0, "queued": 0}\''), nullable=False),
    )
    op.add_column("sites", sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table, column in (
        ("sites", "paused"),
        ("sites", "status"),
        ("sites", "last_seen_at"),
        ("jobs", "cancelled_parts"),
        ("jobs", "site_id"),
    ):
        op.drop_column(table, column)  # SQLite (3.35+) drops a column in place: no table rebuild
