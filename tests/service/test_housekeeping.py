"""Blobs: a refused registration stores none; GC removes only what nothing references."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

import pytest

from clearance.errors import InputError, NotPermitted

if TYPE_CHECKING:
    from conftest import Env


def blobs(env: Env) -> set[str]:
    return {sha for sha, _ in env.ws.blobs.stored()}


def test_a_registration_refused_by_role_copies_no_file(env: Env) -> None:
    before = blobs(env)
    with pytest.raises(NotPermitted):
        env.ws.registry.register(env.manifest("1", artifact=b"weights"), actor="bob")
    assert blobs(env) == before


def test_an_attachment_refused_by_role_copies_no_file(env: Env) -> None:
    env.register("1")
    before = blobs(env)
    card = env.card("card.md", "# a card nobody may attach\n")
    with pytest.raises(NotPermitted):
        env.ws.registry.attach(env.model, "1", "model_card", path=card, actor="bob")
    assert blobs(env) == before


def test_gc_removes_only_unreferenced_blobs_past_the_grace_period(env: Env) -> None:
    env.register("1", artifact=b"weights v1")
    kept = blobs(env)
    with pytest.raises(InputError, match="already registered"):
        env.register("1", artifact=b"weights that lost")  # copied, then refused
    orphan = hashlib.sha256(b"weights that lost").hexdigest()
    assert blobs(env) == kept | {orphan}

    env.clock.at = dt.datetime.now(dt.UTC)  # the blob was written just now: in its grace
    young = env.ws.housekeeping.collect_blobs(older_than=dt.timedelta(hours=1))
    assert (young.unreferenced, young.kept_young) == ([], 1)

    env.clock.at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    dry = env.ws.housekeeping.collect_blobs(older_than=dt.timedelta(hours=1), dry_run=True)
    assert (dry.unreferenced, dry.removed) == ([orphan], False)
    assert orphan in blobs(env)

    done = env.ws.housekeeping.collect_blobs(older_than=dt.timedelta(hours=1))
    assert done.unreferenced == [orphan]
    assert blobs(env) == kept
    assert all(env.ws.blobs.has(sha) for sha in kept)
