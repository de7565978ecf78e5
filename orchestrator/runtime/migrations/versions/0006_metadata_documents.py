"""The metadata store (metadata_documents): collections of JSON documents keyed by `id`, ingested by the
metadata-in workflow and read through /metadata.

A new table only: nothing existing changes.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadata_documents",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("collection", sa.String(100), nullable=False),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("document", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(210), nullable=False),
        sa.UniqueConstraint("collection", "id", name="uq_metadata_documents_collection_id"),
    )
    op.create_index("ix_metadata_documents_collection_seq", "metadata_documents", ["collection", "seq"])


def downgrade() -> None:
    op.drop_index("ix_metadata_documents_collection_seq", table_name="metadata_documents")
    op.drop_table("metadata_documents")
