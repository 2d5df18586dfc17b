"""Healthy baseline recordings per asset; diagnoses keep the content hash of the request an idempotency key
was used for (the same key with another body is refused, not replayed).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("diagnoses") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_table(
        "baseline_recordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rpm", sa.Float),
        sa.Column("sampling_rate", sa.Float, nullable=False),
        sa.Column("windows", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
    )
    op.create_index("ix_baseline_asset", "baseline_recordings", ["asset_id"])


def downgrade() -> None:
    op.drop_table("baseline_recordings")
    with op.batch_alter_table("diagnoses") as batch:
        batch.drop_column("request_hash")
