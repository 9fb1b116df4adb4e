"""The other fakes keep their ports' promises: ``InMemoryBlobStore`` behaves as the
``FileBlobStore`` does, and ``RecordingNotifier`` records or fails as a ``Channel`` would."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from clearance.adapters.blobs import FileBlobStore
from clearance.notify.channels import DeliveryError
from clearance.notify.events import Notification
from clearance.service.ports import BlobStore
from clearance.testing import FixedClock, InMemoryBlobStore, RecordingNotifier

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["memory", "files"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return InMemoryBlobStore(FixedClock(T0))
    return FileBlobStore(tmp_path / "blobs")


def _corrupt(blobs: BlobStore, sha: str, data: bytes) -> None:
    if isinstance(blobs, FileBlobStore):
        blobs.path(sha).write_bytes(data)
    else:
        assert isinstance(blobs, InMemoryBlobStore)
        blobs.corrupt(sha, data)


def test_blobs_are_named_by_their_sha256(blobs: BlobStore, tmp_path: Path) -> None:
    card, weights = tmp_path / "card.md", tmp_path / "model.bin"
    card.write_text("# card\n")
    weights.write_bytes(b"\x00weights")
    sha, size = blobs.put_file(card)
    assert (sha, size) == (hashlib.sha256(b"# card\n").hexdigest(), 7)
    assert blobs.put_file(card) == (sha, size)  # the same bytes, the same blob
    other, _ = blobs.put_file(weights)
    assert blobs.read(sha) == b"# card\n" and blobs.has(other) and not blobs.has("0" * 64)
    blobs.verify(sha)
    stored = list(blobs.stored())
    assert [s for s, _ in stored] == sorted([sha, other])
    assert all(isinstance(t, dt.datetime) and t.tzinfo is not None for _, t in stored)
    blobs.remove(other)
    blobs.remove(other)  # already gone: nothing to do
    assert [s for s, _ in blobs.stored()] == [sha]


def test_a_changed_or_missing_blob_is_an_os_error(blobs: BlobStore, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("# card\n")
    sha, _ = blobs.put_file(card)
    _corrupt(blobs, sha, b"# forged\n")
    with pytest.raises(OSError, match="corrupted"):
        blobs.read(sha)
    with pytest.raises(OSError, match="corrupted"):
        blobs.verify(sha)
    blobs.remove(sha)
    with pytest.raises(FileNotFoundError):
        blobs.verify(sha)
    with pytest.raises(FileNotFoundError):
        blobs.read(sha)


def test_the_recording_notifier_keeps_what_was_sent_and_fails_when_told() -> None:
    notifier = RecordingNotifier("ops")
    n = Notification(
        id="gate-failed:1",
        event="gate_failed",
        model="credit",
        version="1",
        summary="auc_floor failed",
        policy="credit@1.0.0",
        occurred_at=T0,
    )
    notifier.fail_next(2, message="503 from the receiver")
    notifier.fail_next(retryable=False)
    for retryable in (True, True, False):
        with pytest.raises(DeliveryError) as failed:
            notifier.send(n)
        assert failed.value.retryable is retryable
    assert (notifier.sent, notifier.attempts, notifier.name) == ([], 3, "ops")
    notifier.send(n)
    assert (notifier.sent, notifier.events, notifier.attempts) == ([n], ["gate_failed"], 4)
