"""OSV advisories, read offline: which package versions they affect, and how severe they are.

The OSV schema (https://ossf.github.io/osv-schema/) names a package by ecosystem and name and
lists affected versions explicitly (``versions``) and/or as ``ranges`` of events
(``introduced``, ``fixed``, ``last_affected``). A file holds one advisory, a list of them, or
``{"vulns": [...]}`` (the osv.dev query answer). Withdrawn advisories are skipped; ``GIT``
ranges (commits, not versions) are ignored.

Version order: PEP 440 for PyPI (written out here, to keep the core free of ``packaging``;
tests compare it with ``packaging``), SemVer 2.0 for ``SEMVER`` ranges. A range this module
cannot order (another ecosystem's ``ECOSYSTEM`` range, a version that does not parse) counts
the package as affected: an advisory is never dropped because it could not be evaluated.

Severity, in order: the advisory's (or the affected entry's) ``severity`` list — a CVSS v3
vector's base score (computed here, per the CVSS v3.1 specification) or an ``Ubuntu`` rating
— then ``database_specific.severity`` (GitHub's ``LOW``/``MODERATE``/``HIGH``/``CRITICAL``);
else unknown. CVSS v2 and v4 vectors are not scored (v4 has no closed formula): such
advisories fall back to ``database_specific.severity``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
_WORDS: dict[str, Severity] = {
    "low": "low",
    "negligible": "low",
    "moderate": "medium",
    "medium": "medium",
    "high": "high",
    "important": "high",
    "critical": "critical",
}
_PURL_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "maven": "Maven",
    "golang": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "nuget": "NuGet",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
}


class AdvisoryError(ValueError):
    """The advisory file is not OSV JSON; the message says where."""


def normalize(ecosystem: str, name: str) -> str:
    """A package name as the ecosystem compares it (PEP 503 for PyPI; as written otherwise)."""
    if ecosystem.lower() == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def purl_package(purl: str) -> tuple[str, str, str | None] | None:
    """(ecosystem, name, version) of a package URL ``pkg:type/namespace/name@version``."""
    if not purl.startswith("pkg:"):
        return None
    body = purl[4:].split("?", 1)[0].split("#", 1)[0]
    kind, _, rest = body.partition("/")
    path, _, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    ecosystem = _PURL_ECOSYSTEMS.get(kind.lower())
    if ecosystem is None or not path:
        return None
    name = _unquote(path)
    if ecosystem == "Maven":
        name = name.replace("/", ":")
    return ecosystem, name, _unquote(version) or None


def _unquote(text: str) -> str:
    """Percent-decoding of a purl segment (``%40`` is ``@``)."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), text)


# -- versions --------------------------------------------------------------------------------

