"""decisions.gate_facts: what analytics reads of each decision, written with it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from clearance.core.analytics import gate_facts
from clearance.core.hashing import canonical_json

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# A first analytics read of 100k decisions parsed every whole result (about 4 KB each) for
# four values a gate; the column holds just those. Existing rows are filled here, in pages,
# by the same rule the store writes new ones with.
PAGE = 2000


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("gate_facts", sa.Text(), nullable=True))
    decisions = sa.table(
        "decisions", sa.column("id", sa.Integer), sa.column("result", sa.Text),
        sa.column("gate_facts", sa.Text),
    )  # fmt: skip
    conn = op.get_bind()
    after = 0
    while True:
        page = conn.execute(
            sa.select(decisions.c.id, decisions.c.result)
            .where(decisions.c.id > after)
            .order_by(decisions.c.id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        conn.execute(
            decisions.update()
            .where(decisions.c.id == sa.bindparam("row_id"))
            .values(gate_facts=sa.bindparam("facts")),
            [{"row_id": i, "facts": canonical_json(gate_facts(_parsed(text)))} for i, text in page],
        )
        after = page[-1][0]


def _parsed(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("gate_facts")
