"""keyset indexes: a model's versions and requests in id order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# ``WHERE model_id = ? AND id > ? ORDER BY id LIMIT n`` reads n entries of a (model_id, id)
# index; with (model_id) alone PostgreSQL sorts every row of the model for each page (SQLite's
# indexes end in the rowid, so its plan was already ordered). The (model_id, id) index of the
# versions also gives a page of models their counts and latest version ids from the index
# alone. requests(model_id, id) replaces requests(model_id), which it starts with. The other
# keyset orders have theirs: models by name (unique) and by (team, name) and (risk_tier, name),
# the queue by (status, id) (0007).
CREATED = (
    ("ix_versions_model_id_id", "versions", ["model_id", "id"]),
    ("ix_requests_model_id_id", "requests", ["model_id", "id"]),
)
REPLACED = (("ix_requests_model_id", "requests", ["model_id"]),)


def upgrade() -> None:
    for name, table, columns in CREATED:
        op.create_index(name, table, columns)
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    for name, table, _ in reversed(CREATED):
        op.drop_index(name, table_name=table)
