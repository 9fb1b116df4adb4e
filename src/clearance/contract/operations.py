"""Declaring a use case once: its name, arguments and result, and where it lives over HTTP.

A method of :class:`~clearance.contract.Clearance` decorated with :func:`operation` is the one
declaration of a use case. From it:

- the in-process transport (``clearance.local.LocalClearance``) calls the service method the
  operation names, with the acting user;
- the API (``clearance.api.contract_routes``) makes its route: path and query parameters or the
  JSON body, the response model, the documented errors;
- the SDK (``clearance.Client``) sends the request and parses the result into the same type.

So a read added here with its service method shows up in service, API, SDK and CLI at once.

The classes a declaration names (its result, its arguments' types, its ``body``) are imported
by its module under ``if TYPE_CHECKING:`` only, and ``body`` is given by name: every command
of the CLI loads the contract, and the records live beside the use cases, with the engine,
the store and their libraries behind them. A transport that reads a declaration's types (the
API, the SDK) resolves them through :func:`deferred_names`, which runs those imports then.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

Method = Literal["GET", "POST", "PUT", "DELETE"]
F = TypeVar("F", bound=Callable[..., Any])
# An idempotent operation declares this argument: the SDK sends it as the Idempotency-Key
# header (one made per call when None), the API's route reads it from there.
IDEMPOTENCY_ARGUMENT = "idempotency_key"
_MARK = "__clearance_operation__"


@dataclass(frozen=True)
class Operation:
    """One use case as both transports and the API see it."""

    name: str  # the method name on Clearance, the SDK and the local transport
    method: Method
    path: str  # under /v1, with {placeholders} named as the arguments
    service: str  # the Workspace attribute holding the use case ...
    handler: str  # ... and its method
    tags: tuple[str, ...]
    errors: tuple[int, ...]  # documented problem statuses beyond the common ones
    status: int  # the success status
    paged: bool  # the API answers one Page at a time; the SDK and local return every item
    body_name: str | None  # the JSON body model's name in the declaring module (see ``body``)
    actor: bool  # the use case takes the acting user (``actor=``)
    route: str  # the API endpoint's function name (its OpenAPI operationId stem)
    function: Callable[..., Any] = field(repr=False)
    idempotent: bool = False  # takes an Idempotency-Key: a retry gets the first answer
    # The route and the SDK method are written by hand (uploads, streams, answers whose
    # status depends on the result); the local transport still calls the service as declared.
    custom: bool = False

    @property
    def summary(self) -> str:
        """The docstring's first paragraph, on one line."""
        first = inspect.cleandoc(self.function.__doc__ or self.name).split("\n\n")[0]
        return " ".join(first.split())

    @functools.cached_property
    def hints(self) -> dict[str, Any]:
        """The declaration's resolved annotations (with ``Annotated`` metadata)."""
        names = deferred_names(self.function.__module__)
        return typing.get_type_hints(self.function, localns=names, include_extras=True)

    @functools.cached_property
    def body(self) -> type[BaseModel] | None:
        """The JSON body model (its fields are arguments), if the use case takes one."""
        if self.body_name is None:
            return None
        found: type[BaseModel] = deferred_names(self.function.__module__)[self.body_name]
        return found

    @functools.cached_property
    def parameters(self) -> list[inspect.Parameter]:
        """The use case's arguments (without ``self``), annotations resolved."""
        params = list(inspect.signature(self.function).parameters.values())[1:]
        return [p.replace(annotation=self.hints.get(p.name, Any)) for p in params]

    @property
    def result(self) -> Any:
        return self.hints["return"]

    @property
    def arguments(self) -> list[inspect.Parameter]:
        """The use case's own arguments: the parameters without the transport's
        ``idempotency_key``."""
        return [p for p in self.parameters if p.name != IDEMPOTENCY_ARGUMENT]

    @property
    def path_names(self) -> list[str]:
        return [p.name for p in self.parameters if "{" + p.name + "}" in self.path]

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults filled in."""
        bound = inspect.signature(self.function).bind(None, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(arguments)))  # self
        return arguments


def operation(
    method: Method,
    path: str,
    *,
    service: str,
    handler: str | None = None,
    tags: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    status: int | None = None,
    paged: bool = False,
    body: str | None = None,
    actor: bool = False,
    route: str | None = None,
    idempotent: bool = False,
    custom: bool = False,
) -> Callable[[F], F]:
    """Declare a use case; the decorated method sends it through its object's transport.

    ``body`` names the JSON body model, imported by the declaring module for type checking.
    """

    def declare(function: F) -> F:
        op = Operation(
            name=function.__name__,
            method=method,
            path=path,
            service=service,
            handler=handler or function.__name__,
            tags=tags,
            errors=errors,
            status=status or (201 if method == "POST" and body is not None else 200),
            paged=paged,
            body_name=body,
            actor=actor,
            route=route or function.__name__,
            function=function,
            idempotent=idempotent,
            custom=custom,
        )

        @functools.wraps(function)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self._run(op, op.bind(args, kwargs))

        setattr(call, _MARK, op)
        return typing.cast(F, call)

    return declare


class Contract:
    """A group of declared operations; the transport (local or HTTP) supplies ``_run``."""

    def _run(self, op: Operation, arguments: dict[str, Any]) -> Any:
        raise NotImplementedError


def operations_of(cls: type) -> dict[str, Operation]:
    """Every operation a contract class declares, by name, in declaration order."""
    found: dict[str, Operation] = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            op = getattr(value, _MARK, None)
            if isinstance(op, Operation):
                found[op.name] = op
    return found


@functools.cache
def deferred_names(module: str) -> dict[str, Any]:
    """The names ``module`` imports (``from ... import ...``) under ``if TYPE_CHECKING:``,
    imported now.

    Read from the module's source, so a declaration's types are listed once, where a type
    checker sees them too; the names the module imports at run time are its globals already.
    """
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    names: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    source = importlib.import_module(statement.module)
                    for alias in statement.names:
                        names[alias.asname or alias.name] = getattr(source, alias.name)
    return names


_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
