"""The share of the job an operation was claimed for (operations.share), copied at claim time: the claim's
answer carries it, so a site tags the job's Dagster run with it (runtime/share) and orders its queue of
runs by share without asking for each job.

A nullable ADD COLUMN; live operations get their job's share, finished ones keep none.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operations", sa.Column("share", sa.String(100), nullable=True))
    operations = sa.table("operations", sa.column("job_id"), sa.column("done", sa.Boolean), sa.column("share"))
    jobs = sa.table("jobs", sa.column("id"), sa.column("share"))
    job_share = sa.select(jobs.c.share).where(jobs.c.id == operations.c.job_id).scalar_subquery()
    op.execute(operations.update().where(operations.c.done == sa.false()).values(share=job_share))


def downgrade() -> None:
    op.drop_column("operations", "share")
