"""The set-based reads analytics wants (``service.analytics.AnalyticsScan``).

Mixed into ``SqlTx``: decisions with their request's move and gate facts, and the audit trail's
registrations and stage changes, each in keyset pages of plain driver rows (no ORM objects).
A registration's payload is its whole record, so it is not read: only its time and subject.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from clearance.adapters.store.schema import AuditEventRow, DecisionRow, RequestRow

if TYPE_CHECKING:  # the rows' types come with the analytics service, loaded when it is used
    from clearance.service.analytics import DecisionRowIn, MoveRowIn

_MOVES = ("version.registered", "version.stage_changed")


class AnalyticsRepo:
    s: Session

    def analytics_decisions(self, *, after: int, limit: int) -> list[DecisionRowIn]:
        """Decisions with id above ``after``, in id order: their request's move and gate
        facts (the whole result only for a row without them)."""
        facts = DecisionRow.gate_facts
        stmt = (
            select(
                DecisionRow.id,
                DecisionRow.created_at,
                DecisionRow.policy_id,
                DecisionRow.outcome,
                case((facts.is_(None), DecisionRow.result), else_=None),
                RequestRow.model_id,
                RequestRow.from_stage,
                RequestRow.to_stage,
                RequestRow.change_type,
                facts,
            )
            .join(RequestRow, RequestRow.id == DecisionRow.request_id)
            .where(DecisionRow.id > after)
            .order_by(DecisionRow.id)
            .limit(limit)
        )
        from clearance.service.analytics import DecisionRowIn

        return [DecisionRowIn(*row) for row in self.s.execute(stmt)]

    def analytics_moves(self, *, after: int, limit: int) -> list[MoveRowIn]:
        """Registrations and stage changes with seq above ``after``, in seq order."""
        payload = case(
            (AuditEventRow.action == "version.stage_changed", AuditEventRow.payload), else_=None
        )
        stmt = (
            select(AuditEventRow.seq, AuditEventRow.time, AuditEventRow.model)
            .add_columns(AuditEventRow.subject, payload)
            .where(AuditEventRow.seq > after, AuditEventRow.action.in_(_MOVES))
            .order_by(AuditEventRow.seq)
            .limit(limit)
        )
        from clearance.service.analytics import MoveRowIn

        return [
            MoveRowIn(seq, dt.datetime.fromisoformat(time), model, subject, text)
            for seq, time, model, subject, text in self.s.execute(stmt)
        ]
