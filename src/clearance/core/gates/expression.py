"""``expression``: a CEL expression over the version must be true.

CEL (Common Expression Language) is non-Turing-complete and side-effect free: it cannot
import, read files, reach the network or loop forever, so a policy can carry logic without
being able to run code (invariant 6). The input object is documented in
``docs/gates.md#expression`` and built by ``activation`` below.

CEL can still be slow (a regex per element of a long list, nested comprehensions) and the
``cel`` package holds the GIL with no cost limit, so every evaluation is bounded: the input's
size is measured first (``max_elements``, ``max_string_length``), then the expression runs
through a ``Runner`` with a deadline (``max_seconds``). By default that is a worker process
the deadline kills (:mod:`clearance.kernels.sandbox`); tests may pass another runner. Passing
a limit is an ``error`` result naming it, never an exception or a hang.

Speed (issue 12.3): a round trip to the worker costs ~40 µs of CPU and CEL recompiles a regex
for every ``matches`` call (~100-200 µs each; its built-in ``matches`` cannot be replaced
through the context's functions), so the runner is given only the variables (and, for
``version.x``-style access, the fields) the expression names (``narrow``), and the default
runner remembers its answers (``_remembered``): CEL is side-effect free and has no clock, so
the same program on the same input (and the same ``max_seconds``) answers the same. Only
answers are remembered, never a timeout, crash or failure; the size limits are checked on
the full input before, as always: by a bound from the length of the version's canonical JSON,
which the engine makes for its digest anyway (``_surely_fits``), and by a walk when that bound
does not settle it. The version's JSON-ready data is the engine's too (``GateContext``).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field, field_validator

from clearance.core.gates._bounds import TooLarge, oversize
from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus
from clearance.kernels import sandbox
from clearance.kernels._cel_worker import load_cel

# The compiled bindings alone: the ``cel`` package's __init__ also imports its REPL (typer,
# prompt_toolkit, pygments), a tenth of a second that a policy check never uses.
cel = load_cel()

Runner = Callable[[str, dict[str, Any], float], "bool | str"]
"""``runner(source, variables, seconds)``: true/false, or a description of another value.
Raises ``KeyError(key)`` for a missing key, ``sandbox.ExpressionTimeout`` past the deadline,
``sandbox.ExpressionCrashed`` or ``sandbox.ExpressionFailed``."""

MAX_SECONDS, MAX_ELEMENTS, MAX_STRING_LENGTH = 5.0, 100_000, 100_000
CEILING_SECONDS, CEILING_SIZE = 60.0, 10_000_000


@lru_cache(maxsize=512)
def compile_expression(source: str) -> Any:
    """Parse once per distinct expression; ``ValueError`` names the column of a syntax error."""
    try:
        return cel.compile(source)
    except ValueError as exc:
        text = str(exc)
        detail = text.split("ERROR: <input>:", 1)[-1].split("\n", 1)[0]
        raise ValueError(f"CEL syntax error at {detail}") from None


class ExpressionParams(GateParams):
    expr: str = Field(min_length=1, description="A CEL expression that must evaluate to true.")
    message: str = Field(default="", description="Shown when the expression is false.")
    max_seconds: float = Field(
        default=MAX_SECONDS,
        gt=0,
        le=CEILING_SECONDS,
        description="Time the evaluation may take before it is stopped (an error).",
    )
    max_elements: int = Field(
        default=MAX_ELEMENTS,
        ge=1,
        le=CEILING_SIZE,
        description="List items and map entries the input may hold in all (else an error).",
    )
    max_string_length: int = Field(
        default=MAX_STRING_LENGTH,
        ge=1,
        le=CEILING_SIZE,
        description="Characters any one string of the input may have (else an error).",
    )

    @field_validator("expr")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_expression(value)
        return value


def activation(ctx: GateContext) -> dict[str, Any]:
    """The variables an expression sees: version, model, champion, evidence, transition, now."""
    version = dict(ctx.version_data())  # shared with the engine: only this copy is changed
    model, champion, evidence = (
        version.pop("model"),
        version.pop("champion"),
        version.pop("evidence"),
    )
    version.update(name=model["name"], risk_tier=model["risk_tier"])
    return {
        "version": version,
        "model": model,
        "champion": champion,
        "evidence": evidence,
        "transition": {"from": ctx.from_stage, "to": ctx.to_stage, "change_type": ctx.change_type},
        "now": ctx.now,
    }


def _surely_fits(ctx: GateContext, *, max_elements: int, max_string_length: int) -> bool:
    """Whether ``activation(ctx)`` is within the limits by a bound, without walking it.

    In the version's canonical JSON every list item and map entry follows its own ``[``,
    ``{`` or ``,`` and no string is shorter than its text, so a JSON of length L holds at most
    L elements and no string over L characters; the activation adds 8 elements (its own 6
    entries, 3 for the transition, 2 for name and risk tier, less the 3 moved out of the
    version), the transition's three strings and its own keys. Most versions are far below
    the limits: only one that is not is walked (``_fits``)."""
    size = len(ctx.version_json())
    if size + 8 > max_elements or size > max_string_length:
        return False
    if max_string_length < len("change_type"):  # the longest key the activation adds
        return False
    longest = max(len(ctx.from_stage), len(ctx.to_stage), len(ctx.change_type))
    return longest <= max_string_length  # the transition's strings


def _fits(data: Any, *, max_elements: int, max_string_length: int) -> bool:
    """Whether ``oversize`` would find nothing: its count (items of every list, entries of
    every map, keys walked like values), without the paths it builds to name a problem, at a
    fraction of its cost; only an input over a limit is walked again, by ``oversize``."""
    stack, elements = [data], 0
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if len(value) > max_string_length:
                return False
        elif isinstance(value, (dict, list, tuple)):
            elements += len(value)
            if elements > max_elements:
                return False
            if isinstance(value, dict):
                stack.extend(value)
                stack.extend(value.values())
            else:
                stack.extend(value)
    return True


_WORD = "[A-Za-z0-9_]"
_FIELD = re.compile(rf"\s*\.\s*([A-Za-z_]{_WORD}*)(?!{_WORD})(?!\s*\()")


@lru_cache(maxsize=512)
def _reads(source: str, names: tuple[str, ...]) -> dict[str, frozenset[str] | None]:
    """What ``source`` can read of each variable in ``names``, found in its text.

    Absent: the name never occurs, so the variable cannot be read. A set of fields: every
    occurrence is ``name.field`` (not a macro call such as ``name.exists(...)``). None: any
    other use (the whole value). Conservative: an occurrence inside a string literal, a
    comment or after a dot also counts, which can only keep more.
    """
    out: dict[str, frozenset[str] | None] = {}
    for name in names:
        fields: set[str] | None = set()
        for hit in re.finditer(f"(?<!{_WORD}){re.escape(name)}(?!{_WORD})", source):
            field = _FIELD.match(source, hit.end())
            if field is None:
                fields = None
                break
            assert fields is not None
            fields.add(field.group(1))
        if fields is None or fields:
            out[name] = None if fields is None else frozenset(fields)
    return out


def narrow(source: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The part of ``variables`` that ``source`` can read (``_reads``): the same answer, less
    to send to the worker and a key under which equal inputs meet."""
    out: dict[str, Any] = {}
    for name, fields in _reads(source, tuple(variables)).items():
        value = variables[name]
        if fields is not None and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in fields}
        out[name] = value
    return out


