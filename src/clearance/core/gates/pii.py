"""``pii``: no personal data among the features, nor in a sample of the datasets' values.

Two checks. **Names**: the version's features (and the sampled datasets' column names)
against configurable regular expressions. **Values**: the first ``sample_rows`` rows of each
named dataset, text columns (and integer ones, for card numbers), against detectors for
email addresses, phone numbers, national ids (US SSN, UK National Insurance number) and
payment card numbers (13-19 digits with a valid Luhn checksum and a card-network first
digit). Results are counts per column and detector; a value is never reported.

The sample is the first rows, so a replay sees the same values; each value is read up to
``_VALUE_CHARS`` characters, so the regular expressions run in bounded time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from clearance.core.columns import BatchReader, categories_of, null_mask_of, schema_of
from clearance.core.gates._data import digests, read, require_dataset
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.results import GateStatus
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

Check = Literal["email", "phone", "national_id", "card_number"]
CHECKS: tuple[Check, ...] = ("email", "phone", "national_id", "card_number")
DEFAULT_FEATURE_PATTERNS = (
    r"(?i)e[-_]?mail",
    r"(?i)phone|mobile|msisdn",
    r"(?i)(^|_)ssn($|_)|social_?security|national_?id|passport|nino",
    r"(?i)first_?name|last_?name|full_?name|surname|(^|_)name($|_)",
    r"(?i)street|address|post_?code|zip_?code",
    r"(?i)birth_?date|date_?of_?birth|(^|_)dob($|_)",
    r"(?i)card_?number|credit_?card|(^|_)pan($|_)|iban",
    r"(?i)ip_?address",
)
_VALUE_CHARS = 256
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"
)
_PHONE = re.compile(  # not a run of a longer digit sequence (a card number in groups of 4)
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{7,15}"  # +15551234567
    r"|(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4})"  # (555) 123-45
    r"(?![ .-]?\d)(?!\w)"
)
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_NINO = re.compile(  # UK National Insurance number: two letters, six digits, A-D
    r"(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_CARD = re.compile(r"(?<!\d)[2-6](?:[ -]?\d){12,18}(?!\d)")


def luhn(digits: str) -> bool:
    """The Luhn checksum of a digit string is valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(text: str) -> bool:
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and luhn(digits):
            return True
    return False


DETECTORS: dict[Check, Callable[[str], bool]] = {
    "email": lambda s: _EMAIL.search(s) is not None,
    "phone": lambda s: _PHONE.search(s) is not None,
    "national_id": lambda s: _SSN.search(s) is not None or _NINO.search(s) is not None,
    "card_number": _card,
}


def _pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


class PiiParams(GateParams):
    feature_patterns: list[Annotated[str, AfterValidator(_pattern)]] = Field(
        default_factory=lambda: list(DEFAULT_FEATURE_PATTERNS),
        description="Regular expressions a feature or column name must not match (search).",
    )
    allow_features: list[str] = Field(
        default_factory=list, description="Names reviewed and accepted despite a pattern."
    )
    datasets: list[str] = Field(
        default_factory=list, description="Dataset evidence whose values are sampled."
    )
    columns: list[str] | None = Field(
        default=None, description="Columns to sample (default: every text and integer column)."
    )
    checks: list[Check] = Field(default_factory=lambda: list(CHECKS), min_length=1)
    sample_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    max_matches: int = Field(
        default=0, ge=0, description="Matching values allowed per column and check."
    )


