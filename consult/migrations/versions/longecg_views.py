"""long ECG reading: what each reader has fetched of a tracing (the sign check reads it)

Revision ID: longecg12
Revises: 1f1952c04d45
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "longecg12"
down_revision = "match12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ecg_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ecg_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ecg_id"], ["ecg_recording.id"], name=op.f("fk_ecg_view_ecg_id_ecg_recording")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_ecg_view_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecg_view")),
    )
    with op.batch_alter_table("ecg_view", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ecg_view_ecg_id"), ["ecg_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ecg_view", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ecg_view_ecg_id"))
    op.drop_table("ecg_view")
