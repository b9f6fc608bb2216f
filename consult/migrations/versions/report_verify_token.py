"""printed reports: each signed report version's random verification token

Revision ID: verify12
Revises: longecg12
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "verify12"
down_revision = "second13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verify_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_report_verify_token"), ["verify_token"])
    report = sa.table(
        "report",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("verify_token", sa.String),
    )
    bind = op.get_bind()
    signed: list[int] = list(
        bind.execute(sa.select(report.c.id).where(report.c.status != "draft")).scalars()
    )
    for report_id in signed:  # -- one random token each: no SQL function is random enough --
        bind.execute(
            report.update()
            .where(report.c.id == report_id)
            .values(verify_token=secrets.token_urlsafe(24))
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_report_verify_token"), type_="unique")
        batch_op.drop_column("verify_token")
