"""Models, versions and their evidence, and policies."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import Response

from clearance.api.deps import UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute, before_body
from clearance.api.idempotency import HEADER, fingerprint, run_once
from clearance.api.problems import COMMON, UPLOAD, responses
from clearance.api.uploads import (
    check_digest,
    copy_limited,
    read_documents,
    staged,
)
from clearance.core.version import EvidenceItem, EvidenceKind
from clearance.errors import InputError
from clearance.service.records import PolicyRecord, VersionRecord

router = APIRouter(route_class=GuardedRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Retry-safe: the same key and request get the first call's response.",
    ),
]


def _digests(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"digests: not JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InputError('digests: a JSON object of file name to sha256, e.g. {"a.md": "…"}')
    return data


@router.post(
    "/versions",
    tags=["models"],
    status_code=201,
    summary="Register a model version from its manifest and the files it names.",
    response_model=VersionRecord,
    responses=responses(*COMMON, *UPLOAD, 403, 409),
)
@before_body("register")
def register(
    request: Request,
    user: UserDep,
    ws: WorkspaceDep,
    manifest: Annotated[UploadFile, File(description="The manifest (YAML or JSON).")],
    files: Annotated[
        list[UploadFile],
        File(description="Each file the manifest names, uploaded under its relative path."),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    digests: Annotated[
        str, Form(description="JSON object: uploaded file name → its sha256, checked.")
    ] = "",
    idempotency_key: IdempotencyKey = None,
) -> Response:
    settings = request.app.state.settings
    wanted = _digests(digests)
    name = str(_safe_manifest_name(manifest.filename))
    with staged([*files], wanted, settings.max_upload_bytes) as (root, sums):
        manifest_sha, _ = copy_limited(
            manifest.file, root / name, settings.max_document_bytes, name
        )
        print_ = fingerprint("register", manifest_sha, *sorted(f"{k}={v}" for k, v in sums.items()))

        def call() -> tuple[int, Any]:
            row = ws.registry.register(root / name, actor=user.name, confined=True)
            return 201, row.model_dump(mode="json")

        return run_once(request, ws, user.name, idempotency_key, print_, call)


def _safe_manifest_name(raw: str | None) -> str:
    name = (raw or "manifest.yaml").replace("\\", "/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "manifest.yaml"


@router.post(
    "/models/{model}/versions/{version}/evidence",
    tags=["evidence"],
    status_code=201,
    summary="Attach evidence: a file (digest-checked) or a URI with its sha256.",
    response_model=EvidenceItem,
    responses=responses(*COMMON, *UPLOAD, 403, 404),
)
@before_body("register")
def attach_evidence(
    request: Request,
    model: str,
    version: str,
    user: UserDep,
    ws: WorkspaceDep,
    name: Annotated[str, Form(min_length=1, description="Evidence name, e.g. model_card.")],
    kind: Annotated[EvidenceKind, Form()] = "document",
    file: Annotated[UploadFile | None, File(description="The evidence file.")] = None,
    uri: Annotated[str | None, Form(description="Where it lives, when not uploaded.")] = None,
    sha256: Annotated[
        str | None, Form(description="The content's sha256: checked against an upload.")
    ] = None,
) -> EvidenceItem:
    if file is None:
        return ws.registry.attach(
            model, version, name, uri=uri, sha256=sha256, kind=kind, actor=user.name
        )
    if uri is not None:
        raise InputError("give either a file or a uri, not both")
    limit: int = request.app.state.settings.max_upload_bytes
    upload_name = _safe_manifest_name(file.filename or name)
    with staged([], {}, limit) as (root, _):
        actual, _ = copy_limited(file.file, root / upload_name, limit, upload_name)
        check_digest(upload_name, actual, sha256)
        return ws.registry.attach(
            model, version, name, path=root / upload_name, kind=kind, actor=user.name
        )


@router.post(
    "/policies",
    tags=["policies"],
    status_code=201,
    summary="Apply a policy (one or more YAML files, merged as `clearance policy apply` does).",
    responses=responses(*COMMON, *UPLOAD, 403) | {200: {"description": "Already applied as is."}},
    response_model=PolicyRecord,
)
@before_body("policy")
def apply_policy(
    request: Request,
    user: UserDep,
    ws: WorkspaceDep,
    files: Annotated[list[UploadFile], File(description="The policy's YAML files.")],
) -> Response:
    limit: int = request.app.state.settings.max_document_bytes
    if not files:
        raise InputError("files: upload at least one policy file")
    record, new = ws.registry.apply_documents(read_documents(files, limit), actor=user.name)
    return Response(
        record.model_dump_json(), status_code=201 if new else 200, media_type="application/json"
    )
