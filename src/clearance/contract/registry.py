# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Models, versions, evidence and policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearance.contract.operations import Contract, operation
from clearance.service.paging import MAX_PAGE, every

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from datetime import date
    from pathlib import Path

    from clearance.contract.schemas import Cursor, Limit, Offset
    from clearance.core.audit import AuditEvent
    from clearance.core.version import EvidenceItem, EvidenceKind
    from clearance.service.backtest import (  # noqa: F401 (BacktestBody: named by body=)
        BacktestBody,
        BacktestOut,
        DecisionLimit,
        Documents,
        Workers,
    )
    from clearance.service.records import PolicyRecord, StoredEvidence, VersionRecord
    from clearance.service.registry import EvidenceText
    from clearance.service.views import CursorPage, ModelStatus, ModelSummary


class RegistryOps(Contract):
    # uploads: declared for every transport; the route and the SDK method are hand-written
    @operation(
        "POST",
        "/versions",
        service="registry",
        tags=("models",),
        errors=(403, 409),
        actor=True,
        idempotent=True,
        custom=True,
    )
    def register(
        self, manifest_path: str | Path, *, idempotency_key: str | None = None
    ) -> VersionRecord:
        """Register a model version from its manifest and the files it names."""

    @operation(
        "POST",
        "/models/{model}/versions/{version}/evidence",
        service="registry",
        tags=("evidence",),
        errors=(403, 404),
        actor=True,
        custom=True,
    )
    def attach(
        self,
        model: str,
        version: str,
        name: str,
        path: str | Path | None = None,
        *,
        uri: str | None = None,
        sha256: str | None = None,
        kind: EvidenceKind = "document",
    ) -> EvidenceItem:
        """Attach evidence: a file (digest-checked) or a URI with its sha256."""

    @operation(
        "POST",
        "/policies",
        service="registry",
        tags=("policies",),
        errors=(403,),
        actor=True,
        custom=True,
    )
    def apply_policy(self, path: str | Path) -> tuple[PolicyRecord, bool]:
        """Apply a policy (one or more YAML files, merged as `clearance policy apply` does);
        whether it is new (False: that exact version was applied already)."""

    # models, versions, evidence, policies --------------------------------------------------
    @operation(
        "GET", "/models", service="views", handler="models", tags=("models",), route="list_models"
    )
    def model_page(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> CursorPage[ModelSummary]:
        """Models by name, each with its production and latest versions and counts.

        A page of summaries, read set-based; a model's full status is ``GET /models/{model}``.
        Follow ``next`` (as ``cursor``) for the page after.
        """

    def models(
        self, *, risk_tier: str | None = None, team: str | None = None
    ) -> list[ModelSummary]:
        """Every model (of ``risk_tier`` / ``team``, when given) by name, summarised."""
        return every(
            lambda cursor: self.model_page(
                risk_tier=risk_tier, team=team, limit=MAX_PAGE, cursor=cursor
            )
        )

    @operation(
        "GET",
        "/models/{model}",
        service="views",
        handler="model_status",
        tags=("models",),
        errors=(404,),
        route="get_model",
    )
    def model(self, model: str) -> ModelStatus:
        """One model's status: versions, stages, open requests, emergency changes."""

    @operation(
        "GET",
        "/models/{model}/history",
        service="views",
        tags=("models",),
        errors=(404,),
        paged=True,
    )
    def history(self, model: str) -> list[AuditEvent]:
        """The model's audit events, oldest first."""

    @operation(
        "GET",
        "/models/{model}/versions",
        service="views",
        handler="versions",
        tags=("models",),
        errors=(404,),
        route="list_versions",
    )
    def version_page(
        self,
        model: str,
        *,
        stage: str | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> CursorPage[VersionRecord]:
        """The model's versions, oldest first."""

    def versions(self, model: str, *, stage: str | None = None) -> list[VersionRecord]:
        """Every version of the model (in ``stage``, when given), oldest first."""
        return every(
            lambda cursor: self.version_page(model, stage=stage, limit=MAX_PAGE, cursor=cursor)
        )

    @operation(
        "GET",
        "/models/{model}/versions/{version}",
        service="views",
        tags=("models",),
        errors=(404,),
        route="get_version",
    )
    def version(self, model: str, version: str) -> VersionRecord:
        """One version's registration record."""

    @operation(
        "GET",
        "/models/{model}/versions/{version}/evidence",
        service="views",
        tags=("evidence",),
        errors=(404,),
        route="list_evidence",
    )
    def evidence(self, model: str, version: str) -> list[StoredEvidence]:
        """Every evidence item attached to the version, in order (later supersedes)."""

    @operation(
        "GET",
        "/models/{model}/versions/{version}/evidence/{name}/content",
        service="registry",
        tags=("evidence",),
        errors=(404,),
        route="get_evidence_content",
    )
    def evidence_content(self, model: str, version: str, name: str) -> EvidenceText:
        """The text of an evidence document (its latest attachment under ``name``).

        Only a stored document of UTF-8 text up to 1 MiB: a reference whose content is not
        stored here is 404; a dataset or metrics file, binary or larger content is 422.
        """

    @operation(
        "GET", "/policies", service="views", tags=("policies",), paged=True, route="list_policies"
    )
    def policies(self, *, name: str | None = None) -> list[PolicyRecord]:
        """Applied policies (every version), newest last."""

    @operation(
        "GET", "/policies/{name}/{version}", service="views", tags=("policies",), errors=(404,)
    )
    def policy(self, name: str, version: str) -> PolicyRecord:
        """One applied policy version with its source files, exactly as applied."""

    @operation(
        "POST",
        "/policies/backtest",
        service="replays",
        handler="backtest",
        tags=("policies",),
        errors=(404,),
        status=200,
        body="BacktestBody",
        route="backtest_policy",
    )
    def backtest_policy(
        self,
        files: Documents,
        *,
        replaces: str | None = None,
        since: date | None = None,
        limit: DecisionLimit = 100_000,
        workers: Workers = 1,
    ) -> BacktestOut:
        """Decide every stored decision of a policy again under a proposed version of it.

        Each decision (of any applied version of the policy named ``replaces``, default the
        proposed policy's own name; made on or after ``since``; the newest ``limit``) is
        evaluated from its recorded inputs; the report lists the changed outcomes with the
        gates that moved, and the production versions whose latest decision would no longer
        pass. Nothing is stored.
        """
