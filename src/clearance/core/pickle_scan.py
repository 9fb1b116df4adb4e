"""What a pickle would import, found without loading it: a reviewed walk over its opcodes.

A pickle is a program for a small stack machine; the only way it reaches code is by naming a
callable (``GLOBAL``, ``STACK_GLOBAL``, ``INST``, the ``EXT*`` registry codes) and then calling
it (``REDUCE``, ``NEWOBJ``, ``OBJ``, ``INST``, ``BUILD`` through ``__setstate__``). So the walk
lists every name the pickle would import, as ``pickle.Unpickler`` would resolve it, and the
policy judges the names (:mod:`clearance.core.pickle_rules`).

The opcodes come from the standard library's ``pickletools.genops`` (the parser the
``pickletools`` disassembler uses); this module keeps the machine's stack, its mark stack and
its memo *symbolically*, exactly as ``Unpickler`` would, so that ``STACK_GLOBAL``'s two string
operands are resolved wherever they come from (a literal, a memo ``GET``, a ``DUP``). Operands
that are not known strings (built at load time by a call) cannot be resolved: they are
reported as unresolved imports, which the gate treats as unsafe.

Two loaders read past a pickle's own opcodes, and the walk follows them:

* ``joblib`` writes each numpy array's raw bytes right after the ``BUILD`` of its
  ``joblib.numpy_pickle.NumpyArrayWrapper`` (an alignment byte and padding first), and an
  array of Python objects as a *nested* pickle there. The walk sizes the array from the
  wrapper's symbolic state (shape, dtype) and skips it, or walks the nested pickle.
* protocol 0-2 names are mapped as ``Unpickler(fix_imports=True)`` maps them
  (``__builtin__`` -> ``builtins``, ``commands`` -> ``subprocess``).

Work is bounded by a shared :class:`Budget` (opcodes); nothing here allocates more than the
input's size. Nothing is ever imported or called.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import pickletools
import re
from dataclasses import dataclass, field
from typing import Any


class ScanLimit(Exception):
    """A bound on the work was passed; ``limit`` names the gate parameter to raise."""

    def __init__(self, limit: str, allowed: int, where: str) -> None:
        super().__init__(f"{where} passes {limit} = {allowed:,}")
        self.limit = limit
        self.allowed = allowed
        self.where = where


@dataclass
class Budget:
    """Work shared by every pickle of one artifact (nested ones included)."""

    max_opcodes: int
    opcodes: int = 0

    def spend(self, where: str) -> None:
        self.opcodes += 1
        if self.opcodes > self.max_opcodes:
            raise ScanLimit("max_opcodes", self.max_opcodes, where)


@dataclass(frozen=True)
class Import:
    """One name the pickle would import; ``module``/``name`` are None when unresolved."""

    module: str | None
    name: str | None
    offset: int  # of the opcode, in the stream walked
    opcode: str

    @property
    def text(self) -> str:
        if self.module is None or self.name is None:
            return f"<unresolved {self.opcode} at byte {self.offset}>"
        return f"{self.module}:{self.name}"


@dataclass
class Walk:
    """What one pickle stream holds: its imports, its size in opcodes, and where it ended.

    ``error`` says why the walk stopped before ``STOP`` (the stream is malformed: the real
    unpickler would raise there too, after running what came before)."""

    imports: list[Import] = field(default_factory=list)
    opcodes: int = 0
    end: int = 0
    protocol: int = 0
    error: str | None = None
    arrays: int = 0  # joblib arrays skipped (raw bytes) or walked (nested pickles)


class _Unknown:
    """A value the walk does not track (a list, bytes, a call's result used as data)."""

    def __repr__(self) -> str:
        return "?"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Ref:
    """A global the pickle named (resolved or not)."""

    module: str | None
    name: str | None


@dataclass
class Obj:
    """A call's result: ``func(*args)``, with the state a later ``BUILD`` gave it."""

    func: Any
    args: Any
    state: Any = UNKNOWN


class _Dict:
    """A dict built by the pickle: its (key, value) pairs, in order."""

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs = pairs or []

    def get(self, key: str) -> Any:
        for k, v in self.pairs:
            if k == key and isinstance(k, str):
                return v
        return UNKNOWN


class Malformed(Exception):
    """The stream breaks a rule ``Unpickler`` enforces; the walk stops here."""


_STRINGS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}
_CONSTANTS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"}
_OPAQUE = {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "EMPTY_LIST", "EMPTY_SET"}
_MARKED_OPAQUE = {"LIST", "FROZENSET"}  # build a container from the items above the mark
_NOTHING = {"FRAME", "READONLY_BUFFER", "STOP"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_DTYPE = re.compile(r"^[<>|=]?([biufcmMOSUV])(\d*)$")


def fix_import(module: str, name: str, protocol: int) -> tuple[str, str]:
    """The name ``Unpickler(fix_imports=True)`` imports for a protocol 0-2 pickle."""
    if protocol < 3:
        mapped = _compat_pickle.NAME_MAPPING.get((module, name))
        if mapped is not None:
            return mapped
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


class _Machine:
    """The unpickler's stack, mark stack and memo, with symbolic values."""

    def __init__(self, stream: io.BytesIO, walk: Walk, budget: Budget, where: str) -> None:
        self.stream = stream
        self.walk = walk
        self.budget = budget
        self.where = where
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        here = stream.tell()
        self.size = stream.seek(0, io.SEEK_END)
        stream.seek(here)

    def push(self, value: Any) -> None:
        self.stack.append(value)  # not cached: a MARK or pop_mark swaps ``self.stack``

    def pop(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Malformed("no MARK to pop to")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def name(self, ref: Ref, offset: int, opcode: str) -> Ref:
        """Record an import (mapped as the unpickler maps it) and return it."""
        if ref.module is not None and ref.name is not None:
            ref = Ref(*fix_import(ref.module, ref.name, self.walk.protocol))
        self.walk.imports.append(Import(ref.module, ref.name, offset, opcode))
        return ref

    def step(self, name: str, arg: Any, offset: int) -> None:
        push = self.push
        if name in _STRINGS or name in _CONSTANTS:
            push(arg)
        elif name in _OPAQUE or name in ("PERSID", "NEXT_BUFFER"):
            push(UNKNOWN)
        elif name in _MARKED_OPAQUE:
            self.pop_mark()
            push(UNKNOWN)
        elif name in _NOTHING:
            pass
        elif name == "NONE":
            push(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            push(name == "NEWTRUE")
        elif name == "EMPTY_TUPLE":
            push(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(self.stack) < n:
                raise Malformed("stack underflow")
            top = tuple(self.stack[-n:])
            del self.stack[-n:]
            push(top)
        elif name == "TUPLE":
            push(tuple(self.pop_mark()))
        elif name == "EMPTY_DICT":
            push(_Dict())
        elif name == "DICT":
            items = self.pop_mark()
            push(_Dict(list(zip(items[::2], items[1::2], strict=False))))
        elif name == "SETITEM":
            value, key = self.pop(), self.pop()
            target = self.top()
            if isinstance(target, _Dict):
                target.pairs.append((key, value))
        elif name == "SETITEMS":
            items = self.pop_mark()
            target = self.top()
            if isinstance(target, _Dict):
                target.pairs.extend(zip(items[::2], items[1::2], strict=False))
        elif name == "APPEND":
            self.pop()
            self.top()
        elif name in ("APPENDS", "ADDITEMS"):
            self.pop_mark()
            self.top()
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            push(self.top())
        elif name == "MARK":
            self.marks.append(self.stack)
            self.stack = []
        elif name in _GETS:
            if arg not in self.memo:
                raise Malformed(f"memo key {arg} not found")
            push(self.memo[arg])
        elif name in _PUTS:
            if arg < 0:
                raise Malformed("negative PUT argument")
            self.memo[arg] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name == "PROTO":
            if not 0 <= arg <= 5:
                raise Malformed(f"unsupported pickle protocol {arg}")
            self.walk.protocol = arg
        else:
            self._call(name, arg, offset)

    def _call(self, name: str, arg: Any, offset: int) -> None:
        """The opcodes that import or call."""
        push = self.push
        if name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            push(self.name(Ref(module, attr), offset, name))
        elif name == "STACK_GLOBAL":
            attr, module = self.pop(), self.pop()
            known = isinstance(module, str) and isinstance(attr, str)
            ref = Ref(module, attr) if known else Ref(None, None)
            push(self.name(ref, offset, name))
        elif name == "INST":
            module, _, attr = str(arg).partition(" ")
            args = self.pop_mark()
            push(Obj(self.name(Ref(module, attr), offset, name), tuple(args)))
        elif name in ("EXT1", "EXT2", "EXT4"):
            push(self.name(Ref(None, None), offset, f"{name} code {arg}"))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise Malformed("OBJ without a class")
            push(Obj(items[0], tuple(items[1:])))
        elif name in ("REDUCE", "NEWOBJ"):
            args = self.pop()
            push(Obj(self.pop(), args))
        elif name == "NEWOBJ_EX":
            self.pop()  # kwargs
            args = self.pop()
            push(Obj(self.pop(), args))
        elif name == "BINPERSID":
            self.pop()
            push(UNKNOWN)
        elif name == "BUILD":
            state = self.pop()
            inst = self.top()
            if isinstance(inst, Obj):
                inst.state = state
                if isinstance(inst.func, Ref) and (inst.func.module, inst.func.name) == (
                    _JOBLIB_WRAPPER
                ):
                    self._joblib_array(inst)
        else:  # pragma: no cover - genops yields only the opcodes above
            raise Malformed(f"opcode {name} not understood")

    def _joblib_array(self, wrapper: Obj) -> None:
        """Skip the raw bytes joblib wrote after this array's wrapper, or walk its nested
        pickle (an array of Python objects), as ``NumpyUnpickler.load_build`` reads them."""
        state = wrapper.state
        if not isinstance(state, _Dict):
            raise Malformed("joblib array wrapper without its state")
        count = _element_count(state.get("shape"))
        itemsize = _itemsize(state.get("dtype"))
        self.walk.arrays += 1
        if itemsize is None:  # dtype object: a nested pickle follows
            nested = walk_stream(self.stream, self.budget, f"{self.where} (joblib object array)")
            self.walk.imports += nested.imports
            self.walk.opcodes += nested.opcodes
            if nested.error is not None:
                raise Malformed(f"joblib object array: {nested.error}")
            return
        align = state.get("numpy_array_alignment_bytes")
        if align is not None and align is not UNKNOWN:
            pad = self.stream.read(1)
            if len(pad) != 1:
                raise Malformed("joblib array data truncated")
            self._skip(pad[0])
        self._skip(count * itemsize)

    def _skip(self, size: int) -> None:
        here = self.stream.tell()
        if here + size > self.size:
            raise Malformed(f"joblib array data truncated ({size:,} bytes announced)")
        self.stream.seek(here + size)


def _element_count(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise Malformed("joblib array wrapper with an unreadable shape")
    return math.prod(shape)


def _itemsize(dtype: Any) -> int | None:
    """Bytes per element of a pickled ``numpy.dtype``; None when it holds Python objects
    (joblib then writes a nested pickle instead of raw bytes)."""
    size, objects = _layout(dtype, 0)
    return None if objects else size


def _layout(dtype: Any, depth: int) -> tuple[int, bool]:
    """(itemsize, holds objects) of a pickled dtype: its type code, and for a structured or
    sub-array dtype the fields' dtypes, read from the state its ``BUILD`` gave it."""
    if depth > 16 or not (isinstance(dtype, Obj) and isinstance(dtype.args, tuple) and dtype.args):
        raise Malformed("joblib array wrapper with an unreadable dtype")
    code, state = dtype.args[0], dtype.state
    match = _DTYPE.match(code) if isinstance(code, str) else None
    if match is None:
        raise Malformed(f"joblib array with dtype {code!r}, which this walk cannot size")
    kind, digits = match.groups()
    if kind == "O":
        return 8, True
    parts = state if isinstance(state, tuple) else ()
    objects = False
    sub = parts[2] if len(parts) > 2 else None
    if isinstance(sub, tuple) and sub:
        objects |= _layout(sub[0], depth + 1)[1]
    fields = parts[4] if len(parts) > 4 else None
    if isinstance(fields, _Dict):
        for _, spec in fields.pairs:
            if not (isinstance(spec, tuple) and spec):
                raise Malformed("joblib array with an unreadable structured dtype")
            objects |= _layout(spec[0], depth + 1)[1]
    elsize = parts[5] if len(parts) > 5 else -1
    if isinstance(elsize, int) and not isinstance(elsize, bool) and elsize > 0:
        return elsize, objects
    if not digits:
        raise Malformed(f"joblib array with dtype {code!r}, which this walk cannot size")
    return int(digits), objects


def walk_stream(stream: io.BytesIO, budget: Budget, where: str) -> Walk:
    """Walk one pickle from the stream's position to its ``STOP`` (or to the fault)."""
    walk = Walk()
    machine = _Machine(stream, walk, budget, where)
    ops = pickletools.genops(stream)
    offset = stream.tell()
    while True:
        try:
            opcode, arg, pos = next(ops)
        except StopIteration:
            break
        except MemoryError:
            raise
        except Exception as exc:  # the parser's own complaint about hostile bytes
            walk.error = f"{exc} (near byte {stream.tell()})"
            break
        offset = pos if pos is not None else offset
        budget.spend(where)
        walk.opcodes += 1
        try:
            machine.step(opcode.name, arg, offset)
        except Malformed as exc:
            walk.error = f"at byte {offset}: {exc}"
            break
    walk.end = stream.tell()
    return walk


def walk_pickle(data: bytes, budget: Budget, where: str = "pickle", start: int = 0) -> Walk:
    """Walk the pickle that starts at ``start`` of ``data``."""
    stream = io.BytesIO(data)
    stream.seek(start)
    return walk_stream(stream, budget, where)
