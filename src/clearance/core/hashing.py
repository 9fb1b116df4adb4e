"""Canonical JSON and sha256: one way to digest anything the system records."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
from typing import Any

from pydantic import BaseModel


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot digest a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 kept: equal data, equal text.

    ``json.dumps(value, default=_default, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``, calling the same C encoder directly: the
    ``JSONEncoder`` set up around it on every call was a tenth of the cost of a digest, and
    the engine makes two per decision.
    """
    if _c_encoder is None or isinstance(value, str):
        return json.dumps(
            value,
            default=_default,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    # markers (a fresh dict per call) detect circular references, as json.dumps does
    encode = _c_encoder({}, _default, _encode_text, None, ":", ",", True, False, False)
    return "".join(encode(value, 0))


_c_encoder: Any = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_encode_text: Any = json.encoder.encode_basestring


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return sha256_text(canonical_json(value))