class Pii:
    name: ClassVar[str] = "pii"
    summary: ClassVar[str] = "No feature name or sampled dataset value looks like personal data."
    Params: ClassVar[type[GateParams]] = PiiParams

    @reports_problems
    def evaluate(self, params: PiiParams, ctx: GateContext) -> Measurement:
        features = list(ctx.version.features)
        if not features and not params.datasets:
            return Measurement.error(
                "needs the version's features or datasets to sample; list features in the "
                "manifest or name datasets: in the gate",
                details={"missing": ["features"]},
            )
        patterns = [re.compile(p) for p in params.feature_patterns]
        allowed = set(params.allow_features)
        names: list[dict[str, str]] = []
        for feature in features:
            hit = _flag(feature, patterns, allowed)
            if hit:
                names.append({"feature": feature, "pattern": hit})
        values: dict[str, dict[str, dict[str, int]]] = {}
        sampled: dict[str, int] = {}
        for dataset in params.datasets:
            counts, rows, columns = self._sample(ctx, params, dataset)
            sampled[dataset] = rows
            values[dataset] = counts
            for column in columns:
                hit = _flag(column, patterns, allowed)
                if hit and column not in features:
                    names.append({"feature": f"{dataset}.{column}", "pattern": hit})
        flagged = [
            f"{d}.{c}: {n} {check}"
            for d, cols in values.items()
            for c, found in cols.items()
            for check, n in found.items()
            if n > params.max_matches
        ]
        findings = len(names) + len(flagged)
        details: dict[str, Any] = {
            "feature_names": names,
            "values": values,
            "sampled_rows": sampled,
            "checks": list(params.checks),
            "max_matches": params.max_matches,
        }
        common: dict[str, Any] = {
            "observed": findings,
            "threshold": 0,
            "operator": "<=",
            "details": details,
            "evidence": digests(ctx, *params.datasets),
        }
        if findings:
            details["remediation"] = (
                "drop or pseudonymise the personal data (hash or tokenise identifiers, remove "
                "direct identifiers from features and evaluation sets); list a reviewed name in "
                "allow_features if it is not personal data"
            )
            parts = [f"feature {n['feature']} matches {n['pattern']!r}" for n in names[:5]]
            parts += [f"{f} value(s) in the sample" for f in flagged[:5]]
            return Measurement(GateStatus.FAIL, "; ".join(parts), **common)
        what = f"{len(features)} feature name(s)"
        if sampled:
            what += " and " + ", ".join(f"{n:,} rows of {d}" for d, n in sampled.items())
        return Measurement(GateStatus.PASS, f"no personal data found in {what}", **common)

    def _sample(
        self, ctx: GateContext, params: PiiParams, dataset: str
    ) -> tuple[dict[str, dict[str, int]], int, list[str]]:
        require_dataset(ctx, dataset)
        schema = schema_of(read(ctx, dataset, []))
        if params.columns is not None:
            columns = list(params.columns)
            missing = [c for c in columns if schema and c not in schema]
            if missing:
                raise GateProblem(
                    f"dataset '{dataset}' has no column(s) {', '.join(missing)}",
                    [f"evidence.{dataset}.{c}" for c in missing],
                )
        else:
            columns = [c for c, kind in schema.items() if kind == "string" or "int" in kind]
        if not columns:
            return {}, 0, list(schema)
        cols = self._head(ctx, dataset, columns, params.sample_rows)
        first = next(iter(cols.values()), None)
        rows = 0 if first is None else min(len(first), params.sample_rows)
        counts: dict[str, dict[str, int]] = {}
        for column in columns:
            texts, weights = _texts(cols, column, params.sample_rows)
            checks = params.checks if texts.dtype == object else ["card_number"]
            found = {c: _count(texts, weights, DETECTORS[c]) for c in checks if c in params.checks}
            counts[column] = {c: n for c, n in found.items() if n}
        return {c: f for c, f in counts.items() if f}, rows, list(schema)

    def _head(
        self, ctx: GateContext, dataset: str, columns: list[str], rows: int
    ) -> Mapping[str, NDArray[Any]]:
        """The first ``rows`` rows: one record batch when the reader streams, else the columns."""
        if isinstance(ctx.evidence, BatchReader):
            try:
                return next(iter(ctx.evidence.read_batches(dataset, columns, rows)), {})
            except (KeyError, ValueError, OSError):
                pass  # reported with its message by the column read below
        return read(ctx, dataset, columns)


def _flag(name: str, patterns: list[re.Pattern[str]], allowed: set[str]) -> str | None:
    if name in allowed:
        return None
    return next((p.pattern for p in patterns if p.search(name)), None)


def _texts(
    cols: Mapping[str, NDArray[Any]], column: str, limit: int
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Distinct sampled values of a column as text (objects) or digit strings (integers),
    with how many sampled rows hold each; nulls left out."""
    values = np.asarray(cols[column])[:limit]
    cats = categories_of(cols, column)
    if cats is not None:
        codes, counts = np.unique(values[values >= 0], return_counts=True)
        texts = np.array([str(cats[int(c)])[:_VALUE_CHARS] for c in codes], dtype=object)
        return texts, counts.astype(np.int64)
    mask = null_mask_of(cols, column)
    if mask is not None:
        values = values[~np.asarray(mask)[:limit]]
    if values.dtype.kind in "iu":
        distinct, counts = np.unique(np.abs(values.astype(np.int64)), return_counts=True)
        return np.array([str(v) for v in distinct], dtype=np.str_), counts.astype(np.int64)
    if values.dtype.kind in "OUS":
        kept = [v for v in values.tolist() if isinstance(v, str | bytes)]
        text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in kept]
        distinct, counts = np.unique(
            np.array([t[:_VALUE_CHARS] for t in text], dtype=object), return_counts=True
        )
        return distinct.astype(object), counts.astype(np.int64)
    return np.array([], dtype=object), np.array([], dtype=np.int64)


def _count(texts: NDArray[Any], weights: NDArray[np.int64], detect: Callable[[str], bool]) -> int:
    return int(
        sum(int(w) for t, w in zip(texts.tolist(), weights.tolist(), strict=True) if detect(t))
    )
