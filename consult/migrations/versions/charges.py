"""charges: the price catalogue, a charge per request with its lines, refunds (one per charge)
and the closed monthly settlements

Revision ID: charges13
Revises: longecg12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consult.db

revision = "charges13"
down_revision = "hisout13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charge_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "video_consult",
                "ecg_read",
                "imaging_read",
                "lab_test",
                name="requestkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "price_fen >= 0 AND price_fen <= 100000000", name=op.f("ck_charge_item_price_in_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_item")),
        sa.UniqueConstraint("code", name=op.f("uq_charge_item_code")),
    )
    op.create_table(
        "charge_settlement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("closed_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["app_user.id"], name=op.f("fk_charge_settlement_closed_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_charge_settlement_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_settlement")),
        sa.UniqueConstraint(
            "institution_id", "month", name=op.f("uq_charge_settlement_institution_id_month")
        ),
    )
    op.create_table(
        "charge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "due",
                "paid",
                "waived",
                "refunded",
                "void",
                name="chargestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "cash", "insurance", "online", name="paymentmethod", native_enum=False, length=32
            ),
            nullable=True,
        ),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("paid_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.Integer(), nullable=True),
        sa.Column("waived_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waived_by", sa.Integer(), nullable=True),
        sa.Column("waive_reason", sa.Text(), nullable=False),
        sa.Column("voided_at", consult.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount_fen >= 0 AND amount_fen <= 100000000", name=op.f("ck_charge_amount_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_charge_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["paid_by"], ["app_user.id"], name=op.f("fk_charge_paid_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_charge_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_request.id"],
            name=op.f("fk_charge_request_id_diagnostic_request"),
        ),
        sa.ForeignKeyConstraint(
            ["waived_by"], ["app_user.id"], name=op.f("fk_charge_waived_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge")),
        sa.UniqueConstraint("request_id", name=op.f("uq_charge_request_id")),
    )
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charge_institution_created", ["institution_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_charge_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "charge_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("unit_fen", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "quantity >= 1 AND quantity <= 100", name=op.f("ck_charge_line_quantity_in_range")
        ),
        sa.CheckConstraint(
            "unit_fen >= 0 AND unit_fen <= 100000000", name=op.f("ck_charge_line_unit_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charge.id"], name=op.f("fk_charge_line_charge_id_charge")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_line")),
    )
    with op.batch_alter_table("charge_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charge_line_charge_id"), ["charge_id"], unique=False)

    op.create_table(
        "charge_refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "cash", "insurance", "online", name="paymentmethod", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", consult.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "amount_fen > 0 AND amount_fen <= 100000000",
            name=op.f("ck_charge_refund_amount_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charge.id"], name=op.f("fk_charge_refund_charge_id_charge")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_charge_refund_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_charge_refund_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_refund")),
        sa.UniqueConstraint("charge_id", name=op.f("uq_charge_refund_charge_id")),
    )
    with op.batch_alter_table("charge_refund", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charge_refund_institution_created", ["institution_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("charge_refund", schema=None) as batch_op:
        batch_op.drop_index("ix_charge_refund_institution_created")

    op.drop_table("charge_refund")
    with op.batch_alter_table("charge_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_line_charge_id"))

    op.drop_table("charge_line")
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_patient_id"))
        batch_op.drop_index("ix_charge_institution_created")

    op.drop_table("charge")
    op.drop_table("charge_settlement")
    op.drop_table("charge_item")
