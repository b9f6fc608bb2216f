"""modality worklist: one live scheduled procedure step a station slot (no double booking)

Revision ID: slot14
Revises: mwl13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "slot14"
down_revision = "mwl13"
branch_labels = None
depends_on = None

HELD = "station_aet != '' AND status != 'DISCONTINUED'"


def upgrade() -> None:
    with op.batch_alter_table("worklist_step", schema=None) as batch_op:
        batch_op.create_index(
            "uq_worklist_step_slot",
            ["station_aet", "start_date", "start_time"],
            unique=True,
            sqlite_where=sa.text(HELD),
            postgresql_where=sa.text(HELD),
        )


def downgrade() -> None:
    with op.batch_alter_table("worklist_step", schema=None) as batch_op:
        batch_op.drop_index("uq_worklist_step_slot")
