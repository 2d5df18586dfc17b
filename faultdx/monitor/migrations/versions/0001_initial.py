"""Assets, diagnoses, alarms.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("machine", sa.String(200)),
        sa.Column("location", sa.String(200)),
        sa.Column("sensor_position", sa.String(200)),
        sa.Column("bearing", sa.JSON),
        sa.Column("rpm", sa.Float),
        sa.Column("sampling_rate", sa.Float),
        sa.Column("iso_group", sa.Integer),
        sa.Column("support", sa.String(20)),
        sa.Column("zone_limits", sa.JSON),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("alarm_repeat_n", sa.Integer, nullable=False),
        sa.Column("alarm_repeat_m", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "diagnoses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signal_index", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("fault_type", sa.String(50), nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("severity", sa.String(50)),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("type_probabilities", sa.JSON, nullable=False),
        sa.Column("rms", sa.Float, nullable=False),
        sa.Column("peak", sa.Float, nullable=False),
        sa.Column("crest_factor", sa.Float, nullable=False),
        sa.Column("kurtosis", sa.Float, nullable=False),
        sa.Column("velocity_rms", sa.Float, nullable=False),
        sa.Column("zone", sa.String(1)),
        sa.Column("rpm", sa.Float),
        sa.Column("rpm_source", sa.String(20)),
        sa.Column("sampling_rate", sa.Float, nullable=False),
        sa.Column("defect_frequencies", sa.JSON),
        sa.UniqueConstraint("idempotency_key", "signal_index", name="uq_diagnoses_idempotency"),
    )
    op.create_index("ix_diagnoses_asset_time", "diagnoses", ["asset_id", "measured_at"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("key", sa.String(50), nullable=False),
        sa.Column("level", sa.String(50), nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.Integer),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.Integer),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_alarms_asset_open", "alarms", ["asset_id", "closed_at"])


def downgrade() -> None:
    op.drop_table("alarms")
    op.drop_table("diagnoses")
    op.drop_table("assets")
