"""``secrets``: no credential in the artifact or the evidence files, by detect-secrets' detectors.

The gate reads the artifact's bytes and each evidence file through the evidence port (never
a path), opens zip and tar archives and gzip/bz2/xz streams member by member, and scans every
text file line by line with detect-secrets' plugins and default filters
(:mod:`clearance.core.secret_scan`). A finding is reported as ``file:line: type``: the secret
itself, or its hash, is never in the result (a hash would let anyone confirm a guess).

Binary files (a NUL byte in the first 8 KiB, or not UTF-8) are skipped and counted, as
detect-secrets skips them. A line carrying detect-secrets' ``pragma: allowlist secret``
comment (or after a ``pragma: allowlist nextline secret`` line) is not reported. ``allow``
entries name a reviewed finding by file, line and type, with a reason and an expiry date: one
applies while the evaluation's clock (``GateContext.now``) is on or before its expiry, the
same rule as the ``vulnerabilities`` gate's ``ignore``; then the finding counts again.

A file that cannot be scanned whole (over a size bound, an encrypted or damaged archive
member) makes the result an ``error``: a secret there would otherwise go unseen.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.hashing import sha256_bytes
from clearance.core.pickle_scan import ScanLimit
from clearance.core.results import GateStatus
from clearance.core.secret_scan import (
    DEFAULT_PLUGINS,
    ENTROPY_PLUGINS,
    PLUGIN_TYPES,
    SECRET_TYPES,
    Hit,
    LineScanner,
    ScanConfig,
    Walk,
    WalkLimits,
    as_text,
    walk,
)

MiB = 1 << 20
GiB = 1 << 30
_CEILINGS = {
    "max_bytes": 64 * GiB,
    "max_total_bytes": 256 * GiB,
    "max_text_bytes": 1 * GiB,
    "max_members": 10_000_000,
    "max_depth": 16,
}
_SHOWN = 5  # findings named in the message
_LISTED = 1000  # files listed in details


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _plugin(value: str) -> str:
    if value not in PLUGIN_TYPES:
        raise ValueError(
            f"unknown detect-secrets plugin '{value}'; known: {', '.join(PLUGIN_TYPES)}"
        )
    if value in ENTROPY_PLUGINS:
        kind = ENTROPY_PLUGINS[value]
        raise ValueError(f"enable {value} with {kind}_entropy_limit (0-8), not in plugins")
    return value


def _secret_type(value: str) -> str:
    if value not in SECRET_TYPES:
        known = ", ".join(sorted(SECRET_TYPES))
        raise ValueError(f"unknown secret type '{value}' (as findings name it); known: {known}")
    return value


Text = Annotated[str, AfterValidator(_text)]


class Allow(BaseModel):
    """A reviewed finding that does not count until ``expires``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: Text = Field(
        description="The file as findings name it: 'artifact', an evidence name, or a member "
        "('artifact!config/app.env')."
    )
    line: int | None = Field(default=None, ge=1, description="Its line; omitted: any line.")
    type: Annotated[str, AfterValidator(_secret_type)] = Field(
        description="The secret type as findings name it ('AWS Access Key', 'Private Key'...)."
    )
    reason: Text = Field(description="Why it is not a live secret, for the reviewer and the audit.")
    expires: dt.date = Field(description="Last day the allowance applies.")

    def covers(self, hit: Hit) -> bool:
        return self.file == hit.place and self.type == hit.type and self.line in (None, hit.line)


class SecretsParams(GateParams):
    check_artifact: bool = Field(
        default=True, description="Scan the artifact (an error if it cannot be read here)."
    )
    evidence: list[str] | None = Field(
        default=None,
        description="Evidence to scan; default: every attached item except datasets.",
    )
    plugins: list[Annotated[str, AfterValidator(_plugin)]] = Field(
        default_factory=lambda: list(DEFAULT_PLUGINS),
        min_length=1,
        description="detect-secrets plugins by class name; default: all but the entropy ones "
        "and IPPublicDetector.",
    )
    base64_entropy_limit: float | None = Field(
        default=None,
        ge=0,
        le=8,
        description="Enable Base64HighEntropyString: quoted base64 above this Shannon entropy.",
    )
    hex_entropy_limit: float | None = Field(
        default=None,
        ge=0,
        le=8,
        description="Enable HexHighEntropyString: quoted hex above this Shannon entropy.",
    )
    allow: list[Allow] = Field(default_factory=list)
    max_findings: int = Field(default=0, ge=0, description="Findings allowed (after allow).")
    max_reported: int = Field(default=100, ge=1, le=10_000, description="Findings listed.")
    max_bytes: int = Field(default=GiB, ge=1, le=_CEILINGS["max_bytes"])
    max_total_bytes: int = Field(default=4 * GiB, ge=1, le=_CEILINGS["max_total_bytes"])
    max_text_bytes: int = Field(
        default=16 * MiB,
        ge=1,
        le=_CEILINGS["max_text_bytes"],
        description="Text scanned in all (about 1 MiB a second); more is an error.",
    )
    max_members: int = Field(default=10_000, ge=1, le=_CEILINGS["max_members"])
    max_depth: int = Field(default=4, ge=0, le=_CEILINGS["max_depth"])
    max_line_chars: int = Field(
        default=4096,
        ge=256,
        le=1 << 20,
        description="Longer lines are scanned in overlapping windows of this many characters.",
    )

    # For `policy diff`: a larger size bound scans more instead of erroring, a longer window or
    # list changes no verdict; a higher entropy limit reports fewer strings (a loosening).
    strictness: ClassVar[dict[str, str]] = {
        "max_bytes": "neutral",
        "max_total_bytes": "neutral",
        "max_text_bytes": "neutral",
        "max_members": "neutral",
        "max_depth": "neutral",
        "max_line_chars": "neutral",
        "max_reported": "neutral",
        "base64_entropy_limit": "ceiling",
        "hex_entropy_limit": "ceiling",
    }

    @property
    def limits(self) -> WalkLimits:
        return WalkLimits(self.max_bytes, self.max_total_bytes, self.max_members, self.max_depth)

    @property
    def config(self) -> ScanConfig:
        return ScanConfig(
            tuple(self.plugins),
            self.base64_entropy_limit,
            self.hex_entropy_limit,
            self.max_line_chars,
        )


