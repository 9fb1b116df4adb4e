"""The one table of errors to problem types, shared by the server and the SDK.

Each clearance exception maps to an HTTP status and a problem ``type`` slug
(``urn:clearance:problem:<slug>``); the server answers with it (``api/problems.py``) and the
SDK (``client.py``) turns it back into the same exception and decides retries by it. This
module imports nothing but the exceptions, so the SDK does not load the server's stack.
"""

from __future__ import annotations

from typing import NamedTuple

from clearance.errors import (
    ApprovalError,
    AuditChainBroken,
    ClearanceError,
    InputError,
    ManifestError,
    NotFound,
    NotPermitted,
    PolicyError,
    StoreConflict,
    StoreError,
    TransitionRefused,
    Unauthenticated,
)


class TooLarge(InputError):
    """An upload over the server's size limit (HTTP 413)."""


class InProgress(StoreConflict):
    """A retry that overtook the first call with its ``Idempotency-Key`` (HTTP 409): the
    first call still holds the key, so asking again a little later is safe."""


class Kind(NamedTuple):
    """One kind of problem: the exception, its status, its type's slug and title, and
    whether a client may send the same call again (``retry``; the SDK asks ``RETRYABLE``)."""

    error: type[ClearanceError]
    status: int
    slug: str
    title: str
    retry: bool = False


# The one table of exceptions to problems, for the server and the SDK (client.py); the first
# match wins, so subclasses come first.
KINDS: list[Kind] = [
    Kind(Unauthenticated, 401, "unauthenticated", "Not authenticated"),
    Kind(NotPermitted, 403, "not-permitted", "Not permitted"),
    Kind(ApprovalError, 403, "approval-refused", "Approval refused"),
    Kind(NotFound, 404, "not-found", "Not found"),
    Kind(TransitionRefused, 409, "transition-refused", "Transition refused"),
    Kind(TooLarge, 413, "too-large", "Content too large"),
    Kind(PolicyError, 422, "invalid-policy", "Invalid policy"),
    Kind(ManifestError, 422, "invalid-manifest", "Invalid manifest"),
    Kind(InProgress, 409, "in-progress", "Still in progress", retry=True),
    Kind(StoreConflict, 409, "conflict", "Conflict"),
    Kind(AuditChainBroken, 409, "audit-chain-broken", "Audit chain broken"),
    Kind(StoreError, 503, "store-unavailable", "Store unavailable", retry=True),
    Kind(InputError, 422, "invalid-input", "Invalid input"),
    Kind(ClearanceError, 422, "invalid-input", "Invalid input"),
]
RETRYABLE = frozenset(kind.slug for kind in KINDS if kind.retry)
