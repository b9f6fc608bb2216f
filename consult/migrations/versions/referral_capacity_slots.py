"""referrals: capacity slots, the booked slot and summary, one open referral per request

Revision ID: referral12
Revises: 1f1952c04d45
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "referral12"
down_revision = "critical12"
branch_labels = None
depends_on = None

OPEN = "status IN ('opened', 'accepted', 'arrived')"


def upgrade() -> None:
    op.create_table(
        "capacity_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "cath_lab",
                "ward_bed",
                "clinic_session",
                "icu_bed",
                name="slotkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("starts_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "booked >= 0 AND booked <= capacity",
            name=op.f("ck_capacity_slot_booked_within_capacity"),
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_capacity_slot_capacity_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_capacity_slot_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_capacity_slot_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["app_user.id"],
            name=op.f("fk_capacity_slot_published_by_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_slot")),
    )
    op.create_index(
        "ix_capacity_slot_department_start",
        "capacity_slot",
        ["department_id", "starts_at"],
        unique=False,
    )
    # earlier versions allowed several open referrals per request: keep the first one open
    op.execute(
        "UPDATE referral SET status = 'cancelled', "
        "cancelled_reason = '重复转诊 / duplicate referral' "
        "WHERE request_id IS NOT NULL AND status IN ('opened', 'accepted', 'arrived') "
        "AND id > (SELECT MIN(r2.id) FROM referral r2 WHERE r2.request_id = referral.request_id "
        "AND r2.status IN ('opened', 'accepted', 'arrived'))"
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("slot_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_referral_slot_id"), ["slot_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_referral_slot_id_capacity_slot"), "capacity_slot", ["slot_id"], ["id"]
        )
        batch_op.create_index(
            "uq_referral_open_request",
            ["request_id"],
            unique=True,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.alter_column("summary", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("uq_referral_open_request")
        batch_op.drop_constraint(
            batch_op.f("fk_referral_slot_id_capacity_slot"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_referral_slot_id"))
        batch_op.drop_column("slot_id")
        batch_op.drop_column("summary")
    op.drop_index("ix_capacity_slot_department_start", table_name="capacity_slot")
    op.drop_table("capacity_slot")
