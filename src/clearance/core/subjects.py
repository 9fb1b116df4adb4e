"""Audit subjects: what an event is about, written as a path of ``kind:key`` steps.

``user:alice``, ``model:credit``, ``model:credit/version:7``, ``request:12``,
``policy:credit-risk@1.2.0``. A subject is hashed into the chain and keys the rows the trail
implies (``core.trail``, ``service.state``), so it is spelled here and nowhere else: a changed
spelling would orphan every older event.

A step splits at its first ``:`` (kinds hold none; keys may). The key of a kind that other
kinds live under (a model, a version, a request) holds no ``/`` (it is a name or a number,
see ``core.names``), so the first ``/`` after it starts the next step; the last step's key
may hold anything (an evidence name is free text). Numbers may be given as text: a payload
read back from the chain holds them as it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Kind = Literal[
    "user",
    "token",
    "model",
    "version",
    "evidence",
    "policy",
    "request",
    "approval",
    "decision",
    "rollout",
    "waiver",
]
KINDS: tuple[Kind, ...] = get_args(Kind)

PARENT: dict[Kind, Kind | None] = {
    "user": None,
    "token": None,
    "model": None,
    "version": "model",
    "evidence": "version",
    "policy": None,
    "request": None,
    "approval": "request",
    "decision": None,
    "rollout": None,
    "waiver": None,
}
"""The kind each kind lives under: a version's subject starts with its model's."""

_HAS_CHILDREN = frozenset(p for p in PARENT.values() if p is not None)


@dataclass(frozen=True)
class Subject:
    """A parsed subject: its steps from the outermost (``model``) to the one it names."""

    steps: tuple[tuple[Kind, str], ...]

    @property
    def kind(self) -> Kind:
        return self.steps[-1][0]

    @property
    def key(self) -> str:
        return self.steps[-1][1]

    def key_of(self, kind: Kind) -> str:
        """The key of the ``kind`` step (the model of a version, ...); KeyError if none."""
        for step, key in self.steps:
            if step == kind:
                return key
        raise KeyError(f"subject {self} has no {kind}")

    def child(self, kind: Kind, key: object) -> str:
        """The subject of a ``kind`` within this one (a version's evidence, ...)."""
        return _build(*self.steps, (kind, key))

    def __str__(self) -> str:
        return "/".join(f"{kind}:{key}" for kind, key in self.steps)


def _build(*steps: tuple[Kind, object]) -> str:
    subject = Subject(tuple((kind, str(key)) for kind, key in steps))
    _check(subject.steps, str(subject))
    return str(subject)


def _check(steps: tuple[tuple[Kind, str], ...], text: str) -> None:
    """Keys are non-empty, a parent's key holds no ``/``, steps nest as ``PARENT`` says."""
    parent: Kind | None = None
    for kind, key in steps:
        if PARENT[kind] != parent:
            where = f"under a {parent}" if parent else "on its own"
            raise ValueError(f"audit subject {text!r}: a {kind} does not stand {where}")
        if not key or (kind in _HAS_CHILDREN and "/" in key):
            raise ValueError(f"audit subject {text!r}: the {kind} key is empty or holds '/'")
        parent = kind


def parse(text: str) -> Subject:
    """The subject ``text`` names; ValueError when it is not one this module builds."""
    steps: list[tuple[Kind, str]] = []
    rest = text
    while True:
        kind, sep, rest = rest.partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(f"audit subject {text!r}: {kind!r} is not a kind of subject")
        if kind in _HAS_CHILDREN and "/" in rest:
            key, _, rest = rest.partition("/")
            steps.append((kind, key))
            continue
        steps.append((kind, rest))
        break
    _check(tuple(steps), text)
    return Subject(tuple(steps))


def user(name: str) -> str:
    return _build(("user", name))


def token(token_id: int | str) -> str:
    return _build(("token", token_id))


def model(name: str) -> str:
    return _build(("model", name))


def version(model_name: str, version_name: str) -> str:
    return _build(("model", model_name), ("version", version_name))


def evidence(model_name: str, version_name: str, name: str) -> str:
    return _build(("model", model_name), ("version", version_name), ("evidence", name))


def policy(name: str, policy_version: str) -> str:
    """``policy:NAME@VERSION``: one subject per applied version of a policy."""
    return _build(("policy", f"{name}@{policy_version}"))


def request(request_id: int | str) -> str:
    return _build(("request", request_id))


def approval(request_id: int | str, n: int) -> str:
    """The ``n``th signature (from 1) on a request, in the order they were given."""
    return _build(("request", request_id), ("approval", n))


def decision(decision_id: int | str) -> str:
    return _build(("decision", decision_id))


def rollout(rollout_id: int | str) -> str:
    return _build(("rollout", rollout_id))


def waiver(label: str) -> str:
    return _build(("waiver", label))
