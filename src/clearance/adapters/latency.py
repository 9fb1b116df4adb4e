"""Measuring prediction latency: load a pickled artifact and time its predictions.

The ``latency`` gate's measure mode (``allow_measure: true``) judges numbers in core; this is
where they come from. Unpickling runs the artifact's code, so it happens only after the bytes
match the digest recorded for them, and only through a reader that offers it
(:class:`clearance.adapters.evidence.FileEvidence`, local files in ``clearance check``).
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from clearance.core.gates.latency import CannotMeasure
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np

    from clearance.core.gates.latency import Predict, Rows
else:
    np = lazy("numpy", "measuring latency")


def load_predictor(blob: bytes, sha256: str | None) -> Predict:
    """The unpickled artifact's ``predict_proba`` (else ``predict``), when ``blob`` matches
    ``sha256``; ``CannotMeasure`` otherwise."""
    actual = hashlib.sha256(blob).hexdigest()
    if sha256 is None or sha256 != actual:
        raise CannotMeasure(
            "refusing to unpickle an artifact whose bytes do not match a recorded sha256 "
            f"(recorded {sha256 or 'none'}, actual {actual[:12]}…)"
        )
    model = pickle.loads(blob)  # allowed by the policy: allow_measure
    predict: Predict | None = getattr(model, "predict_proba", None) or getattr(
        model, "predict", None
    )
    if predict is None:
        raise CannotMeasure("the artifact has no predict_proba or predict method")
    return predict


def time_calls(predict: Predict, warmup: Sequence[Rows], timed: Sequence[Rows]) -> Rows:
    """Milliseconds per timed call of ``predict``, after the untimed ``warmup`` calls."""
    for rows in warmup:
        predict(rows)
    times = np.empty(len(timed))
    for i, rows in enumerate(timed):
        t0 = time.perf_counter_ns()
        predict(rows)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return times
