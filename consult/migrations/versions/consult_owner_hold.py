"""consult: department heads and request holds (one owner, hold/resume)

Revision ID: consult12
Revises: 1f1952c04d45
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "consult12"
down_revision = "1f1952c04d45"
branch_labels = None
depends_on = None

STATES = (
    "requested",
    "accepted",
    "rejected",
    "in_progress",
    "completed",
    "cancelled",
    "on_hold",
)


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("department_head", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "request_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_by", sa.Integer(), nullable=False),
        sa.Column("asked_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "resume_status",
            sa.Enum(*STATES, name="requeststatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["app_user.id"], name=op.f("fk_request_hold_answered_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["asked_by"], ["app_user.id"], name=op.f("fk_request_hold_asked_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_request.id"],
            name=op.f("fk_request_hold_request_id_diagnostic_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_hold")),
    )
    with op.batch_alter_table("request_hold", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_hold_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_hold_request_id"))
    op.drop_table("request_hold")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("department_head")
