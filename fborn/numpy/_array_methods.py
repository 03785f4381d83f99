"""Operators and jax.Array-like methods of ``fborn.Array``, attached when ``fborn.numpy`` loads.

They are set on ``fborn.core.array.Array``, the base of concrete arrays and of every transform's
tracers, so ``x + 1``, ``x @ w``, ``x.sum()`` and ``x.at[i].set(v)`` work inside transforms too.
Each one forwards to the ``fborn.numpy`` function of the same meaning, looked up on the module
when called, so numpy semantics (broadcasting, weak Python scalars) come from one place:
``f16_array * 2.0`` stays float16 and ``int32_array + 1.5`` is float32.

Binary operators return ``NotImplemented`` for operands that are not arrays or scalars (lists,
strings, None), as ``jax.Array`` does, so ``x + [1]`` raises TypeError and ``x == None`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import fborn.numpy as fnp
from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array
from fborn.numpy._util import convert

__all__: list[str] = []

_OPERAND_TYPES = (Array, np.ndarray, np.generic, bool, int, float, complex)

# operator name -> fborn.numpy function; each also gets its reflected ``__r<name>__``.
_BINARY_OPS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
    "divmod": "divmod", "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift",
}
_COMPARISONS = {
    "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
    "ne": "not_equal",
}
_UNARY_OPS = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}

# method name -> fborn.numpy function called as ``fn(self, *args, **kwargs)``.
_FORWARDED_METHODS = {
    "all": "all", "any": "any", "argmax": "argmax", "argmin": "argmin", "argsort": "argsort",
    "clip": "clip", "conj": "conj", "conjugate": "conjugate", "copy": "copy", "cumprod": "cumprod",
    "cumsum": "cumsum", "diagonal": "diagonal", "dot": "dot", "flatten": "ravel", "max": "max",
    "mean": "mean", "min": "min", "nonzero": "nonzero", "prod": "prod", "ptp": "ptp",
    "ravel": "ravel", "repeat": "repeat", "round": "round", "searchsorted": "searchsorted",
    "sort": "sort", "squeeze": "squeeze", "std": "std", "sum": "sum", "swapaxes": "swapaxes",
    "take": "take", "trace": "trace", "var": "var",
}


def _binary(fn_name: str, reflected: bool) -> Callable[[Array, Any], Any]:
    def op(self: Array, other: Any) -> Any:
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented
        fn = getattr(fnp, fn_name)
        return fn(other, self) if reflected else fn(self, other)

    swapped = " with the operands swapped" if reflected else ""
    op.__doc__ = f"``fborn.numpy.{fn_name}``{swapped}."
    return op


def _unary(fn_name: str) -> Callable[[Array], Array]:
    def op(self: Array) -> Array:
        return getattr(fnp, fn_name)(self)

    op.__doc__ = f"``fborn.numpy.{fn_name}(self)``."
    return op


def _forward(name: str, fn_name: str) -> Callable[..., Any]:
    def method(self: Array, *args: Any, **kwargs: Any) -> Any:
        return getattr(fnp, fn_name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"Same as ``fborn.numpy.{fn_name}(self, *args, **kwargs)``."
    return method


def _shape_args(args: tuple[Any, ...]) -> Any:
    """``(2, 3)`` or ``((2, 3),)`` -> ``(2, 3)``; one int or None stays as given."""
    if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list))):
        return args[0]
    return args


def reshape(self: Array, *shape: Any, order: str = "C") -> Array:
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``: ``fborn.numpy.reshape`` (one dim may be -1)."""
    return fnp.reshape(self, _shape_args(shape), order=order)


def transpose(self: Array, *axes: Any) -> Array:
    """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``: permute the axes
    (reversed when none are given)."""
    return fnp.transpose(self, _shape_args(axes) or None)


def astype(self: Array, dtype: Any, copy: bool = False, device: Any = None) -> Array:
    """This array converted to ``dtype`` (strongly typed; 64-bit types are canonicalized)."""
    return convert(self, dtypes.canonicalize(fnp.dtype(dtype)), weak=False)


def _t(self: Array) -> Array:
    """The transpose (axes reversed)."""
    return fnp.transpose(self)


def _mt(self: Array) -> Array:
    """The matrix transpose: the last two axes swapped. Raises ValueError below rank 2."""
    if self.ndim < 2:
        raise ValueError(f"mT requires at least 2 dimensions; got ndim={self.ndim}")
    return fnp.swapaxes(self, -1, -2)


def _real(self: Array) -> Array:
    """The real part (the array itself for fborn's real dtypes)."""
    return fnp.real(self)


def _imag(self: Array) -> Array:
    """The imaginary part (zeros for fborn's real dtypes)."""
    return fnp.imag(self)


def _at(self: Array) -> Any:
    """Functional index updates: ``x.at[idx].set(v)``, ``.add``, ``.multiply``, ``.get``..."""
    from fborn.numpy._indexing import IndexUpdateHelper

    return IndexUpdateHelper(self)


def _itemsize(self: Array) -> int:
    """Bytes per element."""
    return self.dtype.itemsize


def _nbytes(self: Array) -> int:
    """Bytes of the whole array."""
    return self.size * self.dtype.itemsize


def _getitem(self: Array, index: Any) -> Array:
    from fborn.numpy._indexing import getitem

    return getitem(self, index)


def _setitem(self: Array, index: Any, value: Any) -> None:
    raise TypeError(
        f"{type(self).__name__!r} object does not support item assignment. fborn arrays are "
        f"immutable. Instead of ``x[idx] = y``, use ``x = x.at[idx].set(y)`` or another .at[] "
        f"method (add, multiply, min, max...)."
    )


def _iter(self: Array) -> Iterator[Array]:
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d array")
    return _rows(self)


def _rows(x: Array) -> Iterator[Array]:
    rest = x.shape[1:]
    for i in range(x.shape[0]):
        yield lax.reshape(lax.slice_in_dim(x, i, i + 1, axis=0), rest)


def _round(self: Array, ndigits: int | None = None) -> Array:
    """``round(x)`` rounds half to even and gives the default int dtype (as ``round`` of a
    float gives an int); ``round(x, n)`` keeps the dtype."""
    out = fnp.round(self, decimals=ndigits or 0)
    return out.astype(int) if ndigits is None else out


def _attach() -> None:
    for name, fn_name in _BINARY_OPS.items():
        setattr(Array, f"__{name}__", _binary(fn_name, reflected=False))
        setattr(Array, f"__r{name}__", _binary(fn_name, reflected=True))
    for name, fn_name in _COMPARISONS.items():
        setattr(Array, f"__{name}__", _binary(fn_name, reflected=False))
    for name, fn_name in _UNARY_OPS.items():
        setattr(Array, f"__{name}__", _unary(fn_name))
    for name, fn_name in _FORWARDED_METHODS.items():
        setattr(Array, name, _forward(name, fn_name))
    for fn in (reshape, transpose, astype):
        setattr(Array, fn.__name__, fn)
    for name, getter in (("T", _t), ("mT", _mt), ("real", _real), ("imag", _imag), ("at", _at),
                         ("itemsize", _itemsize), ("nbytes", _nbytes)):
        setattr(Array, name, property(getter))
    Array.__getitem__ = _getitem  # type: ignore[attr-defined]
    Array.__setitem__ = _setitem  # type: ignore[attr-defined]
    Array.__iter__ = _iter  # type: ignore[attr-defined]
    Array.__round__ = _round  # type: ignore[attr-defined]


_attach()
