"""modality worklist: the scheduled procedure steps of imaging requests (MWL, MPPS)

Revision ID: mwl13
Revises: longecg12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "mwl13"
down_revision = "verify12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worklist_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=16), nullable=False),
        sa.Column("accession", sa.String(length=16), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("station_aet", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.String(length=8), nullable=False),
        sa.Column("start_time", sa.String(length=6), nullable=False),
        sa.Column("description", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mpps_uid", sa.String(length=64), nullable=True),
        sa.Column("created_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_worklist_step_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_request.id"],
            name=op.f("fk_worklist_step_request_id_diagnostic_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_step")),
        sa.UniqueConstraint("mpps_uid", name=op.f("uq_worklist_step_mpps_uid")),
        sa.UniqueConstraint("request_id", name=op.f("uq_worklist_step_request_id")),
        sa.UniqueConstraint("step_id", name=op.f("uq_worklist_step_step_id")),
        sa.UniqueConstraint("study_uid", name=op.f("uq_worklist_step_study_uid")),
    )
    with op.batch_alter_table("worklist_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worklist_step_accession"), ["accession"], unique=False)
        batch_op.create_index(
            "ix_worklist_step_scope", ["institution_id", "status", "start_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("worklist_step", schema=None) as batch_op:
        batch_op.drop_index("ix_worklist_step_scope")
        batch_op.drop_index(batch_op.f("ix_worklist_step_accession"))

    op.drop_table("worklist_step")
