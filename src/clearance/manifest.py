"""Model manifests: one model version and its evidence, described in a YAML or JSON file.

The stateless way in (``clearance check``): paths resolve against the manifest's folder,
every named file must exist, and each file's sha256 is computed once here, so the engine
and its gates only ever see content-addressed evidence. ``read_manifest`` says which local
files a manifest names; :func:`clearance.adapters.evidence.load_manifest` pairs the version
with a reader of those files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from clearance.core.column_roles import ColumnMapping
from clearance.core.loading import pydantic_problems
from clearance.core.names import Name
from clearance.core.policy import RiskTier
from clearance.core.version import (
    SHA256,
    Champion,
    EvidenceItem,
    EvidenceKind,
    Lineage,
    ModelInfo,
    ModelVersion,
    Params,
    refuse_odd,
)
from clearance.core.yamlsource import Positions, YamlProblems, format_path, parse_yaml
from clearance.dataset_sources import SourceSpec, TableSource, source_digest, source_files
from clearance.errors import Location, ManifestError, Problem


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FileRef(_Spec):
    """A file by ``path`` (relative to the manifest) or by ``uri``, with an optional sha256."""

    path: StrictStr | None = None  # strict: a value that is not text is never read as a path
    uri: StrictStr | None = None
    sha256: Annotated[str, Field(pattern=SHA256)] | None = None

    @model_validator(mode="after")
    def _one_place(self) -> FileRef:
        if (self.path is None) == (self.uri is None):
            raise ValueError("give exactly one of path or uri")
        return self


class EvidenceRef(FileRef):
    kind: EvidenceKind = "document"
    columns: ColumnMapping | None = None  # a dataset's column roles (label, score, ...)
    source: SourceSpec | None = None  # a dataset read by an engine (docs/warehouse.md)

    @model_validator(mode="after")
    def _one_place(self) -> EvidenceRef:  # replaces FileRef's: a source is a third place
        if sum(v is not None for v in (self.path, self.uri, self.source)) != 1:
            raise ValueError("give exactly one of path, uri or source")
        return self


class ManifestModel(_Spec):
    name: Name
    risk_tier: RiskTier = "medium"
    owner: str = ""
    team: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class Manifest(_Spec):
    """The file format; ``version: 3`` or ``version: 1.2`` are read as the text written."""

    api_version: Annotated[Literal["clearance/v1"], Field(alias="apiVersion")]
    kind: Literal["ModelManifest"]
    model: ManifestModel
    version: Name
    stage: str | None = None
    artifact: FileRef | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: Params = Field(default_factory=dict)
    features: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    champion: Champion | None = None
    evidence: dict[str, EvidenceRef] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        """Refuse, anywhere in the file, what cannot be digested or stored: NaN, infinity,
        integers past 64 bits, NUL characters."""
        return refuse_odd(data, plain=True)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ManifestFiles:
    """The local files a manifest names: evidence by name, and the artifact."""

    paths: dict[str, Path]
    artifact_path: Path | None
    sources: dict[str, TableSource] = field(default_factory=dict)  # datasets an engine reads


def local_files(manifest: Path) -> dict[str, Path]:
    """Name as written -> file, for every local file the manifest names: what a client
    uploads with it, under the names the server's loader will look for (confined)."""
    version, files = read_manifest(manifest, confined=True)
    named = [(version.evidence[name].uri, path) for name, path in files.paths.items()]
    if version.artifact is not None and files.artifact_path is not None:
        named.append((version.artifact.uri, files.artifact_path))
    out: dict[str, Path] = {}
    for raw, path in named:
        written = posixpath.normpath(raw.replace("\\", "/"))
        if posixpath.isabs(written):
            problem = f"'{raw}' must be a relative path to register it on a server"
            raise ManifestError([Problem(Location(str(manifest)), "", problem)])
        out[written] = path
    return out


