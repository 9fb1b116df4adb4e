"""``unsafe_serialization``: the artifact would run no code outside a reviewed allowlist.

A pickle (and joblib, and PyTorch's zip format, which carry pickles) runs whatever callables
it names when it is loaded. The gate reads the artifact's bytes through the evidence port,
never loads them, lists every import its pickles would perform
(:mod:`clearance.core.artifact_scan`, :mod:`clearance.core.pickle_scan`) and blocks those the
rules do not allow (:mod:`clearance.core.pickle_rules`). Formats that hold no code
(safetensors, ONNX, JSON) pass by construction. ADR 0014 explains the choice of a reviewed
walker over fickling or modelscan.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from clearance.core.artifact_scan import ArtifactScan, ScanLimits, scan_artifact
from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.hashing import sha256_bytes
from clearance.core.pickle_rules import ImportRules, entry_problem, never_allowed
from clearance.core.pickle_scan import ScanLimit
from clearance.core.results import GateStatus

GiB = 1 << 30
_CEILINGS = {
    "max_bytes": 64 * GiB,
    "max_total_bytes": 256 * GiB,
    "max_members": 10_000_000,
    "max_depth": 16,
    "max_opcodes": 1_000_000_000,
}
_NO_CODE = {"safetensors", "onnx", "json"}
_SHOWN = 10  # blocked imports named in the message; all are in details


def _entry(value: str) -> str:
    problem = entry_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _allowed_entry(value: str) -> str:
    _entry(value)
    if never_allowed(value):
        raise ValueError(
            f"'{value}' runs code, reaches files or imports modules: it is never allowed"
        )
    return value


class UnsafeSerializationParams(GateParams):
    allow: list[Annotated[str, AfterValidator(_allowed_entry)]] = Field(
        default_factory=list, description="More imports to allow: module:name patterns."
    )
    deny: list[Annotated[str, AfterValidator(_entry)]] = Field(
        default_factory=list, description="Imports to block even if allowed: module:name patterns."
    )
    default_allowlist: bool = Field(
        default=True, description="Start from the built-in allowlist (numpy, sklearn, ...)."
    )
    max_bytes: int = Field(default=GiB, ge=1, le=_CEILINGS["max_bytes"])
    max_total_bytes: int = Field(default=4 * GiB, ge=1, le=_CEILINGS["max_total_bytes"])
    max_members: int = Field(default=10_000, ge=1, le=_CEILINGS["max_members"])
    max_depth: int = Field(default=4, ge=0, le=_CEILINGS["max_depth"])
    max_opcodes: int = Field(default=10_000_000, ge=1, le=_CEILINGS["max_opcodes"])

    @property
    def limits(self) -> ScanLimits:
        return ScanLimits(
            self.max_bytes, self.max_total_bytes, self.max_members, self.max_depth, self.max_opcodes
        )


_scans: dict[tuple[str, ScanLimits], ArtifactScan | ScanLimit] = {}


def _scan(data: bytes, sha: str, limits: ScanLimits) -> ArtifactScan:
    """Scanned once per (content, limits): a backtest reads the same artifact many times."""
    key = (sha, limits)
    found = _scans.get(key)
    if found is None:
        try:
            found = scan_artifact(data, limits)
        except ScanLimit as exc:
            found = exc
        if len(_scans) >= 64:
            _scans.clear()
        _scans[key] = found
    if isinstance(found, ScanLimit):
        raise found
    return found


class UnsafeSerialization:
    name: ClassVar[str] = "unsafe_serialization"
    summary: ClassVar[str] = "The artifact's pickles import nothing outside the allowlist."
    Params: ClassVar[type[GateParams]] = UnsafeSerializationParams

    def evaluate(self, params: UnsafeSerializationParams, ctx: GateContext) -> Measurement:
        artifact = ctx.version.artifact
        if artifact is None:
            return Measurement.error(
                "needs the artifact (artifact.path or artifact.uri) to inspect it",
                details={"missing": ["artifact"]},
            )
        try:
            data = ctx.evidence.read_artifact(params.max_bytes)
        except KeyError:
            return Measurement.error(
                f"cannot read the artifact at {artifact.uri} here; give artifact.path "
                "(a local file), or register the version with its artifact file",
                details={"missing": ["artifact"]},
            )
        except OSError as exc:
            return Measurement.error(
                f"cannot read the artifact at {artifact.uri}: {exc.strerror or exc}",
                details={"missing": ["artifact"]},
            )
        if len(data) > params.max_bytes:
            return self._limit(ScanLimit("max_bytes", params.max_bytes, "artifact"))
        sha = sha256_bytes(data)
        try:
            scan = _scan(data, sha, params.limits)
        except ScanLimit as exc:
            return self._limit(exc, sha)
        return self._result(scan, params, sha)

    def _limit(self, exc: ScanLimit, sha: str | None = None) -> Measurement:
        ceiling = _CEILINGS[exc.limit]
        return Measurement.error(
            f"artifact not inspected: {exc}; raise the gate's {exc.limit} (at most {ceiling:,}) "
            "if the artifact is expected to be this large, or store it as safetensors or ONNX",
            details={"limit": exc.limit, "allowed": exc.allowed, "where": exc.where},
            evidence={"artifact": sha} if sha else {},
        )

    def _result(
        self, scan: ArtifactScan, params: UnsafeSerializationParams, sha: str
    ) -> Measurement:
        rules = ImportRules(tuple(params.allow), tuple(params.deny), params.default_allowlist)
        imports: dict[str, dict[str, Any]] = {}
        blocked: list[dict[str, Any]] = []
        for found in scan.imports:
            verdict = rules.judge(found.imported)
            text = found.imported.text
            seen = imports.setdefault(
                text, {"import": text, "allowed": verdict.allowed, "files": []}
            )
            if found.place not in seen["files"]:
                seen["files"].append(found.place)
            if not verdict.allowed:
                blocked.append(
                    {
                        "import": text,
                        "file": found.place,
                        "offset": found.imported.offset,
                        "opcode": found.imported.opcode,
                        "reason": verdict.reason,
                    }
                )
        details: dict[str, Any] = {
            "formats": [{"file": f, "format": fmt} for f, fmt in scan.files],
            "imports": sorted(imports.values(), key=lambda i: (i["allowed"], i["import"])),
            "blocked": blocked[:1000],
            "problems": [{"file": f, "problem": p} for f, p in scan.problems],
            "opcodes": scan.opcodes,
            "data_members": scan.data_members,
            "sha256": sha,
        }
        common: dict[str, Any] = {
            "observed": len(blocked),
            "threshold": 0,
            "operator": "<=",
            "details": details,
            "evidence": {"artifact": sha},
        }
        if blocked:
            details["remediation"] = (
                "do not load this artifact. Rebuild it from reviewed code, or save it as "
                "safetensors or ONNX; if a blocked import is reviewed and harmless, add it to "
                "the gate's allow list (module:name)"
            )
            return Measurement(GateStatus.FAIL, _blocked_message(blocked), **common)
        if scan.problems:
            details["remediation"] = (
                "store the artifact in a format this gate can inspect (pickle, joblib, a "
                "PyTorch zip, safetensors, ONNX), uncompressed or with zlib/gzip/bz2/xz"
            )
            first = "; ".join(f"{f}: {p}" for f, p in scan.problems[:3])
            return Measurement.error(f"cannot inspect the artifact fully: {first}", **common)
        return Measurement(GateStatus.PASS, _clean_message(scan, len(imports)), **common)


def _blocked_message(blocked: list[dict[str, Any]]) -> str:
    names = list(dict.fromkeys(f"{b['import']} ({b['reason']})" for b in blocked))
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    files = sorted({b["file"] for b in blocked})
    return (
        f"{len(blocked)} import(s) outside the allowlist in {', '.join(files[:3])}: "
        + "; ".join(names[:_SHOWN])
        + more
    )


def _clean_message(scan: ArtifactScan, distinct: int) -> str:
    formats = sorted({fmt.split(" ")[0] for _, fmt in scan.files})
    if set(formats) <= _NO_CODE:
        return f"{', '.join(formats)}: holds no code by construction"
    return f"{distinct} distinct import(s), all allowed ({', '.join(formats)})"
