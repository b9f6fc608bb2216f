"""match: held ECG uploads, co-view grants, coded reconciliation reasons

Revision ID: match12
Revises: 1f1952c04d45
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "match12"
down_revision = "referral12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("shared_by", sa.Integer(), nullable=False),
        sa.Column("opened_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_room_share_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_request.id"],
            name=op.f("fk_room_share_request_id_diagnostic_request"),
        ),
        sa.ForeignKeyConstraint(
            ["shared_by"], ["app_user.id"], name=op.f("fk_room_share_shared_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_share")),
    )
    op.create_index("ix_room_share_item", "room_share", ["kind", "item_key"], unique=False)
    op.create_index(op.f("ix_room_share_request_id"), "room_share", ["request_id"], unique=False)
    op.create_table(
        "ecg_reconciliation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("csv_profile", sa.JSON(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("received_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accession", sa.String(length=32), nullable=False),
        sa.Column("claimed", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("clinical_question", sa.Text(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("resolved_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("ecg_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ecg_id"],
            ["ecg_recording.id"],
            name=op.f("fk_ecg_reconciliation_ecg_id_ecg_recording"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_ecg_reconciliation_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_ecg_reconciliation_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["app_user.id"],
            name=op.f("fk_ecg_reconciliation_resolved_by_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["app_user.id"],
            name=op.f("fk_ecg_reconciliation_uploaded_by_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecg_reconciliation")),
    )
    op.create_index(
        op.f("ix_ecg_reconciliation_institution_id"),
        "ecg_reconciliation",
        ["institution_id"],
        unique=False,
    )
    op.add_column(
        "imaging_reconciliation",
        sa.Column("reason_code", sa.String(length=32), server_default="", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("imaging_reconciliation", "reason_code")
    op.drop_index(op.f("ix_ecg_reconciliation_institution_id"), table_name="ecg_reconciliation")
    op.drop_table("ecg_reconciliation")
    op.drop_index(op.f("ix_room_share_request_id"), table_name="room_share")
    op.drop_index("ix_room_share_item", table_name="room_share")
    op.drop_table("room_share")
