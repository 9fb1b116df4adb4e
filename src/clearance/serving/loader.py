"""Load a model only after clearance says it serves and its bytes are the approved ones.

``verify`` asks the serving check (a workspace, or a server by URL and token), reads the
artifact's bytes once, hashes them itself and judges the answer (``verify.judge``).
``load`` does the same and then turns those very bytes (never the file read again) into a
model: pickle, joblib or ONNX by the artifact's suffix or ``format=``, or any ``loader=``
callable given the bytes. A directory artifact (an MLflow model) is copied into a private
folder first and hashed there with the MLflow import's digest rule; ``loader=`` gets the
copy's path (``clearance.serving.mlflow`` does that for pyfunc models).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clearance.errors import InputError
from clearance.serving.verify import ServingRefused, VerifiedServing, judge

if TYPE_CHECKING:
    from clearance.contract import Clearance
    from clearance.core.inference import InferenceRules, InferenceSpec
    from clearance.service.serving_check import ServingCheck

Format = Literal["pickle", "joblib", "onnx"]
SUFFIXES: dict[str, Format] = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".onnx": "onnx",
}
MAX_ARTIFACT_BYTES = 8 << 30  # what one artifact may weigh unless ``max_bytes`` says more
MAX_TREE_FILES = 100_000


@dataclass
class Artifact:
    """The artifact as read: a file's bytes, or a directory copied to a private folder."""

    where: str
    sha256: str
    name: str = ""  # what names its format (the registered URI, or the path given)
    data: bytes | None = None
    path: Path | None = None  # the private copy of a directory
    keep: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


@dataclass
class ServedModel:
    """A verified, loaded model; ``verified`` says what was checked, ``inference`` is the
    policy's input contract (pass it to ``InferenceGuard``)."""

    model: Any
    verified: VerifiedServing
    artifact: Artifact = field(repr=False)

    @property
    def inference(self) -> InferenceSpec | None:
        return self.verified.inference

    def rules(self) -> InferenceRules | None:
        from clearance.core.inference import compile_rules

        spec = self.verified.inference
        return compile_rules(spec) if spec is not None else None


@contextmanager
def connection(
    *,
    workspace: str | Path | None = None,
    url: str | None = None,
    token: str | None = None,
    client: Clearance | None = None,
) -> Iterator[Clearance]:
    """The transport: ``client`` as given, a server (``url``/``token``, else
    ``$CLEARANCE_URL``), or a workspace (``workspace``, else the one found here)."""
    if client is not None:
        yield client
        return
    if url is not None or (workspace is None and os.environ.get("CLEARANCE_URL")):
        from clearance.client import Client

        with Client(url, token) as remote:
            yield remote
        return
    from clearance.adapters.clock import SystemClock
    from clearance.local import LocalClearance
    from clearance.workspace import HOME, Workspace, find_workspace

    if workspace is None:
        yield LocalClearance(find_workspace())
        return
    root = Path(workspace).resolve()
    root = root.parent if root.name == HOME else root
    if not (root / HOME).is_dir():
        raise InputError(f"{workspace} holds no {HOME}: not a clearance workspace")
    yield LocalClearance(Workspace(root, SystemClock()))


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is not None:
        return now
    from clearance.adapters.clock import SystemClock

    return SystemClock().now()


def _source(check: ServingCheck, conn: Clearance, artifact: str | Path | None) -> Path:
    """Where the artifact's bytes are: as given, the workspace's stored copy, or a local
    path or file:// URI as registered."""
    if artifact is not None:
        return Path(artifact)
    art = check.artifact
    ws = getattr(conn, "ws", None)
    if art is not None and art.blob and ws is not None:
        stored: Path = ws.blobs.path(art.blob)
        if stored.is_file():
            return stored
    uri = art.uri if art is not None else None
    if uri and uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri and Path(uri).is_absolute():
        return Path(uri)
    raise ServingRefused(
        "artifact_unavailable",
        f"{check.model} {check.version}'s artifact is {uri!r}, which is not a local file here; "
        "pass artifact=PATH (--artifact) to the bytes to load",
    )


def read_artifact(path: Path, *, max_bytes: int = MAX_ARTIFACT_BYTES) -> Artifact:
    """The bytes to load, hashed once as they are read (a directory: a private copy)."""
    if path.is_dir():
        return _copy_tree(path, max_bytes)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ServingRefused(
            "artifact_unavailable", f"{path}: cannot read it ({exc.strerror or exc})"
        ) from None
    if len(data) > max_bytes:
        raise ServingRefused("artifact_unavailable", f"{path}: larger than {max_bytes} bytes")
    return Artifact(str(path), hashlib.sha256(data).hexdigest(), data=data)


