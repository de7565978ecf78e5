"""Fair shares of a workflow's claims (jobs.share): a claim prefers the open jobs whose share (a jobs
site's workspace) has the fewest jobs claimed, as job-runner orders its pending jobs by workspace.

A nullable ADD COLUMN: every existing job has no share, and those form one share together, so claims
of existing jobs keep their oldest-first order. The partial index holds only open jobs that have a share.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPEN_WITH_SHARE = sa.text("status = 'open' AND share IS NOT NULL")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("share", sa.String(100), nullable=True))
    op.create_index(
        "ix_jobs_open_share",
        "jobs",
        ["workflow_id", "share", "seq"],
        postgresql_where=_OPEN_WITH_SHARE,
        sqlite_where=_OPEN_WITH_SHARE,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_open_share", table_name="jobs")
    op.drop_column("jobs", "share")
