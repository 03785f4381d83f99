"""Shape and dtype checking of annotated functions: ``fborn.typecheck``.

``typecheck`` combines jaxtyping's ``jaxtyped`` with beartype::

    @fborn.typecheck
    def f(x: Float[fborn.Array, "batch 784"]) -> Float[fborn.Array, "batch 10"]: ...

Arguments and the return value are checked on every call. Under ``make_jaxpr``/``jit`` the
function body runs once per trace on tracers (which are ``fborn.Array`` instances with a shape
and dtype), so the check runs once per trace and costs nothing at steady state. A mismatch raises
``TypeCheckError`` (an ``FbornShapeError`` and a ``jaxtyping.TypeCheckError``) whose first line
names the function, the argument, the dimension and both sizes, followed by jaxtyping's report.

The jaxtyping annotations (``Float``, ``Int``, ``UInt``, ``Bool``, ``Shaped``, ...) are re-exported
here; ``Float`` accepts bfloat16, float16, float32 and float64 arrays.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

import jaxtyping
from beartype import beartype
from beartype.door import is_bearable
from jaxtyping import (
    AbstractArray,
    BFloat16,
    Bool,
    Float,
    Float16,
    Float32,
    Float64,
    Inexact,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Integer,
    Num,
    Real,
    Shaped,
    UInt,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
)

from fborn.core import dtypes
from fborn.core.errors import FbornShapeError, user_frame_summary

__all__ = [
    "BFloat16", "Bool", "Float", "Float16", "Float32", "Float64", "Inexact", "Int", "Int8",
    "Int16", "Int32", "Int64", "Integer", "Num", "Real", "Shaped", "TypeCheckError",
    "UInt", "UInt8", "UInt16", "UInt32", "UInt64", "typecheck",
]

F = TypeVar("F", bound=Callable[..., Any])


class TypeCheckError(FbornShapeError, jaxtyping.TypeCheckError):
    """An argument or return value of a ``typecheck``-ed function does not match its annotation
    (wrong named dimension, fixed size, rank, dtype or type)."""


class _CallState:
    """What one checked call got to: whether the body ran, and its return value."""

    __slots__ = ("entered", "returned", "out")

    def __init__(self) -> None:
        self.entered = False
        self.returned = False
        self.out: Any = None


_FBORN_DTYPE_NAMES = frozenset(d.type.__name__ for d in dtypes.SUPPORTED_DTYPES)
_CALL: contextvars.ContextVar[_CallState] = contextvars.ContextVar("fborn_typecheck_call")


def typecheck(fn: F) -> F:
    """Check ``fn``'s jaxtyping/beartype annotations on every call (dataclasses: their
    ``__init__``). Raises TypeCheckError naming the function, argument, dimension and sizes."""
    if inspect.isclass(fn):
        if dataclasses.is_dataclass(fn):
            fn.__init__ = typecheck(fn.__init__)  # type: ignore[misc]
        return fn
    signature = _resolved_signature(fn)

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> Any:
        state = _CALL.get()
        state.entered = True
        out = fn(*args, **kwargs)
        state.out, state.returned = out, True
        return out

    body.__signature__ = signature  # type: ignore[attr-defined]
    checked = jaxtyping.jaxtyped(body, typechecker=beartype)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _CallState()
        token = _CALL.set(state)
        try:
            return checked(*args, **kwargs)
        except jaxtyping.TypeCheckError as e:
            if state.entered and not state.returned:
                raise  # raised by a checked call inside the body: already explained
            try:
                summary = _explain(fn, signature, args, kwargs, state, str(e))
            except Exception:  # the explanation is best effort; jaxtyping's report follows
                summary = f"{getattr(fn, '__qualname__', fn)}: type check failed"
            where = user_frame_summary()
            called = f"\n  (called from {where})" if where else ""
            raise TypeCheckError(f"{summary}{called}\n\njaxtyping's report:\n{e}") from None
        finally:
            _CALL.reset(token)

    return wrapper  # type: ignore[return-value]


def _resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """``fn``'s signature with string annotations evaluated in ``fn``'s globals (``Any`` where
    that fails, as jaxtyping does)."""
    signature = inspect.signature(fn)
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    params = [p.replace(annotation=_resolve(p.annotation, namespace))
              for p in signature.parameters.values()]
    return signature.replace(
        parameters=params, return_annotation=_resolve(signature.return_annotation, namespace)
    )


def _resolve(annotation: Any, namespace: dict) -> Any:
    if not isinstance(annotation, str):
        return annotation

    def probe(value: Any) -> None: ...

    probe.__annotations__ = {"value": annotation}
    try:
        return get_type_hints(probe, namespace, include_extras=True)["value"]
    except Exception:
        return Any


# --- explaining a failure ----------------------------------------------------------------------

class _Dim:
    """One parsed token of a jaxtyping shape string."""

    __slots__ = ("name", "size", "variadic", "broadcastable")

    def __init__(self, name: str | None, size: int | None, variadic: bool, broadcastable: bool):
        self.name = name  # None: anonymous (unchecked)
        self.size = size  # a fixed size, or None
        self.variadic = variadic
        self.broadcastable = broadcastable


def _parse_dims(dim_str: str) -> list[_Dim] | None:
    """The tokens of ``dim_str``; None if one is symbolic or tree-path dependent."""
    dims = []
    for token in dim_str.split():
        if token == "...":
            dims.append(_Dim(None, None, True, False))
            continue
        match = re.fullmatch(r"([#*_]*)(?:\w+=)?(\w*)", token)
        if match is None:
            return None
        flags, body = match.groups()
        variadic, broadcastable = "*" in flags, "#" in flags
        if body.isdigit():
            dims.append(_Dim(None, int(body), False, broadcastable))
        elif body == "" or body.isidentifier():
            name = None if "_" in flags or body == "" else body
            dims.append(_Dim(name, None, variadic, broadcastable))
        else:
            return None
    return dims


class _Checker:
    """Replays jaxtyping's checks in call order to say which dimension of which value failed."""

    def __init__(self, fname: str):
        self.fname = fname
        self.bound: dict[str, tuple[Any, str]] = {}  # name -> (size or sizes, who bound it)

    def check(self, label: str, value: Any, annotation: Any) -> str | None:
        """A sentence describing why ``value`` fails ``annotation``; None if it passes here."""
        if annotation is inspect.Parameter.empty or annotation is Any:
            return None
        if inspect.isclass(annotation) and issubclass(annotation, AbstractArray):
            return self._check_array(label, value, annotation)
        try:
            ok = is_bearable(value, annotation)
        except Exception:
            return None
        if ok:
            return None
        return (f"{self.fname}: {label} has type {type(value).__qualname__}, not "
                f"{_hint_name(annotation)}")

    def _check_array(self, label: str, value: Any, ann: Any) -> str | None:
        where = f"{self.fname}: {label}"
        try:
            is_array = isinstance(value, ann.array_type)
        except TypeError:
            is_array = hasattr(value, "shape") and hasattr(value, "dtype")
        if not is_array:
            return f"{where} has type {type(value).__qualname__}, not {ann.__name__}"
        if isinstance(ann.dtypes, (tuple, list)):
            dtype_name = _dtype_name(value.dtype)
            if dtype_name not in ann.dtypes:
                return (f"{where} has dtype {dtype_name}, but {ann.__name__} accepts only "
                        f"{_dtype_names(ann.dtypes)}")
        dims = _parse_dims(ann.dim_str)
        if dims is None:
            return None
        return self._check_shape(where, label, tuple(value.shape), dims, ann)

    def _check_shape(self, where: str, label: str, shape: tuple[int, ...], dims: list[_Dim],
                     ann: Any) -> str | None:
        variadic = [i for i, d in enumerate(dims) if d.variadic]
        fixed_rank = len(dims) - len(variadic)
        if (len(shape) != fixed_rank) if not variadic else (len(shape) < fixed_rank):
            need = f"at least {fixed_rank}" if variadic else str(fixed_rank)
            return (f"{where} has shape {shape} (rank {len(shape)}), but {ann.__name__} "
                    f"requires rank {need}")
        split = variadic[0] if variadic else len(dims)
        tail = len(dims) - split - 1 if variadic else 0
        pairs = list(zip(range(split), dims[:split], shape[:split], strict=True))
        if variadic:
            axes = range(len(shape) - tail, len(shape))
            pairs += list(zip(axes, dims[split + 1:], shape[len(shape) - tail:], strict=True))
        local: dict[str, tuple[Any, str]] = {}
        for axis, dim, size in pairs:
            problem = self._check_dim(where, label, axis, dim, size, local, ann)
            if problem:
                return problem
        if variadic and dims[split].name is not None:
            sizes = shape[split:len(shape) - tail]
            problem = self._check_named(where, label, f"*{dims[split].name}", sizes, None,
                                        dims[split].broadcastable, local)
            if problem:
                return problem
        self.bound.update(local)
        return None

    def _check_dim(self, where: str, label: str, axis: int, dim: _Dim, size: int,
                   local: dict, ann: Any) -> str | None:
        if dim.broadcastable and size == 1:
            return None
        if dim.size is not None:
            if size != dim.size:
                return (f"{where} has size {size} at axis {axis}, but {ann.__name__} "
                        f"requires {dim.size}")
            return None
        if dim.name is None:
            return None
        return self._check_named(where, label, dim.name, size, axis, False, local)

    def _check_named(self, where: str, label: str, name: str, size: Any, axis: int | None,
                     lenient: bool, local: dict) -> str | None:
        previous = local.get(name) or self.bound.get(name)
        if previous is None:
            local[name] = (size, f"{label} (axis {axis})" if axis is not None else label)
            return None
        prev_size, who = previous
        if size == prev_size or lenient:
            return None
        at = f" (axis {axis})" if axis is not None else ""
        return f"{where} has dimension '{name}'={size}{at}, but {who} bound '{name}'={prev_size}"