def read_manifest(
    path: Path | str, *, confined: bool = False
) -> tuple[ModelVersion, ManifestFiles]:
    """Read a manifest; raise ``ManifestError`` with located problems on any fault.

    ``confined``: every file it names must resolve inside the manifest's own folder (the
    server's upload staging folder, and what a client uploads): checked here, on the values
    the loader itself reads, so no other parse of the manifest can disagree.
    """
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ManifestError([Problem(Location(str(file)), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([Problem(Location(str(file)), "", f"cannot read: {exc}")]) from None
    try:
        data, positions = parse_yaml(text, str(file))
    except YamlProblems as exc:
        raise ManifestError(exc.problems) from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(pydantic_problems(exc, positions)) from None
    return _resolve(manifest, file.parent, positions, confined=confined)


def _resolve(
    manifest: Manifest, base: Path, positions: Positions, *, confined: bool
) -> tuple[ModelVersion, ManifestFiles]:
    problems: list[Problem] = []
    files: dict[str, Path] = {}
    items: dict[str, EvidenceItem] = {}
    within = base.resolve() if confined else None
    sources: dict[str, TableSource] = {}
    for name, ref in manifest.evidence.items():
        if ref.source is not None:
            items[name], sources[name] = _source_item(name, ref, base, within, positions, problems)
            continue
        item, local = _evidence_item(name, ref, base, within, positions, problems)
        items[name] = item
        if local is not None:
            files[name] = local
    artifact_path: Path | None = None
    if manifest.artifact is not None and manifest.artifact.path is not None:
        artifact_path = _local(
            manifest.artifact.path, base, within, ("artifact", "path"), positions, problems
        )
    if problems:
        raise ManifestError(problems)
    version = ModelVersion(
        model=ModelInfo(**manifest.model.model_dump()),
        version=str(manifest.version),
        stage=manifest.stage,
        artifact=None
        if manifest.artifact is None
        else {
            "uri": manifest.artifact.path or manifest.artifact.uri,
            "sha256": manifest.artifact.sha256,
        },
        lineage=manifest.lineage,
        metrics=manifest.metrics,
        params=manifest.params,
        features=manifest.features,
        tags=manifest.tags,
        champion=manifest.champion,
        evidence=items,
    )
    return version, ManifestFiles(files, artifact_path, sources)


def _source_item(
    name: str, ref: EvidenceRef, base: Path, within: Path | None, positions: Positions,
    problems: list[Problem],
) -> tuple[EvidenceItem, TableSource]:  # fmt: skip
    """A dataset an engine reads: its files' digest is the evidence's sha256."""
    assert ref.source is not None
    source = ref.source.table_source()
    engine = source.engine
    field_path = ("evidence", name, "source", engine, "path" if source.path else "database")
    sha, size = None, None
    try:
        files = source_files(source, base, within)
        sha, size = source_digest(files, base)
    except (ValueError, OSError) as exc:
        problems.append(Problem(positions.locate(field_path), format_path(field_path), str(exc)))
    else:  # the engine reads exactly the files digested, even if another lands meanwhile
        source = dataclasses.replace(source, files=tuple(files))
    item = EvidenceItem(
        name=name, kind=ref.kind, uri=source.describe(), sha256=sha, size=size, columns=ref.columns
    )
    return item, source


def _evidence_item(
    name: str,
    ref: EvidenceRef,
    base: Path,
    within: Path | None,
    positions: Positions,
    problems: list[Problem],
) -> tuple[EvidenceItem, Path | None]:
    if ref.uri is not None and urlparse(ref.uri).scheme not in ("", "file"):
        item = EvidenceItem(
            name=name, kind=ref.kind, uri=ref.uri, sha256=ref.sha256, columns=ref.columns
        )
        return item, None
    raw = ref.path if ref.path is not None else urlparse(str(ref.uri)).path
    field = "path" if ref.path is not None else "uri"
    local = _local(raw, base, within, ("evidence", name, field), positions, problems)
    if local is None:
        return EvidenceItem(name=name, kind=ref.kind, uri=raw, columns=ref.columns), None
    actual = file_sha256(local)
    if ref.sha256 is not None and ref.sha256 != actual:
        path = ("evidence", name, "sha256")
        problems.append(
            Problem(
                positions.locate(path),
                format_path(path),
                f"recorded sha256 {ref.sha256[:12]}… but {raw} has {actual[:12]}…; "
                "the file changed after it was recorded",
            )
        )
    size = local.stat().st_size
    item = EvidenceItem(
        name=name, kind=ref.kind, uri=raw, sha256=actual, size=size, columns=ref.columns
    )
    return item, local


def _local(
    raw: str,
    base: Path,
    within: Path | None,
    path: tuple[str, ...],
    positions: Positions,
    problems: list[Problem],
) -> Path | None:
    """The file ``raw`` names, resolved (symlinks too) and, when ``within``, kept inside it."""
    local = (base / raw).resolve()
    if within is not None and not local.is_relative_to(within):
        problems.append(
            Problem(
                positions.locate(path),
                format_path(path),
                f"'{raw}' must be a relative path inside the manifest's folder "
                "(no absolute paths, no ..)",
            )
        )
        return None
    if not local.is_file():
        problems.append(
            Problem(
                positions.locate(path),
                format_path(path),
                f"file not found: {raw} (looked for {local})",
            )
        )
        return None
    return local
