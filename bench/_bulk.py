"""Bulk inserts the benches share: models straight into the tables (not a use case)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select

from clearance.adapters.store.schema import ModelRow


def insert_models(conn: Any, count: int, created_at: dt.datetime) -> dict[str, int]:
    """``model-000`` … in ten teams, high risk; their ids by name."""
    conn.execute(
        insert(ModelRow),
        [
            {
                "name": f"model-{m:03d}",
                "risk_tier": "high",
                "owner": "owner@example.com",
                "team": f"team-{m % 10}",
                "tags": "{}",
                "created_at": created_at,
            }
            for m in range(count)
        ],
    )
    return dict(conn.execute(select(ModelRow.name, ModelRow.id)).all())
