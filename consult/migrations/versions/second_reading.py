"""second reading: the sampling decision of a signed report and the second reader's verdict

Revision ID: second13
Revises: longecg12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "second13"
down_revision = "charges13"
branch_labels = None
depends_on = None


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "second_reading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("sample_bucket", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            _status("secondreadingstatus", "not_required", "pending", "done"),
            nullable=False,
        ),
        sa.Column("first_reader_id", sa.Integer(), nullable=False),
        sa.Column("signed_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("second_reader_id", sa.Integer(), nullable=True),
        sa.Column("discrepancy", _status("discrepancy", "none", "minor", "major"), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("amended_report_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["amended_report_id"],
            ["report.id"],
            name=op.f("fk_second_reading_amended_report_id_report"),
        ),
        sa.ForeignKeyConstraint(
            ["first_reader_id"],
            ["app_user.id"],
            name=op.f("fk_second_reading_first_reader_id_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_second_reading_report_id_report")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_request.id"],
            name=op.f("fk_second_reading_request_id_diagnostic_request"),
        ),
        sa.ForeignKeyConstraint(
            ["second_reader_id"],
            ["app_user.id"],
            name=op.f("fk_second_reading_second_reader_id_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_reading")),
        sa.UniqueConstraint("report_id", name=op.f("uq_second_reading_report_id")),
    )
    with op.batch_alter_table("second_reading", schema=None) as batch_op:
        batch_op.create_index("ix_second_reading_status", ["status", "kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_second_reading_first_reader_id"), ["first_reader_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_second_reading_decided_at"), ["decided_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_second_reading_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("second_reading")
