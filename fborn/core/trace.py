"""Stackless dispatch: a context-local current interpreter, and tracers tagged by their interpreter.

``prim.bind(*args, **params)`` hands a primitive application to the current interpreter. The
bottom interpreter (``EvalInterpreter``) runs reference implementations on concrete arrays.
A transform installs its own interpreter with ``set_interpreter``; when that interpreter meets its
own tracers it unpacks them, applies its rule, and binds the rule's operations on its *parent*
interpreter (the one that was current when it started). Values it does not own are constants to it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl, array_from_numpy, scalar_array
from fborn.core.aval import ShapedArray
from fborn.core.config import config
from fborn.core.errors import ConcretizationError, LeakedTracerError
from fborn.core.gpu_array import GpuArray
from fborn.core.numpy_errors import call_quietly

if TYPE_CHECKING:
    from fborn.core.primitive import Primitive


class Interpreter:
    """Base class of the interpreters that give meaning to primitive applications."""

    name = "interpreter"
    alive = True

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        raise NotImplementedError


class Tracer(Array):
    """A stand-in for an array inside a transform; tagged with the interpreter that made it."""

    __slots__ = ("_interpreter",)

    def _concrete(self) -> Any:
        """The concrete value behind this tracer, if the transform knows it; else raise."""
        raise ConcretizationError(
            f"Abstract tracer value encountered where a concrete value is expected: "
            f"{self.aval.str_short()} traced by {self._interpreter.name}. Python control flow "
            f"(if/while/bool/int) on traced values fails under jit and make_jaxpr; use "
            f"fborn.lax.cond/while_loop, or mark the argument static (static_argnums)."
        )

    def __bool__(self) -> bool:
        return bool(self._concrete())

    def __int__(self) -> int:
        return int(self._concrete())

    def __float__(self) -> float:
        return float(self._concrete())

    def __index__(self) -> int:
        return int(self._concrete())

    def item(self, *args: Any) -> Any:
        return np.asarray(self._concrete()).item(*args)

    def tolist(self) -> Any:
        return np.asarray(self._concrete()).tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        try:
            value = self._concrete()
        except ConcretizationError:
            raise ConcretizationError(
                f"The numpy.ndarray conversion method __array__() was called on a traced array "
                f"{self.aval.str_short()} ({self._interpreter.name}); np.asarray only works "
                f"on concrete fborn arrays."
            ) from None
        return np.asarray(value, dtype=dtype)

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>with<{self._interpreter.name}>"


def leaked_tracer_error(tracer: Tracer) -> LeakedTracerError:
    return LeakedTracerError(
        f"Encountered an unexpected tracer {tracer!r}: a value traced by "
        f"{tracer._interpreter.name} escaped that transformation (stored in a global, a "
        f"closure or an object) and was used after it finished. Return it from the "
        f"transformed function instead."
    )


def to_array(x: Any) -> Array:
    """Turn a Python scalar or numpy array into a concrete fborn array; Arrays pass through."""
    if isinstance(x, Array):
        return x
    if isinstance(x, (bool, int, float)):
        return scalar_array(x)
    return array_from_numpy(x)


class EvalInterpreter(Interpreter):
    """The bottom interpreter: runs each primitive's reference implementation eagerly.

    Output avals are cached per (primitive, input avals, params), so repeated small eager ops
    skip the shape checks after the first call.
    """

    name = "eval"

    def __init__(self) -> None:
        self._avals_cache: dict[Any, Any] = {}

    def _abstract_eval(self, prim: Primitive, avals: list[ShapedArray], params: dict) -> Any:
        try:
            key = (prim, *avals, *params.items())
            return self._avals_cache[key]
        except KeyError:
            out = self._avals_cache[key] = prim.abstract_eval(*avals, **params)
            if len(self._avals_cache) > 4096:
                self._avals_cache.clear()
            return out
        except TypeError:  # unhashable params
            return prim.abstract_eval(*avals, **params)

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        values = []
        avals = []
        for arg in args:
            if type(arg) is not ArrayImpl:
                if type(arg) is GpuArray:
                    return _apply_on_gpu(prim, args, params)
                if isinstance(arg, Tracer):
                    raise leaked_tracer_error(arg)
                if type(arg) is np.ndarray and arg.dtype in (
                        _ALL_TYPES if config.enable_x64 else _TYPES_32):
                    # Read-only use: reference implementations never write their inputs.
                    values.append(arg)
                    avals.append(ShapedArray(arg.shape, arg.dtype))
                    continue
                arg = to_array(arg)
            values.append(arg._value)
            avals.append(arg.aval)
        out_avals = self._abstract_eval(prim, avals, params)
        outs = call_quietly(prim.impl, *values, **params)
        if prim.multiple_results:
            return [_wrap(o, a) for o, a in zip(outs, out_avals, strict=True)]
        return _wrap(outs, out_avals)


def _apply_on_gpu(prim: Primitive, args: Sequence[Any], params: dict) -> Any:
    """Run ``prim`` on the GPU of its first GpuArray operand (results stay there); primitives
    the WGSL backend cannot lower (LoweringError) or whose dtypes the GPU lacks
    (FbornDtypeError: 8/16-bit integers, 64-bit types) run on the host instead."""
    from fborn.core.errors import FbornDtypeError
    from fborn.lowering.schedule import LoweringError
    from fborn.lowering.wgsl.executable import apply_primitive, gpu_of

    for arg in args:
        if isinstance(arg, Tracer):
            raise leaked_tracer_error(arg)
    try:
        return apply_primitive(prim, args, params, gpu_of(args))
    except (LoweringError, FbornDtypeError):
        host = [ArrayImpl(np.asarray(a), a.weak_type) if type(a) is GpuArray else a for a in args]
        return BASE_INTERPRETER.process_primitive(prim, host, params)


_ALL_TYPES = frozenset(dtypes.SUPPORTED_DTYPES)
_TYPES_32 = _ALL_TYPES - {dtypes.int64, dtypes.uint64, dtypes.float64}


def _wrap(value: Any, aval: ShapedArray) -> ArrayImpl:
    if type(value) is not np.ndarray or value.dtype != aval.dtype:
        value = np.asarray(value, dtype=aval.dtype)
    return ArrayImpl(value, aval.weak_type)


BASE_INTERPRETER = EvalInterpreter()
"""The bottom interpreter, current whenever no transformation is running."""

current_var: contextvars.ContextVar[Interpreter] = contextvars.ContextVar(
    "fborn_interpreter", default=BASE_INTERPRETER  # noqa: B039 - one shared bottom interpreter
)


def current_interpreter() -> Interpreter:
    return current_var.get()


@contextlib.contextmanager
def set_interpreter(interpreter: Interpreter) -> Iterator[Interpreter]:
    """Make ``interpreter`` current for the duration of the block."""
    token = current_var.set(interpreter)
    try:
        yield interpreter
    finally:
        current_var.reset(token)


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of an Array, numpy array or Python scalar."""
    if isinstance(x, Array):
        return x.aval
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype in dtypes.SUPPORTED_SET:
        return ShapedArray(x.shape, dtypes.canonicalize(x.dtype))  # no copy to learn a type
    return to_array(x).aval


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds a value now (not an abstract tracer of jit/make_jaxpr)."""
    if isinstance(x, Tracer):
        try:
            x._concrete()
        except ConcretizationError:
            return False
    return True


def concrete_value(x: Any, what: str) -> np.ndarray:
    """The numpy value of ``x``; raises ConcretizationError naming ``what`` if ``x`` is abstract."""
    if isinstance(x, Tracer):
        try:
            return np.asarray(x._concrete())
        except ConcretizationError as e:
            raise ConcretizationError(f"{what} must be concrete (not traced): {e}") from None
    return np.asarray(x)


_axis_env: contextvars.ContextVar[tuple[tuple[Any, int], ...]] = contextvars.ContextVar(
    "fborn_axis_env", default=()
)


@contextlib.contextmanager
def extend_axis_env(name: Any, size: int) -> Iterator[None]:
    """Make the mapped axis ``name`` of ``size`` visible to collectives inside the block."""
    token = _axis_env.set((*_axis_env.get(), (name, size)))
    try:
        yield
    finally:
        _axis_env.reset(token)


def axis_size(name: Any) -> int:
    """The size of the innermost mapped axis called ``name``; NameError if none is bound."""
    for bound, size in reversed(_axis_env.get()):
        if bound == name:
            return size
    raise NameError(f"unbound axis name: {name}. Collectives such as psum must run inside "
                    f"vmap or pmap with a matching axis_name.")
