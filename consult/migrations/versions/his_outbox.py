"""HL7 results out: each clinic's HIS endpoint, and the outbox of report messages to it

Revision ID: hisout13
Revises: longecg12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "hisout13"
down_revision = "longecg12"
branch_labels = None
depends_on = None

TABLE = "lab_his_outbound"


def upgrade() -> None:
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("his_host", sa.String(length=253), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("his_port", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.alter_column("his_host", server_default=None)
        batch_op.alter_column("his_port", server_default=None)
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("control_id", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("ack_text", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_lab_his_outbound_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_lab_his_outbound_report_id_report")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_his_outbound")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            "ix_lab_his_outbound_due", ["sent_at", "stopped_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lab_his_outbound_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lab_his_outbound_report_id"), ["report_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lab_his_outbound_report_id"))
        batch_op.drop_index(batch_op.f("ix_lab_his_outbound_institution_id"))
        batch_op.drop_index("ix_lab_his_outbound_due")
    op.drop_table(TABLE)
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.drop_column("his_port")
        batch_op.drop_column("his_host")