_PEP440 = re.compile(
    r"""^\s*v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_INF = math.inf


def pep440_key(version: str) -> tuple[Any, ...] | None:
    """A sort key ordering versions as PEP 440 does; None when ``version`` is not PEP 440."""
    m = _PEP440.match(version) if len(version) <= 256 else None
    if m is None:
        return None
    release = [int(p) for p in m["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre: tuple[float, int] = (_INF, 0)
    if m["pre_l"]:
        pre = (_PRE[m["pre_l"].lower()], int(m["pre_n"] or 0))
    post_n = m["post_n1"] or m["post_n2"]
    post: float = int(post_n or 0) if (m["post_n1"] or m["post_l"]) else -_INF
    dev: float = int(m["dev_n"] or 0) if m["dev_l"] else _INF
    if m["dev_l"] and not m["pre_l"] and post == -_INF:
        pre = (-_INF, 0)  # 1.0.dev0 sorts before 1.0a0
    local: tuple[tuple[int, Any], ...] = ()
    if m["local"]:
        parts = re.split(r"[-_.]", m["local"].lower())
        local = tuple((1, int(p)) if p.isdigit() else (0, p) for p in parts)
    return (int(m["epoch"] or 0), tuple(release), pre, post, dev, (bool(local), local))


_SEMVER = re.compile(
    r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(version: str) -> tuple[Any, ...] | None:
    """SemVer 2.0 precedence (build metadata ignored); None when it does not parse."""
    m = _SEMVER.match(version) if len(version) <= 256 else None
    if m is None:
        return None
    core = tuple(int(m[i]) for i in (1, 2, 3))
    if m[4] is None:
        return (core, (1,))
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in m[4].split("."))
    return (core, (0, ids))


# -- severity --------------------------------------------------------------------------------

_CVSS3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(x: float) -> float:
    """CVSS v3.1's Roundup: the smallest one-decimal number >= x, free of float noise."""
    scaled = round(x * 100_000)
    return scaled / 100_000.0 if scaled % 10_000 == 0 else (scaled // 10_000 + 1) / 10.0


def cvss3_score(vector: str) -> float | None:
    """The base score of a CVSS v3.0/v3.1 vector, or None when it is not one."""
    parts = vector.strip().split("/")
    if not parts or not parts[0].startswith("CVSS:3."):
        return None
    metrics = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    try:
        scope = metrics["S"]
        pr = _PR[scope][metrics["PR"]]
        av, ac, ui = (_CVSS3[k][metrics[k]] for k in ("AV", "AC", "UI"))
        c, i, a = (_CVSS3[k][metrics[k]] for k in ("C", "I", "A"))
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 6.42 * iss if scope == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    return _roundup(min(total, 10.0))


def score_severity(score: float) -> Severity | None:
    """CVSS qualitative rating: None (0.0), low, medium (4.0), high (7.0), critical (9.0)."""
    if score <= 0:
        return None
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    return "high" if score < 9.0 else "critical"


def severity_of(record: dict[str, Any], affected: dict[str, Any] | None) -> Severity | None:
    """The advisory's severity for one affected package (see the module docstring)."""
    found: list[Severity] = []
    for holder in (affected or {}, record):
        for entry in _list(holder.get("severity")):
            if not isinstance(entry, dict) or not isinstance(entry.get("score"), str):
                continue
            kind, score = str(entry.get("type", "")), entry["score"]
            if kind.startswith("CVSS_V3"):
                value = cvss3_score(score)
                rated = None if value is None else score_severity(value)
            elif kind == "Ubuntu":
                rated = _WORDS.get(score.strip().lower())
            else:
                rated = None
            if rated is not None:
                found.append(rated)
        if found:
            return max(found, key=SEVERITIES.index)
    for holder in (affected or {}, record):
        specific = holder.get("database_specific")
        word = specific.get("severity") if isinstance(specific, dict) else None
        if isinstance(word, str) and word.strip().lower() in _WORDS:
            return _WORDS[word.strip().lower()]
    return None


# -- advisories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str  # normalized
    versions: frozenset[str]
    ranges: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (type, ((event, version),))
    severity: Severity | None


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    affected: tuple[Affected, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n.upper() for n in (self.id, *self.aliases))


@dataclass
class Match:
    advisory: Advisory
    severity: Severity | None
    fixed: list[str] = field(default_factory=list)
    note: str = ""  # set when the range could not be evaluated


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def read_advisories(data: Any) -> list[Advisory]:
    """Advisories from parsed OSV JSON (one record, a list, or ``{"vulns": [...]}``)."""
    if isinstance(data, dict) and "vulns" in data and "id" not in data:
        data = data["vulns"]
    records = data if isinstance(data, list) else [data]
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise AdvisoryError(f"record {i} is not an OSV advisory (an object with an 'id')")
        if record.get("withdrawn"):
            continue
        out.append(_advisory(record))
    return out


def _advisory(record: dict[str, Any]) -> Advisory:
    affected = []
    for entry in _list(record.get("affected")):
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        ecosystem = str(package.get("ecosystem", "")).split(":", 1)[0]
        ranges = tuple(
            (
                str(r.get("type", "")),
                tuple(
                    (kind, str(v))
                    for ev in _list(r.get("events"))
                    if isinstance(ev, dict)
                    for kind, v in ev.items()
                    if kind in ("introduced", "fixed", "last_affected", "limit")
                ),
            )
            for r in _list(entry.get("ranges"))
            if isinstance(r, dict)
        )
        affected.append(
            Affected(
                ecosystem,
                normalize(ecosystem, package["name"]),
                frozenset(str(v) for v in _list(entry.get("versions"))),
                ranges,
                severity_of(record, entry),
            )
        )
    aliases = tuple(str(a) for a in _list(record.get("aliases")))
    return Advisory(record["id"], aliases, str(record.get("summary", "")), tuple(affected))


def _key(kind: str, ecosystem: str, version: str) -> tuple[Any, ...] | None:
    if kind == "SEMVER":
        return semver_key(version)
    if kind == "ECOSYSTEM" and ecosystem == "PyPI":
        return pep440_key(version)
    return None


def _in_range(
    kind: str, events: tuple[tuple[str, str], ...], ecosystem: str, version: str
) -> bool | None:
    """The OSV schema's evaluation of one range: None when versions cannot be ordered."""
    target = _key(kind, ecosystem, version)
    if target is None:
        return None
    keyed: list[tuple[tuple[Any, ...], str]] = []
    for event, value in events:
        if event == "limit":
            continue
        if event == "introduced" and value == "0":
            keyed.append(((0,), event))  # before every version
            continue
        key = _key(kind, ecosystem, value)
        if key is None:
            return None
        keyed.append(((1, key), event))
    affected = False
    for order, event in sorted(keyed, key=lambda kv: kv[0]):
        if len(order) == 1:  # introduced "0"
            affected = True
        elif event == "introduced":
            affected = affected or target >= order[1]
        elif target >= order[1] if event == "fixed" else target > order[1]:
            affected = False
    return affected


def matches(advisories: list[Advisory], ecosystem: str, name: str, version: str) -> Iterator[Match]:
    """Every advisory that affects ``name`` at ``version`` in ``ecosystem``."""
    wanted = normalize(ecosystem, name)
    for advisory in advisories:
        for aff in advisory.affected:
            if aff.ecosystem.lower() != ecosystem.lower() or aff.name != wanted:
                continue
            hit, note = version in aff.versions, ""
            if not hit and not aff.versions and all(k == "GIT" for k, _ in aff.ranges):
                hit, note = True, "only commit ranges: affected unless shown otherwise"
            for kind, events in aff.ranges:
                if hit or kind == "GIT":
                    continue
                inside = _in_range(kind, events, aff.ecosystem, version)
                if inside is None:
                    hit, note = True, f"{kind} range not comparable with version {version}"
                else:
                    hit = inside
            if hit:
                fixed = [
                    v for k, events in aff.ranges if k != "GIT" for e, v in events if e == "fixed"
                ]
                yield Match(advisory, aff.severity, fixed, note)
                break
