"""The MLflow use cases together, as the workspace offers them (``ws.mlflow``).

``register``  a version from ``models:/NAME/3``, ``models:/NAME@alias`` or ``runs:/RUN/path``
              (``mlflow_import``), then its first sync, which tags it in MLflow;
              ``import_version`` without the sync, for a caller that syncs after commit
``sync``      one model's write-back and check (``mlflow_sync``)
``after_move`` the hook after a promotion, a rollback or a canary step: ``sync``, but an
              MLflow that cannot be reached is reported, not raised (the move has
              committed; the next sync writes it); ``after_request`` for a request id
``reconcile`` every model registered from MLflow: ``clearance mlflow reconcile`` and ``tick``
``receive``   an MLflow registry webhook (``mlflow_webhooks``)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import ClearanceError
from clearance.service.mlflow_import import MlflowImport, parse_source
from clearance.service.mlflow_port import MlflowPort
from clearance.service.mlflow_settings import MlflowSettings
from clearance.service.mlflow_sync import MlflowSync, MlflowSyncResult
from clearance.service.mlflow_webhooks import MlflowWebhooks, WebhookOutcome
from clearance.service.ports import Clock, IdempotencyPort, Store
from clearance.service.records import VersionRecord
from clearance.service.registry import Registry


class MlflowRegistration(BaseModel):
    """A version registered from MLflow, and the sync that tagged it there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="The model's name in clearance.")
    version: VersionRecord
    sync: MlflowSyncResult | None = Field(
        description="Its first write-back to MLflow. None: from a run (no MLflow model "
        "version to tag), or made after this answer (a call with an Idempotency-Key commits "
        "with its answer, and MLflow is written after the commit)."
    )


_log = logging.getLogger("clearance.mlflow")


@dataclass(frozen=True)
class MlflowGovernance:
    store: Store
    clock: Clock
    registry: Registry
    mlflow: MlflowPort
    settings: MlflowSettings
    leases: IdempotencyPort  # syncs of one model take turns (``MlflowSync``)
    env: Mapping[str, str] = field(default_factory=dict)  # where the webhook secret is read
    # sends the alerts recorded so far through the notification channels (route, then send):
    # a hand move caught by a webhook is announced at once, not at the next tick
    alert_now: Callable[[], object] | None = None

    @property
    def syncer(self) -> MlflowSync:
        return MlflowSync(self.store, self.clock, self.mlflow, self.settings, self.leases)

    def register(
        self,
        uri: str,
        *,
        actor: str,
        model: str | None = None,
        version: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> MlflowRegistration:
        """``import_version``, then its first sync (tagging it in MLflow)."""
        out = self.import_version(
            uri,
            actor=actor,
            model=model,
            version=version,
            risk_tier=risk_tier,
            owner=owner,
            team=team,
            tags=tags,
        )
        return out.model_copy(update={"sync": self.after_move(out.model)})

    def import_version(
        self,
        uri: str,
        *,
        actor: str,
        model: str | None = None,
        version: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> MlflowRegistration:
        """Register the version ``uri`` names, not yet synced (``sync`` None): the contract's
        transports sync it once the registration has committed (``clearance.local``)."""
        importer = MlflowImport(self.store, self.registry, self.mlflow, self.settings)
        row = importer.register(
            uri,
            actor=actor,
            model=model,
            version=version,
            risk_tier=risk_tier,
            owner=owner,
            team=team,
            tags=tags,
        )
        # MLflow's name unless given: a run's needs ``model`` (the importer refused it without)
        name = model or parse_source(uri).name
        assert name is not None
        return MlflowRegistration(model=name, version=row, sync=None)

    def sync(self, model: str, *, revert: bool | None = None) -> MlflowSyncResult:
        return self.syncer.sync(model, revert=revert)

    def after_request(self, request_id: int) -> MlflowSyncResult | None:
        """``after_move`` for the model of a request (after approve, reject, reevaluate)."""
        with self.store.reading() as tx:
            request = tx.get_request(request_id)
            name = None if request is None else tx.model_by_id(request.model_id).name
        return None if name is None else self.after_move(name)

    def after_move(self, model: str) -> MlflowSyncResult | None:
        """None for a model that does not follow an MLflow model."""
        try:
            if not self.syncer.follows(model):
                return None
            return self.syncer.sync(model)
        except ClearanceError as exc:
            return MlflowSyncResult(model=model, mlflow_model="", error=str(exc))

    def reconcile(
        self,
        models: Iterable[str] | None = None,
        *,
        revert: bool | None = None,
        actor: str | None = None,
        operator: bool = False,
    ) -> list[MlflowSyncResult]:
        """Through the API (an ``actor``, not the ``operator``) it needs the ``tick`` roles."""
        return self.syncer.reconcile(models, revert=revert, actor=actor, operator=operator)

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        secret = self.env.get(self.settings.webhook_secret_env) or None
        outcome = MlflowWebhooks(self.syncer, self.clock, secret).receive(headers, body)
        if self.alert_now is not None and any(r.ungoverned for r in outcome.results):
            try:
                self.alert_now()
            except (ClearanceError, OSError) as exc:  # in the outbox: the next tick retries
                _log.warning("alerts of an MLflow webhook not sent now: %s", exc)
        return outcome
