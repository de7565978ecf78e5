"""Metadata documents take their `seq` from a counter row (counters.name = 'metadata_documents'), as
objects do: the row stays locked until the ingest commits, so documents become visible in seq order
and the curation sensor's cursor never passes a document that commits later with a lower seq.

The row starts at the highest seq stored, so the documents already there keep theirs.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO counters (name, value) "
            "SELECT 'metadata_documents', COALESCE(MAX(seq), 0) FROM metadata_documents"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM counters WHERE name = 'metadata_documents'"))
