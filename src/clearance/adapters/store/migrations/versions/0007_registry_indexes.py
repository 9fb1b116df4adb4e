"""registry indexes: the request queue, a page's models' requests, a team's or tier's models

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_requests_status_id", "requests", ["status", "id"]),
    ("ix_requests_model_id_status", "requests", ["model_id", "status"]),
    ("ix_models_team_name", "models", ["team", "name"]),
    ("ix_models_risk_tier_name", "models", ["risk_tier", "name"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