def _copy_tree(root: Path, max_bytes: int) -> Artifact:
    """Copy a directory into a private folder and hash the copy (the MLflow import's rule:
    sha256 of the ``sha256sum`` listing sorted by path), so what is loaded is what was hashed."""
    from clearance.service.mlflow_import import artifact_listing

    keep = tempfile.TemporaryDirectory(prefix="clearance-serving-")
    copy = Path(keep.name) / "artifact"
    total, count = 0, 0

    def bounded(src: str, dst: str) -> None:
        nonlocal total, count
        count += 1
        total += Path(src).stat().st_size
        if count > MAX_TREE_FILES or total > max_bytes:
            raise ServingRefused(
                "artifact_unavailable",
                f"{root}: more than {MAX_TREE_FILES} files or {max_bytes} bytes",
            )
        shutil.copyfile(src, dst)

    try:
        shutil.copytree(root, copy, symlinks=False, copy_function=bounded)
        listing, _ = artifact_listing(copy)
    except ServingRefused:
        keep.cleanup()
        raise
    except OSError as exc:
        keep.cleanup()
        raise ServingRefused("artifact_unavailable", f"{root}: cannot copy it ({exc})") from None
    digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()
    return Artifact(str(root), digest, path=copy, keep=keep)


def verify_artifact(
    model: str,
    stage: str = "production",
    *,
    version: str | None = None,
    artifact: str | Path | None = None,
    workspace: str | Path | None = None,
    url: str | None = None,
    token: str | None = None,
    client: Clearance | None = None,
    public_key: bytes | None = None,
    now: dt.datetime | None = None,
    require_attestation: bool = True,
    max_bytes: int = MAX_ARTIFACT_BYTES,
) -> tuple[VerifiedServing, Artifact]:
    """The serving check judged for the artifact's bytes, and those bytes."""
    if public_key is not None and len(public_key) != 32:
        raise ValueError("public_key: the raw 32-byte Ed25519 key (bytes.fromhex(hex))")
    with connection(workspace=workspace, url=url, token=token, client=client) as conn:
        check = conn.serving_check(model, stage=stage, version=version)
        if check.version is None:
            judge(check, sha256="", now=_now(now))  # refuses with the check's own problem
        read = read_artifact(_source(check, conn, artifact), max_bytes=max_bytes)
        registered = check.artifact.uri if check.artifact is not None else None
        read.name = str(artifact) if artifact is not None else registered or read.where
    try:
        verified = judge(
            check,
            sha256=read.sha256,
            now=_now(now),
            public_key=public_key,
            require_attestation=require_attestation,
        )
    except BaseException:
        if read.keep is not None:
            read.keep.cleanup()
        raise
    return verified, read


def verify(model: str, stage: str = "production", **options: Any) -> VerifiedServing:
    """Check that ``model`` may serve from ``stage`` and that its artifact is the approved
    one; raises ``ServingRefused``. Options as ``load``'s, without ``loader``/``format``."""
    verified, read = verify_artifact(model, stage, **options)
    if read.keep is not None:
        read.keep.cleanup()
    return verified


def load(
    model: str,
    stage: str = "production",
    *,
    loader: Callable[[Any], Any] | None = None,
    format: Format | None = None,
    **options: Any,
) -> ServedModel:
    """Verify, then load the very bytes that were verified.

    Options: ``version`` (e.g. the canary), ``artifact`` (a path; default: the workspace's
    stored copy or the registered local path), ``workspace`` or ``url`` + ``token`` or
    ``client`` (the transport), ``public_key`` (raw 32 bytes: pin the key instead of trusting
    the keys the check lists), ``now``, ``require_attestation``, ``max_bytes``.
    """
    verified, read = verify_artifact(model, stage, **options)
    try:
        if loader is not None:
            loaded = loader(read.data if read.data is not None else read.path)
        else:
            loaded = _load_bytes(read, format)
    except BaseException:
        if read.keep is not None:
            read.keep.cleanup()
        raise
    return ServedModel(loaded, verified, read)


def _load_bytes(read: Artifact, format: Format | None) -> Any:
    kind = format or SUFFIXES.get(Path(read.name or read.where).suffix.lower())
    if read.data is None:
        raise InputError(
            f"{read.where} is a directory: pass loader= (or use clearance.serving.mlflow)"
        )
    if kind is None:
        raise InputError(
            f"{read.name or read.where}: no known suffix ({', '.join(SUFFIXES)}); pass "
            "format= or loader="
        )
    if kind == "pickle":
        import pickle

        return pickle.loads(read.data)
    module = {"joblib": "joblib", "onnx": "onnxruntime"}[kind]
    try:
        library = importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"loading a {kind} artifact needs {module}, which is not installed: "
            f"pip install {module} (or pass loader=)"
        ) from None
    if kind == "joblib":
        return library.load(io.BytesIO(read.data))
    return library.InferenceSession(read.data)