class _Tally:
    """What was scanned and found, over every file of one evaluation. Each finding is judged
    against ``allow`` as it comes; only the first ones are kept, so memory stays bounded
    whatever a file holds."""

    def __init__(self, params: SecretsParams, today: dt.date) -> None:
        self.allow = params.allow
        self.keep = params.max_reported
        self.today = today
        self.counted: list[Hit] = []  # the first ``keep``
        self.findings = 0
        self.by_type = Counter[str]()
        self.allowed: list[dict[str, str]] = []
        self.expired: list[dict[str, str]] = []
        self.used: set[int] = set()
        self.scanned: list[str] = []
        self.binary: list[str] = []
        self.lines = 0
        self.bytes = 0
        self.walk = Walk()

    def add(self, hit: Hit) -> None:
        rule = next(((i, a) for i, a in enumerate(self.allow) if a.covers(hit)), None)
        if rule is not None:
            self.used.add(rule[0])
            active = self.today <= rule[1].expires
            entries = self.allowed if active else self.expired
            if len(entries) < _LISTED:
                entries.append(
                    {
                        "finding": str(hit),
                        "reason": rule[1].reason,
                        "expires": rule[1].expires.isoformat(),
                    }
                )
            if active:
                return
        self.findings += hit.count
        self.by_type[hit.type] += hit.count
        if len(self.counted) < self.keep:
            self.counted.append(hit)


class Secrets:
    name: ClassVar[str] = "secrets"
    summary: ClassVar[str] = "No credential in the artifact or evidence files (detect-secrets)."
    Params: ClassVar[type[GateParams]] = SecretsParams

    @reports_problems
    def evaluate(self, params: SecretsParams, ctx: GateContext) -> Measurement:
        scanner = LineScanner(params.config)
        tally = _Tally(params, ctx.now.date())
        digests: dict[str, str] = {}
        try:
            for name, data in self._sources(params, ctx):
                digests[name] = sha256_bytes(data)
                self._scan(data, name, params, scanner, tally)
        except ScanLimit as exc:
            ceiling = _CEILINGS[exc.limit]
            return Measurement.error(
                f"not scanned: {exc}; raise the gate's {exc.limit} (at most {ceiling:,}) if "
                "the file is expected to be this large",
                details={"limit": exc.limit, "allowed": exc.allowed, "where": exc.where},
                evidence=digests,
            )
        return _judge(tally, params, digests)

    def _sources(self, params: SecretsParams, ctx: GateContext) -> Iterator[tuple[str, bytes]]:
        """(name, bytes) of the artifact and each evidence file to scan, one at a time (a
        GateProblem when one is missing, checked before any is read)."""
        names = params.evidence
        if names is None:
            names = sorted(n for n, e in ctx.version.evidence.items() if e.kind != "dataset")
        missing = [n for n in names if n not in ctx.version.evidence]
        if missing:
            known = ", ".join(sorted(ctx.version.evidence)) or "none"
            raise GateProblem(
                f"needs evidence {', '.join(repr(n) for n in missing)} to scan "
                f"(attached evidence: {known})",
                [f"evidence.{n}" for n in missing],
            )
        if not names and not params.check_artifact:
            raise GateProblem(
                "nothing to scan: check_artifact is off and no evidence is attached or named; "
                "name the files in evidence:",
                ["evidence"],
            )
        if params.check_artifact:
            yield "artifact", _artifact(ctx, params.max_bytes)
        for name in names:
            yield name, _evidence(ctx, name, params.max_bytes)

    def _scan(
        self, data: bytes, name: str, params: SecretsParams, scanner: LineScanner, tally: _Tally
    ) -> None:
        for place, content in walk(data, name, params.limits, tally.walk):
            text = as_text(content)
            if text is None:
                tally.binary.append(place)
                continue
            if tally.bytes + len(content) > params.max_text_bytes:
                raise ScanLimit("max_text_bytes", params.max_text_bytes, place)
            tally.scanned.append(place)
            tally.bytes += len(content)
            for hit in scanner.scan(text, place):
                tally.add(hit)
        tally.lines = scanner.lines


