"""Exceptions for the system going wrong or input being invalid.

A failing gate is never an exception: it is a ``GateResult``. Exceptions are for input that
cannot be used and for the system itself failing. Every message says what happened and
what to do next, in one line a person can act on.

    ClearanceError
    ├── InputError              bad input from a person or a file (exit code 2)
    │   ├── PolicyError         a policy file is malformed; carries located ``Problem`` s
    │   ├── ManifestError       a model manifest is malformed or names a missing file
    │   ├── NotFound            an unknown model, version, stage, gate type ...
    │   └── TransitionRefused   the policy does not allow the requested move
    ├── ApprovalError           an approval that the rules refuse (self-approval, wrong role)
    ├── NotPermitted            the acting user's roles do not allow the action (exit code 1)
    ├── Unauthenticated         no valid API token (missing, unknown, expired or revoked)
    ├── AuditChainBroken        the audit trail does not verify
    ├── ServingRefused          a model may not be served (``clearance.serving``; exit code 1)
    └── StoreError              the store failed or its schema is out of date
        └── StoreConflict       a concurrent change won (unique slot, same version): retry
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in which file a problem is: 1-based line and column, as editors show them."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One located finding in an input file; ``severity`` is ``error`` or ``warning``."""

    location: Location
    field: str
    message: str
    severity: str = "error"
    code: str = "invalid"

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.location}: {self.severity}: {where}{self.message}"


class ClearanceError(Exception):
    """Base of every error clearance raises on purpose."""

    exit_code = 2


class InputError(ClearanceError):
    """Input cannot be used as given; nothing was changed."""


class PolicyError(InputError):
    """A policy (one file or a directory of files) is invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ManifestError(InputError):
    """A model manifest is invalid or names a file that is not there."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NotFound(InputError):
    """Something named does not exist (model, version, stage, gate type)."""


class TransitionRefused(InputError):
    """The policy does not allow the requested stage transition."""


class ApprovalError(ClearanceError):
    """An approval or rejection that the approval rules refuse."""

    exit_code = 1


class NotPermitted(ClearanceError):
    """The acting user holds no role that the policy or the server grants this action."""

    exit_code = 1


class Unauthenticated(ClearanceError):
    """A request to the server without a valid token; says which check failed, never the token."""


class AuditChainBroken(ClearanceError):
    """The audit trail does not verify."""

    exit_code = 1


class StoreError(ClearanceError):
    """The store failed, or its schema needs an upgrade."""


class StoreConflict(StoreError):
    """A concurrent change took what this one needed (a unique slot or key); nothing changed."""