class _Answers:
    """A bounded, thread-safe LRU of answers by sha256 of the pickled request."""

    def __init__(self, size: int) -> None:
        self.size, self._lock = size, threading.Lock()
        self._items: OrderedDict[bytes, bool | str] = OrderedDict()

    def get(self, key: bytes) -> bool | str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: bytes, answer: bool | str) -> None:
        with self._lock:
            self._items[key] = answer
            if len(self._items) > self.size:
                self._items.popitem(last=False)


_answers = _Answers(65_536)


def _bounded(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
    return sandbox.evaluate_bounded(source, variables, timeout=seconds)


def _remembered(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
    """``_bounded``, answering a request it has answered before from memory."""
    request = pickle.dumps((source, variables, seconds), protocol=pickle.HIGHEST_PROTOCOL)
    key = hashlib.sha256(request).digest()
    found = _answers.get(key)
    if found is None:
        found = _bounded(source, variables, seconds)
        _answers.put(key, found)
    return found


class Expression:
    name: ClassVar[str] = "expression"
    summary: ClassVar[str] = "A sandboxed CEL expression over the version must be true."
    Params: ClassVar[type[GateParams]] = ExpressionParams

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or _remembered

    def evaluate(self, params: ExpressionParams, ctx: GateContext) -> Measurement:
        variables = activation(ctx)
        limits = {
            "max_elements": params.max_elements,
            "max_string_length": params.max_string_length,
        }
        fits = _surely_fits(ctx, **limits) or _fits(variables, **limits)
        too_large = None if fits else oversize(variables, **limits)
        if too_large is not None:
            return _too_large(too_large)
        try:
            value = self.runner(params.expr, narrow(params.expr, variables), params.max_seconds)
        except KeyError as exc:
            return Measurement.error(
                f"expression needs {exc.args[0]!r}, which this version does not have",
                details={"missing": [str(exc.args[0])]},
            )
        except sandbox.ExpressionTimeout:
            return Measurement.error(
                f"expression stopped: it ran past max_seconds = {params.max_seconds:g}; make it "
                f"cheaper (fewer nested comprehensions or regex calls) or raise the gate's "
                f"max_seconds (at most {CEILING_SECONDS:g})",
                details={"limit": "max_seconds", "allowed": params.max_seconds},
            )
        except sandbox.ExpressionCrashed as exc:
            return Measurement.error(
                f"expression stopped: its worker process died ({exc}), most likely at the "
                f"{sandbox.MEMORY_BYTES >> 20} MiB memory cap of an evaluation; "
                "build smaller lists",
                details={"limit": "memory", "allowed": sandbox.MEMORY_BYTES},
            )
        except Exception as exc:  # CEL reports type and lookup faults as plain exceptions
            return Measurement.error(f"expression failed: {exc}")
        if not isinstance(value, bool):
            return Measurement.error(f"expression returned {value}; it must return true/false")
        if value:
            return Measurement(GateStatus.PASS, f"true: {params.expr}", observed=True)
        return Measurement(
            GateStatus.FAIL,
            params.message or f"false: {params.expr}",
            observed=False,
            threshold=True,
            operator="==",
        )


def _too_large(t: TooLarge) -> Measurement:
    what = "items" if t.limit == "max_elements" else "characters"
    return Measurement.error(
        f"expression not run: its input passes {t.limit} = {t.allowed:,} ({t.path} has "
        f"{t.found:,} {what}); raise the gate's {t.limit} (at most {CEILING_SIZE:,}) "
        "or record less",
        details={"limit": t.limit, "allowed": t.allowed, "path": t.path, "found": t.found},
    )