def _artifact(ctx: GateContext, max_bytes: int) -> bytes:
    artifact = ctx.version.artifact
    if artifact is None:
        raise GateProblem(
            "needs the artifact (artifact.path or artifact.uri) to scan it; set "
            "check_artifact: false to scan evidence only",
            ["artifact"],
        )
    try:
        data = ctx.evidence.read_artifact(max_bytes)
    except KeyError:
        raise GateProblem(
            f"cannot read the artifact at {artifact.uri} here; give artifact.path (a local "
            "file), or register the version with its artifact file",
            ["artifact"],
        ) from None
    except OSError as exc:
        raise GateProblem(
            f"cannot read the artifact at {artifact.uri}: {exc.strerror or exc}", ["artifact"]
        ) from None
    if len(data) > max_bytes:
        raise ScanLimit("max_bytes", max_bytes, "artifact")
    return data


def _evidence(ctx: GateContext, name: str, max_bytes: int) -> bytes:
    item = ctx.version.evidence[name]
    if item.size is not None and item.size > max_bytes:
        raise ScanLimit("max_bytes", max_bytes, name)
    try:
        return ctx.evidence.read_bytes(name)
    except KeyError:
        raise GateProblem(
            f"evidence '{name}' has no readable content here (referenced by URI only?); "
            "attach the file, or leave it out of evidence:",
            [f"evidence.{name}"],
        ) from None
    except OSError as exc:
        raise GateProblem(f"cannot read evidence '{name}': {exc.strerror or exc}") from None


def _judge(tally: _Tally, params: SecretsParams, digests: dict[str, str]) -> Measurement:
    counted, findings, expired = tally.counted, tally.findings, tally.expired
    details: dict[str, Any] = {
        "counts": dict(sorted(tally.by_type.items())),
        "findings": [_finding(h) for h in counted],
        "files_scanned": len(tally.scanned),
        "binary_skipped": len(tally.binary),
        "lines_scanned": tally.lines,
        "bytes_scanned": tally.bytes,
        "scanned": tally.scanned[:_LISTED],
        "skipped": tally.binary[:_LISTED],
        "archives": tally.walk.archives[:_LISTED],
        "plugins": list(scanner_names(params)),
        "allowed": tally.allowed,
        "expired_allowances": expired,
        "unused_allowances": [
            f"{a.file}:{a.line or '*'}: {a.type}"
            for i, a in enumerate(params.allow)
            if i not in tally.used
        ],
        "problems": [{"file": f, "problem": p} for f, p in tally.walk.problems],
    }
    common: dict[str, Any] = {
        "observed": findings,
        "threshold": params.max_findings,
        "operator": "<=",
        "margin": float(params.max_findings - findings),
        "details": details,
        "evidence": digests,
    }
    where = _where(tally)
    if expired:
        where += f"; {len(expired)} allowance(s) expired: " + ", ".join(
            f"{e['finding']} ({e['expires']})" for e in expired[:3]
        )
    if findings > params.max_findings:
        details["remediation"] = (
            "treat each secret found as leaked: revoke or rotate it at its issuer, then rebuild "
            "the artifact or evidence without it (read it from the environment or a secret "
            "store at run time). If a finding is not a live secret (a test fixture, an "
            "example), add an allow entry with its file, line, type, a reason and an expiry "
            "date, or a 'pragma: allowlist secret' comment on that line"
        )
        named = "; ".join(str(h) for h in counted[:_SHOWN])
        rest = findings - sum(h.count for h in counted[:_SHOWN])
        more = f" and {rest} more" if rest > 0 else ""
        return Measurement(
            GateStatus.FAIL,
            f"{findings} secret(s) found, over {params.max_findings}: {named}{more} ({where})",
            **common,
        )
    if tally.walk.problems:
        details["remediation"] = (
            "attach the files unencrypted, in a zip or tar archive this gate can open, or "
            "scan them before archiving and attach them as evidence"
        )
        first = "; ".join(f"{f}: {p}" for f, p in tally.walk.problems[:3])
        return Measurement.error(f"cannot scan every file: {first}", **common)
    found = f"{findings} secret(s), within {params.max_findings}" if findings else "no secret"
    return Measurement(GateStatus.PASS, f"{found} in {where}", **common)


def scanner_names(params: SecretsParams) -> list[str]:
    """The plugins a scan with these params runs."""
    names = list(params.plugins)
    if params.base64_entropy_limit is not None:
        names.append("Base64HighEntropyString")
    if params.hex_entropy_limit is not None:
        names.append("HexHighEntropyString")
    return names


def _where(tally: _Tally) -> str:
    text = f"{len(tally.scanned)} text file(s), {tally.lines:,} line(s)"
    if tally.binary:
        text += f"; {len(tally.binary)} binary file(s) skipped"
    return text


def _finding(hit: Hit) -> dict[str, Any]:
    return {
        "finding": str(hit),
        "file": hit.place,
        "line": hit.line,
        "type": hit.type,
        "count": hit.count,
    }