def _dtype_name(dtype: Any) -> str:
    """The dtype name jaxtyping compares (``float32``, ``bfloat16``, ``bool``)."""
    kind = getattr(dtype, "type", None)
    return getattr(kind, "__name__", str(dtype))


def _dtype_names(names: Any) -> str:
    """The names among ``names`` that fborn supports (all of them if none is)."""
    ours = [n for n in names if n in _FBORN_DTYPE_NAMES]
    return ", ".join(ours or names)


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _explain(fn: Callable[..., Any], signature: inspect.Signature, args: tuple, kwargs: dict,
             state: _CallState, message: str) -> str:
    """The first line of a TypeCheckError: which argument (or the return value) failed, how."""
    fname = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    checker = _Checker(fname)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            items = [(f"argument {name}[{i}]", v) for i, v in enumerate(value)]
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            items = [(f"argument {name}[{k!r}]", v) for k, v in value.items()]
        else:
            items = [(f"argument {name}", value)]
        for label, item in items:
            problem = checker.check(label, item, param.annotation)
            if problem:
                return problem
    if state.returned:
        problem = checker.check("the return value", state.out, signature.return_annotation)
        return problem or f"{fname}: the return value does not match its annotation"
    found = re.search(r"parameter '(\w+)'", message)
    arg = f"argument {found.group(1)}" if found else "an argument"
    return f"{fname}: {arg} does not match its annotation"
