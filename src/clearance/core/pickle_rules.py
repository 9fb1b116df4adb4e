"""Which imports a pickle may perform: a hard deny list, a default allowlist, the policy's.

An entry is ``module:name``; each side is a shell-style pattern (``fnmatch``, case-sensitive,
``*`` also matching dots), so ``sklearn.*:[A-Z]*`` is "a class-like name in any module under
sklearn". A *dotted* name (``a.b``, which the unpickler resolves attribute by attribute, so
``sklearn.base:platform.os.system`` reaches ``os.system``) matches only an entry that spells
it out exactly; its every part is checked against the deny list.

Order of judgment: unresolved names are blocked; then the hard deny list (never allowed,
whatever the policy says); then the policy's ``deny``; then the allowlist (defaults plus the
policy's ``allow``); anything else is blocked. Wildcard entries cannot see what a module
re-exports (a pickle naming ``some.module:GzipFile`` gets ``gzip.GzipFile`` if that module
imported it), so the deny list also names side-effecting callables by *name*, in any module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from clearance.core.pickle_scan import Import

_ANY = ("*",)
# Modules whose every name is code execution, process, file, network or import machinery.
DENIED_MODULES: tuple[str, ...] = (
    *("os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "pty", "commands"),
    *("socket", "_socket", "ssl", "urllib", "urllib.*", "http", "http.*", "ftplib", "smtplib"),
    *("shutil", "tempfile", "io", "_io", "webbrowser", "signal", "resource"),
    *("importlib", "importlib.*", "pkgutil", "runpy", "code", "codeop", "types", "gc"),
    *("pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "dill.*"),
    *("cloudpickle", "cloudpickle.*", "ctypes", "ctypes.*", "_ctypes"),
    *("multiprocessing", "multiprocessing.*", "concurrent", "concurrent.*"),
    *("threading", "_thread", "asyncio", "asyncio.*"),
    *("numpy.testing", "numpy.testing.*", "numpy.f2py", "numpy.f2py.*", "numpy.ctypeslib"),
    *("numpy.distutils", "numpy.distutils.*", "torch.hub", "torch.serialization"),
    *("*._testing", "*._testing.*", "*.tests", "*.tests.*", "*.testing", "*.testing.*"),
    "*.conftest",
)
# Names that run code, touch files or processes, or reach attributes, in whatever module.
DENIED_NAMES: tuple[str, ...] = (
    *("eval", "exec", "execfile", "compile", "__import__", "getattr", "setattr", "delattr"),
    *("globals", "locals", "vars", "breakpoint", "input", "open", "system", "popen*", "Popen"),
    *("spawn*", "exec[lv]*", "fork*", "kill*", "run", "call", "check_call", "check_output"),
    *("getoutput", "getstatusoutput", "import_module", "run_path", "run_module", "load"),
    *("loads", "load_module", "attrgetter", "methodcaller", "remove", "unlink", "rmtree"),
    *("rmdir", "urlopen", "urlretrieve", "CDLL", "PyDLL", "WinDLL", "OleDLL", "LibraryLoader"),
    *("GzipFile", "BZ2File", "LZMAFile", "ZipFile", "TarFile", "FileIO", "Thread", "Timer"),
    *("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory"),
    *("Process", "Pool", "Memory", "memmap", "fromfile", "tofile", "save", "savez*"),
)
_NUMPY_SCALARS = (
    *("bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    *("uint64", "intc", "uintc", "intp", "uintp", "float16", "float32", "float64"),
    *("longdouble", "complex64", "complex128", "clongdouble", "str_", "bytes_", "object_"),
    *("datetime64", "timedelta64", "void"),
)
_TORCH_DTYPES = (
    *("float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8"),
    *("int16", "int32", "int64", "uint8", "short", "int", "long", "bool", "complex64"),
    "complex128",
)
DEFAULT_ALLOW: tuple[str, ...] = (
    # Python containers and the helpers the pickler itself emits
    *(f"builtins:{n}" for n in ("set", "frozenset", "slice", "complex", "bytearray", "bytes")),
    *(f"builtins:{n}" for n in ("object", "range", "list", "dict", "tuple", "int", "float")),
    *("builtins:bool", "builtins:str", "copyreg:_reconstructor", "copyreg:__newobj__"),
    *("_codecs:encode", "collections:OrderedDict", "collections:defaultdict"),
    *("collections:Counter", "collections:deque"),
    # numpy arrays, dtypes, scalars and random states
    *("numpy:ndarray", "numpy:dtype", "numpy.core.multiarray:_reconstruct"),
    *("numpy._core.multiarray:_reconstruct", "numpy.core.multiarray:scalar"),
    *("numpy._core.multiarray:scalar", "numpy.core.numeric:_frombuffer"),
    *("numpy._core.numeric:_frombuffer", "numpy.random._pickle:__*_ctor"),
    *("numpy.random.*:[A-Z]*", "numpy.random.bit_generator:__pyx_unpickle_SeedSequence"),
    *(f"numpy:{n}" for n in _NUMPY_SCALARS),
    # scipy sparse matrices and arrays
    *("scipy.sparse*:*_matrix", "scipy.sparse*:*_array"),
    # estimators and their Cython helpers
    *("sklearn.*:[A-Z]*", "sklearn.*:_[A-Z]*", "sklearn.*:newObj", "sklearn.*:__pyx_unpickle_*"),
    *("xgboost:[A-Z]*", "xgboost.*:[A-Z]*", "lightgbm:[A-Z]*", "lightgbm.*:[A-Z]*"),
    *("joblib.numpy_pickle:NumpyArrayWrapper", "joblib.numpy_pickle:NDArrayWrapper"),
    # PyTorch state dicts and modules
    *("torch._utils:_rebuild_tensor", "torch._utils:_rebuild_tensor_v2"),
    *("torch._utils:_rebuild_parameter", "torch._utils:_rebuild_parameter_with_state"),
    *("torch:Size", "torch:*Storage", "torch:device", "torch.nn.parameter:Parameter"),
    *("torch.nn.modules.*:[A-Z]*", *(f"torch:{n}" for n in _TORCH_DTYPES)),
)
_WILD = set("*?[")


def entry_problem(entry: str) -> str | None:
    """Why ``entry`` is not a usable ``module:name`` allow or deny entry (None if it is)."""
    module, sep, name = entry.partition(":")
    if not sep or not module or not name or ":" in name or any(c.isspace() for c in entry):
        return f"'{entry}' must be module:name, e.g. sklearn.tree._tree:Tree or sklearn.*:[A-Z]*"
    return None


def never_allowed(entry: str) -> bool:
    """Whether an exact allow entry names an import the hard deny list blocks."""
    module, _, name = entry.partition(":")
    if _WILD & set(entry):
        return False  # a wildcard entry is accepted; the deny list still wins per import
    return _hard_denied(module, name) is not None


def _hard_denied(module: str, name: str) -> str | None:
    if any(fnmatchcase(module, p) for p in DENIED_MODULES):
        return f"module {module} is never allowed"
    bad = [part for part in name.split(".") if any(fnmatchcase(part, p) for p in DENIED_NAMES)]
    if bad:
        return f"{bad[0]} is never allowed"
    return None


def _matches(module: str, name: str, entries: Iterable[str]) -> bool:
    for entry in entries:
        pm, _, pn = entry.partition(":")
        if "." in name:
            if pn == name and fnmatchcase(module, pm):
                return True
        elif fnmatchcase(module, pm) and fnmatchcase(name, pn):
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class ImportRules:
    """The policy's view: defaults (unless turned off), plus its own allow and deny lists."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    defaults: bool = True

    def judge(self, found: Import) -> Verdict:
        if found.module is None or found.name is None:
            return Verdict(False, "its name is computed while loading, so it cannot be checked")
        module, name = found.module, found.name
        why = _hard_denied(module, name)
        if why is not None:
            return Verdict(False, why)
        if _matches(module, name, self.deny):
            return Verdict(False, "denied by the gate's deny list")
        if _matches(module, name, self.allow) or (
            self.defaults and _matches(module, name, DEFAULT_ALLOW)
        ):
            return Verdict(True, "allowed")
        return Verdict(False, "not in the allowlist")
