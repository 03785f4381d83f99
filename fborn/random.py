"""``fborn.random``: explicit, splittable PRNG keys (names and semantics of ``jax.random``).

Random numbers come from the Threefry-2x32 counter-based hash (the ``threefry2x32`` primitive),
exactly as JAX's default PRNG computes them with ``jax_threefry_partitionable=True`` (the
default since JAX 0.5; the legacy layout is not implemented): ``key``, ``split``, ``fold_in``,
``bits``, ``uniform``, ``randint``, ``bernoulli``, ``permutation``, ``choice`` and
``categorical`` return JAX's values bit for bit (checked against jax 0.10.2). Deviations:

- ``uniform`` with bounds other than [0, 1) (and ``truncated_normal``) compute
  ``u * (maxval - minval) + minval`` with two roundings; XLA fuses it into one FMA, so results
  can differ from JAX's in the last bits (exact whenever ``maxval - minval`` is a power of 2).
- ``normal``/``truncated_normal`` use fborn's correctly rounded ``erf_inv`` (XLA's float32
  polynomial is up to ~100 ulp off in the tails), and ``gumbel``/``exponential`` numpy's
  ``log``: they agree with JAX to about 1e-6 relative, not bit for bit.
- ``gumbel``/``categorical``/``choice`` accept ``mode`` 'low' and 'high', not 'highest'.

Keys: fborn keys are always *raw* keys, uint32[2] arrays, like ``jax.random.PRNGKey``.
``key(seed)`` returns the same array as ``PRNGKey(seed)`` (JAX's typed key arrays have no fborn
counterpart), ``key_data`` returns its argument and ``wrap_key_data`` checks and returns its
argument. A batch of keys (``split(key, 3)``) is a uint32[..., 2] array; samplers take one key.

Every function is built from primitives, so it traces under ``fborn.make_jaxpr``/``jit``;
shapes, dtypes and ``num`` are static.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn import numpy as fnp
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.config import config
from fborn.core.errors import FbornShapeError
from fborn.core.trace import concrete_value
from fborn.numpy._util import ArrayLike, asarray, broadcast_shapes, broadcast_to, canonicalize_axis
from fborn.primitives.random_bits import bitcast_convert_type_p, threefry2x32_p

__all__ = [
    "PRNGKey", "bernoulli", "bits", "categorical", "choice", "exponential", "fold_in", "gumbel",
    "key", "key_data", "normal", "permutation", "randint", "split", "truncated_normal",
    "uniform", "wrap_key_data",
]

KeyArray = Array
Shape = Sequence[int] | int
DTypeLike = Any

_U32_MASK = 0xFFFFFFFF
_IMPL_NAME = "threefry2x32"
_SQRT2 = math.sqrt(2.0)


# --- small helpers -----------------------------------------------------------------------------

def _const(value: Any, dtype: np.dtype) -> Array:
    return ArrayImpl(np.array(value, dtype=dtype))


def _full(value: Any, dtype: np.dtype, shape: tuple[int, ...]) -> Array:
    return lax.broadcast_in_dim(_const(value, dtype), shape, ())


def _canonical_shape(shape: Shape, name: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative Python ints (an int means a 1-d shape)."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not isinstance(dims, (Sequence, np.ndarray)) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims
    ):
        raise TypeError(f"{name}: shapes must be sequences of integers, got {shape!r}")
    out = tuple(int(d) for d in dims)
    if any(d < 0 for d in out):
        raise ValueError(f"{name}: shape {out} has a negative dimension")
    return out


def _check_shape(name: str, shape: tuple[int, ...], *param_shapes: tuple[int, ...]) -> None:
    """Parameters must broadcast to exactly ``shape`` (as in JAX)."""
    if not param_shapes:
        return
    try:
        joined = broadcast_shapes(shape, *param_shapes)
    except FbornShapeError:
        joined = None
    if joined != shape:
        raise ValueError(
            f"{name}: parameter shapes {', '.join(map(str, param_shapes))} must broadcast to "
            f"the shape argument {shape}"
        )


def _float_dtype(dtype: DTypeLike, name: str) -> np.dtype:
    dt = dtypes.canonicalize(float if dtype is None else dtype)
    if not dtypes.is_float(dt):
        raise ValueError(f"dtype argument to `{name}` must be a float dtype, got {dt}")
    return dt


def _check_key(name: str, key: Any, allow_batched: bool = False) -> Array:
    """``key`` as a uint32[2] Array (uint32[..., 2] if ``allow_batched``)."""
    if not isinstance(key, (Array, np.ndarray)):
        raise TypeError(
            f"{name}: expected a PRNG key (a uint32[2] array from fborn.random.key, PRNGKey, "
            f"split or fold_in), got {type(key).__name__}"
        )
    arr = asarray(key)
    if arr.dtype != dtypes.uint32:
        raise TypeError(f"{name}: PRNG keys are uint32 arrays, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != 2:
        raise TypeError(f"{name}: PRNG key data must have shape (..., 2), got {arr.shape}")
    if arr.ndim != 1 and not allow_batched:
        raise ValueError(
            f"{name} accepts a single key, but was given a key array of shape {arr.shape[:-1]}"
            f" != (). Use vmap for batching."
        )
    return arr


def _key_words(key: Array) -> tuple[Array, Array]:
    return (lax.reshape(lax.slice(key, (0,), (1,)), ()),
            lax.reshape(lax.slice(key, (1,), (2,)), ()))


def _stack_last(parts: Sequence[Array]) -> Array:
    ndim = parts[0].ndim
    return lax.concatenate([lax.expand_dims(p, (ndim,)) for p in parts], ndim)


def _hash_counts(key: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """Threefry of the counter pairs (hi, lo) of the row-major positions 0..size-1 of
    ``shape`` (JAX's partitionable counter layout); two uint32 arrays of ``shape``."""
    size = math.prod(shape)
    if size > _U32_MASK:
        raise ValueError(f"cannot draw more than 2**32 - 1 random values at once, got shape "
                         f"{shape}")
    lo = lax.reshape(lax.iota(dtypes.uint32, size), shape)
    hi = _full(0, dtypes.uint32, shape)
    k0, k1 = _key_words(key)
    b0, b1 = threefry2x32_p.bind(k0, k1, hi, lo)
    return b0, b1


def _random_bits(key: Array, bit_width: int, shape: tuple[int, ...]) -> Array:
    """Uniform unsigned ints of ``bit_width`` bits (8, 16, 32 or 64) and ``shape``."""
    b0, b1 = _hash_counts(key, shape)
    if bit_width == 64:
        u64 = dtypes.uint64
        hi = lax.convert_element_type(b0, u64)
        return lax.bitwise_or(lax.shift_left(hi, 32), lax.convert_element_type(b1, u64))
    bits32 = lax.bitwise_xor(b0, b1)
    if bit_width == 32:
        return bits32
    return lax.convert_element_type(bits32, np.dtype(f"uint{bit_width}"))


# --- keys --------------------------------------------------------------------------------------

def _check_impl(impl: Any, name: str) -> None:
    if impl not in (None, _IMPL_NAME):
        raise ValueError(f"{name}: fborn only implements the {_IMPL_NAME!r} PRNG, got {impl!r}")


def _seed_key(name: str, seed: int | ArrayLike) -> KeyArray:
    if isinstance(seed, int):  # bools included, as in JAX
        if not -(2 ** 63) <= seed < 2 ** 63:
            raise OverflowError(f"{name}: the seed {seed} does not fit in a 64-bit integer")
        hi = (seed >> 32) & _U32_MASK if config.enable_x64 else 0
        return ArrayImpl(np.array([hi, seed & _U32_MASK], dtype=np.uint32))
    if not isinstance(seed, (Array, np.ndarray, np.generic)):
        raise TypeError(f"{name}: the seed must be an integer, got {type(seed).__name__}")
    seed = asarray(seed)
    if seed.ndim:
        raise TypeError(f"{name} accepts a scalar seed, but was given an array of shape "
                        f"{seed.shape} != (). Use vmap for batching.")
    if not dtypes.is_int(seed.dtype):
        raise TypeError(f"{name}: the seed must be an integer, got dtype {seed.dtype}")
    lo = lax.convert_element_type(seed, dtypes.uint32)
    if seed.dtype.itemsize == 8:
        hi = lax.convert_element_type(lax.shift_right_logical(seed, 32), dtypes.uint32)
    else:
        hi = _const(0, dtypes.uint32)
    return lax.concatenate([lax.reshape(hi, (1,)), lax.reshape(lo, (1,))], 0)


def PRNGKey(seed: int | ArrayLike, *, impl: str | None = None) -> KeyArray:  # noqa: N802
    """A PRNG key (uint32[2]) from an integer seed: the seed's high and low 32-bit words.

    Python ints are taken modulo 2**32 (the low word) unless ``enable_x64`` is on; then the
    high word holds bits 32..63. Raises TypeError for non-integer or non-scalar seeds and
    OverflowError for ints outside the int64 range.
    """
    _check_impl(impl, "PRNGKey")
    return _seed_key("PRNGKey", seed)


def key(seed: int | ArrayLike, *, impl: str | None = None) -> KeyArray:
    """A PRNG key from an integer seed; the same raw uint32[2] array as ``PRNGKey``
    (fborn has no typed key arrays)."""
    _check_impl(impl, "key")
    return _seed_key("key", seed)


def key_data(keys: KeyArray) -> Array:
    """The uint32[..., 2] data of ``keys``: fborn keys are their data, so ``keys`` itself."""
    return _check_key("key_data", keys, allow_batched=True)


def wrap_key_data(key_bits_array: ArrayLike, *, impl: str | None = None) -> KeyArray:
    """Key(s) from uint32[..., 2] data: checks the data and returns it (keys are raw)."""
    _check_impl(impl, "wrap_key_data")
    return _check_key("wrap_key_data", key_bits_array, allow_batched=True)


def split(key: KeyArray, num: int | Sequence[int] = 2) -> KeyArray:
    """``num`` new keys (shape ``(num, 2)``; ``num`` may be a shape tuple) derived from
    ``key``: key i is the Threefry hash of the counter pair (0, i)."""
    key = _check_key("split", key)
    shape = _canonical_shape(num, "split")
    return _stack_last(_hash_counts(key, shape))


def fold_in(key: KeyArray, data: int | ArrayLike) -> KeyArray:
    """A new key that is a deterministic function of ``key`` and the 32-bit integer ``data``.

    Raises TypeError for non-scalar data and OverflowError for Python ints outside
    [0, 2**32).
    """
    key = _check_key("fold_in", key)
    if isinstance(data, int):
        if not 0 <= data <= _U32_MASK:
            raise OverflowError(f"fold_in: Python integer {data} out of bounds for uint32")
        counts = _const(data, dtypes.uint32)
    else:
        value = asarray(data)
        if value.ndim:
            raise TypeError(f"fold_in accepts a scalar, but was given an array of shape "
                            f"{value.shape} != (). Use vmap for batching.")
        counts = lax.convert_element_type(value, dtypes.uint32)
    k0, k1 = _key_words(key)
    b0, b1 = threefry2x32_p.bind(k0, k1, _const(0, dtypes.uint32), counts)
    return _stack_last([b0, b1])


# --- samplers ----------------------------------------------------------------------------------

def bits(key: KeyArray, shape: Shape = (), dtype: DTypeLike = None) -> Array:
    """Uniform random bits as unsigned ints of ``shape`` (default dtype uint32, uint64 under
    x64). Raises ValueError for a non-unsigned dtype."""
    key = _check_key("bits", key)
    dt = dtypes.canonicalize(dtypes.uint64 if dtype is None else dtype)
    if dt.kind != "u":
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dt}")
    return _random_bits(key, 8 * dt.itemsize, _canonical_shape(shape, "bits"))


def _param(value: ArrayLike, dtype: np.dtype, shape: tuple[int, ...], name: str) -> Array:
    """A sampler parameter converted to ``dtype`` and broadcast to ``shape``."""
    if isinstance(value, (int, float)):
        return _full(value, dtype, shape)
    arr = lax.convert_element_type(asarray(value), dtype)
    _check_shape(name, shape, arr.shape)
    return broadcast_to(arr, shape)


def _uniform(key: Array, shape: tuple[int, ...], dtype: np.dtype, minval: ArrayLike,
             maxval: ArrayLike) -> Array:
    lo = _param(minval, dtype, shape, "uniform")
    hi = _param(maxval, dtype, shape, "uniform")
    info = dtypes.finfo(dtype)
    nbits, nmant = info.bits, info.nmant
    rng_bits = 8 if nmant < 8 else nbits
    uint = np.dtype(f"uint{nbits}")
    raw = lax.convert_element_type(_random_bits(key, rng_bits, shape), uint)
    # Random mantissa under the exponent of 1.0: a float in [1, 2), minus 1.
    one_bits = np.array(1.0, dtype).view(uint)
    mantissa = lax.shift_right_logical(raw, _full(rng_bits - nmant, uint, shape))
    float_bits = lax.bitwise_or(mantissa, _full(one_bits, uint, shape))
    floats = lax.sub(bitcast_convert_type_p.bind(float_bits, new_dtype=dtype),
                     _full(1.0, dtype, shape))
    return lax.max(lo, lax.add(lax.mul(floats, lax.sub(hi, lo)), lo))


def uniform(key: KeyArray, shape: Shape = (), dtype: DTypeLike = None,
            minval: ArrayLike = 0.0, maxval: ArrayLike = 1.0) -> Array:
    """Uniform floats in [minval, maxval) of ``shape`` (minval/maxval broadcast to it).

    ``maxval <= minval`` gives ``minval``, as in JAX. Raises ValueError for a non-float dtype
    or parameters that do not broadcast to ``shape``.
    """
    key = _check_key("uniform", key)
    dt = _float_dtype(dtype, "uniform")
    return _uniform(key, _canonical_shape(shape, "uniform"), dt, minval, maxval)


def normal(key: KeyArray, shape: Shape = (), dtype: DTypeLike = None) -> Array:
    """Standard normal floats of ``shape``: ``sqrt(2) * erf_inv(u)`` for u uniform in
    (-1, 1)."""
    key = _check_key("normal", key)
    dt = _float_dtype(dtype, "normal")
    shape = _canonical_shape(shape, "normal")
    return _normal(key, shape, dt)


def _normal(key: Array, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(key, shape, dtype, _const(lo, dtype), _const(1.0, dtype))
    return lax.mul(_full(_SQRT2, dtype, shape), lax.erf_inv(u))


def truncated_normal(key: KeyArray, lower: ArrayLike, upper: ArrayLike,
                     shape: Shape | None = None, dtype: DTypeLike = None) -> Array:
    """Standard normal floats conditioned on ``lower < x < upper`` (bounds broadcast to
    ``shape``; by default ``shape`` is their broadcast shape). Results lie in the open
    interval."""
    key = _check_key("truncated_normal", key)
    dt = _float_dtype(dtype, "truncated_normal")
    lower = lax.convert_element_type(asarray(lower), dt)
    upper = lax.convert_element_type(asarray(upper), dt)
    if shape is None:
        shape = broadcast_shapes(lower.shape, upper.shape)
    else:
        shape = _canonical_shape(shape, "truncated_normal")
        _check_shape("truncated_normal", shape, lower.shape, upper.shape)
    a = lax.erf(lax.div(lower, _SQRT2))
    b = lax.erf(lax.div(upper, _SQRT2))
    u = _uniform(key, shape, dt, a, b)
    out = lax.mul(lax.erf_inv(u), _SQRT2)
    above = lax.nextafter(lax.stop_gradient(lower), np.inf)
    below = lax.nextafter(lax.stop_gradient(upper), -np.inf)
    return lax.min(lax.max(out, broadcast_to(above, shape)), broadcast_to(below, shape))


def bernoulli(key: KeyArray, p: ArrayLike = 0.5, shape: Shape | None = None,
              mode: str = "low") -> Array:
    """Bools that are True with probability ``p`` (shape: ``shape``, or ``p``'s shape).

    ``mode='high'`` uses two uniforms per sample, which stays exact for p < 1e-7. Raises
    TypeError for an integer ``p`` and ValueError for a bad ``mode`` or shape.
    """
    if mode not in ("high", "low"):
        raise ValueError(f"got mode={mode!r}, expected 'high' or 'low'")
    key = _check_key("bernoulli", key)
    p = asarray(p)
    if not dtypes.is_float(p.dtype):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p.dtype}.")
    if shape is None:
        shape = p.shape
    else:
        shape = _canonical_shape(shape, "bernoulli")
        _check_shape("bernoulli", shape, p.shape)
    dt = p.dtype
    p = broadcast_to(lax.convert_element_type(p, dt), shape)
    if mode == "low":
        return lax.lt(_uniform(key, shape, dt, 0.0, 1.0), p)
    both = _uniform(key, (2, *shape), dt, 0.0, 1.0)
    u1, u2 = (lax.reshape(lax.slice_in_dim(both, i, i + 1), shape) for i in (0, 1))
    u2 = lax.mul(u2, 2.0 ** -dtypes.finfo(dt).nmant)
    return lax.lt(u2, lax.sub(p, u1))


def exponential(key: KeyArray, shape: Shape = (), dtype: DTypeLike = None) -> Array:
    """Exponential(1) floats of ``shape``: ``-log1p(-u)`` for u uniform in [0, 1)."""
    key = _check_key("exponential", key)
    dt = _float_dtype(dtype, "exponential")
    u = _uniform(key, _canonical_shape(shape, "exponential"), dt, 0.0, 1.0)
    return lax.neg(lax.log1p(lax.neg(u)))


def _gumbel(key: Array, shape: tuple[int, ...], dtype: np.dtype, mode: str) -> Array:
    info = dtypes.finfo(dtype)
    if mode == "low":
        u = _uniform(key, shape, dtype, float(info.tiny), 1.0)
        return lax.neg(lax.log(lax.neg(lax.log(u))))
    both = _uniform(key, (2, *shape), dtype, 0.0, 1.0)
    high, low = (lax.reshape(lax.slice_in_dim(both, i, i + 1), shape) for i in (0, 1))
    finer = lax.add(lax.add(high, lax.mul(low, 2.0 ** -info.nmant)), float(info.tiny))
    x = lax.select(lax.ge(high, 0.5), high, finer)
    return lax.neg(lax.log(lax.neg(lax.log1p(lax.neg(x)))))


def _gumbel_mode(mode: str | None) -> str:
    mode = "low" if mode is None else mode
    if mode not in ("low", "high"):
        raise ValueError(f"gumbel mode must be 'low' or 'high' (fborn has no 'highest'), got "
                         f"{mode!r}")
    return mode


def gumbel(key: KeyArray, shape: Shape = (), dtype: DTypeLike = None,
           mode: str | None = None) -> Array:
    """Standard Gumbel floats of ``shape``: ``-log(-log(u))``. ``mode='high'`` uses two
    uniforms per sample for a wider range of large values."""
    key = _check_key("gumbel", key)
    dt = _float_dtype(dtype, "gumbel")
    return _gumbel(key, _canonical_shape(shape, "gumbel"), dt, _gumbel_mode(mode))


def categorical(key: KeyArray, logits: ArrayLike, axis: int = -1, shape: Shape | None = None,
                replace: bool = True, mode: str | None = None) -> Array:
    """Indices sampled from the categorical distributions ``softmax(logits, axis)``.

    The result has ``shape``, which must end with (a broadcast of) the batch shape
    ``logits.shape`` without ``axis``; leading extra axes draw more samples. With replacement
    (Gumbel-max) they are independent and of the default int dtype; without (Gumbel top-k,
    int32) they are distinct, and their number may not exceed the number of categories.
    """
    key = _check_key("categorical", key)
    logits = asarray(logits)
    axis = canonicalize_axis(axis, logits.ndim)
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1:]
    if shape is None:
        shape = batch_shape
    else:
        shape = _canonical_shape(shape, "categorical")
        _check_shape("categorical", shape, batch_shape)
    prefix = shape[:len(shape) - len(batch_shape)]
    dt = _float_dtype(logits.dtype, "categorical")
    logits = lax.convert_element_type(logits, dt)
    mode = _gumbel_mode(mode)
    if not replace:
        return _categorical_no_replace(key, logits, axis, shape, prefix, mode)
    sample_shape = list(shape[len(prefix):])
    sample_shape.insert(axis, logits.shape[axis])
    full_shape = (*prefix, *sample_shape)
    scores = lax.add(_gumbel(key, full_shape, dt, mode), broadcast_to(logits, full_shape))
    return lax.argmax(scores, len(prefix) + axis, dtypes.default_int())


def _categorical_no_replace(key: Array, logits: Array, axis: int, shape: tuple[int, ...],
                            prefix: tuple[int, ...], mode: str) -> Array:
    """Gumbel top-k: the ``prod(prefix)`` best perturbed logits per batch entry (int32)."""
    k = math.prod(prefix)
    if k > logits.shape[axis]:
        raise ValueError(f"Number of samples without replacement ({k}) cannot exceed number "
                         f"of categories ({logits.shape[axis]}).")
    scores = lax.add(logits, _gumbel(key, logits.shape, logits.dtype, mode))
    moved = lax.transpose(scores, (*(d for d in range(scores.ndim) if d != axis), axis))
    _, indices = lax.top_k(moved, k)
    last = indices.ndim - 1
    return lax.reshape(indices, shape, (last, *range(last)))


def _int_bound(value: ArrayLike, name: str) -> Array:
    """A randint bound as an integer Array (floats truncate to the default int, as in JAX)."""
    if isinstance(value, int) and not isinstance(value, bool):
        info = dtypes.iinfo(dtypes.default_int())
        if not info.min <= value <= info.max:
            raise OverflowError(f"{name}: Python int {value} is out of range for "
                                f"{dtypes.default_int()}")
    arr = asarray(value)
    if not dtypes.is_int(arr.dtype):
        arr = lax.convert_element_type(arr, dtypes.default_int())
    return arr


def _convert_clip(x: Array, dtype: np.dtype) -> Array:
    """Integer ``x`` converted to integer ``dtype``, clipping to the common range (no wrap)."""
    src, dst = dtypes.iinfo(x.dtype), dtypes.iinfo(dtype)
    lo, hi = max(int(src.min), int(dst.min)), min(int(src.max), int(dst.max))
    return lax.convert_element_type(lax.max(lax.min(x, hi), lo), dtype)


def _rem_or_keep(x: Array, span: Array) -> Array:
    """``x % span`` for unsigned ints, keeping ``x`` where ``span`` wrapped to 0 (the full
    range), as XLA's remainder does."""
    return lax.select(lax.eq(span, 0), x, lax.rem(x, lax.max(span, 1)))


def _split_keys(key: Array, num: int) -> list[Array]:
    keys = _stack_last(_hash_counts(key, (num,)))
    return [lax.reshape(lax.slice_in_dim(keys, i, i + 1), (2,)) for i in range(num)]


def _randint(key: Array, shape: tuple[int, ...], minval: Array, maxval: Array,
             dtype: np.dtype) -> Array:
    _check_shape("randint", shape, minval.shape, maxval.shape)
    info = dtypes.iinfo(dtype)
    # maxval above the dtype's range (e.g. 2**31 for int32) means "up to and including max".
    top = min(int(info.max), int(dtypes.iinfo(maxval.dtype).max))
    maxval_out_of_range = broadcast_to(lax.gt(maxval, top), shape)
    lo = broadcast_to(_convert_clip(minval, dtype), shape)
    hi = broadcast_to(_convert_clip(maxval, dtype), shape)
    nbits = info.bits
    # Sample 2 * nbits random bits per value to shrink the modulo bias.
    k1, k2 = _split_keys(key, 2)
    higher, lower = _random_bits(k1, nbits, shape), _random_bits(k2, nbits, shape)
    unsigned = np.dtype(f"uint{nbits}")
    span = lax.convert_element_type(lax.sub(hi, lo), unsigned)
    span = lax.select(lax.le(hi, lo), _full(1, unsigned, shape), span)
    span = lax.select(lax.bitwise_and(maxval_out_of_range, lax.gt(hi, lo)),
                      lax.add(span, 1), span)
    # (higher * 2**nbits + lower) % span, with 2**nbits % span computed without overflow.
    multiplier = _rem_or_keep(_full(2 ** (nbits // 2), unsigned, shape), span)
    multiplier = _rem_or_keep(lax.mul(multiplier, multiplier), span)
    offset = lax.add(lax.mul(_rem_or_keep(higher, span), multiplier),
                     _rem_or_keep(lower, span))
    offset = _rem_or_keep(offset, span)
    return lax.add(lo, lax.convert_element_type(offset, dtype))


def randint(key: KeyArray, shape: Shape, minval: ArrayLike, maxval: ArrayLike,
            dtype: DTypeLike = None) -> Array:
    """Uniform integers in [minval, maxval) of ``shape`` (default int dtype; bounds broadcast
    to ``shape`` and are clipped to the dtype's range, ``maxval <= minval`` gives ``minval``).

    Like JAX, it reduces 2 * nbits random bits modulo the span, so ranges that are not powers
    of two carry a tiny bias; 8- and 16-bit dtypes are sampled as int32. Raises TypeError for a
    non-integer dtype.
    """
    key = _check_key("randint", key)
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    if not dtypes.is_int(dt):
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    shape = _canonical_shape(shape, "randint")
    lo, hi = _int_bound(minval, "randint"), _int_bound(maxval, "randint")
    info = dtypes.iinfo(dt)
    sample_dtype = dt
    if info.bits < 32:
        sample_dtype = dtypes.int32
        lo = lax.clamp(int(info.min), lax.convert_element_type(lo, dtypes.int32), int(info.max))
        hi = lax.clamp(int(info.min), lax.convert_element_type(hi, dtypes.int32),
                       int(info.max) + 1)
    return lax.convert_element_type(_randint(key, shape, lo, hi, sample_dtype), dt)


def _shuffle(key: Array, x: Array, axis: int, shared: bool) -> Array:
    """``x`` permuted along ``axis`` by rounds of stable sorts on random uint32 sort keys.

    ``shared``: one sort key per position along ``axis``, so every slice moves alike (JAX's
    ``take(x, permutation(n), axis)``); otherwise one per element (independent slices). The
    number of rounds makes key collisions (and so bias) unlikely: ceil(3 ln(count) / ln(2**32-1)).
    """
    key_shape = (x.shape[axis],) if shared else x.shape
    count = max(1, math.prod(key_shape))
    num_rounds = int(np.ceil(3 * np.log(count) / np.log(np.float64(_U32_MASK))))
    for _ in range(num_rounds):
        key, subkey = _split_keys(key, 2)
        sort_keys = _random_bits(subkey, 32, key_shape)
        if shared:
            sort_keys = lax.broadcast_in_dim(sort_keys, x.shape, (axis,))
        _, x = lax.sort_key_val(sort_keys, x, dimension=axis)
    return x


def _static_int(x: ArrayLike, what: str) -> int:
    return int(concrete_value(x, what))


def permutation(key: KeyArray, x: int | ArrayLike, axis: int = 0,
                independent: bool = False) -> Array:
    """A random permutation of ``arange(x)`` (int ``x``, default int dtype) or of the array
    ``x`` along ``axis`` (all slices alike, or each slice on its own if ``independent``).

    Raises TypeError for a non-integer scalar ``x``; a traced scalar ``x`` raises
    ConcretizationError (the size must be static).
    """
    key = _check_key("permutation", key)
    arr = asarray(x)
    if arr.ndim == 0:
        if not dtypes.is_int(arr.dtype):
            raise TypeError("x must be an integer or at least 1-dimensional")
        n = _static_int(x, "argument x of fborn.random.permutation()")
        return _shuffle(key, lax.iota(dtypes.default_int(), n), 0, shared=False)
    axis = canonicalize_axis(axis, arr.ndim)
    return _shuffle(key, arr, axis, shared=not independent and arr.ndim > 1)


def _searchsorted_left(sorted_1d: Array, values: Array) -> Array:
    """For each value, the number of entries of ``sorted_1d`` below it (default int)."""
    n = sorted_1d.shape[0]
    grid = (*values.shape, n)
    below = lax.lt(lax.broadcast_in_dim(sorted_1d, grid, (values.ndim,)),
                   lax.broadcast_in_dim(values, grid, tuple(range(values.ndim))))
    counts = lax.convert_element_type(below, dtypes.default_int())
    return lax.reduce_sum(counts, (values.ndim,))


def _choice_p(key: Array, p: ArrayLike, n_inputs: int, n_draws: int, shape: tuple[int, ...],
              replace: bool, mode: str | None) -> Array:
    """Indices drawn with probabilities ``p`` (inverse CDF with replacement, Gumbel top-k
    without)."""
    p_arr = asarray(p)
    if not dtypes.is_float(p_arr.dtype):
        p_arr = lax.convert_element_type(p_arr, dtypes.default_float())
    if p_arr.shape != (n_inputs,):
        raise ValueError(
            f"p must be None or a 1D vector with the same size as a.shape[axis]. p has shape "
            f"{p_arr.shape} and a.shape[axis] is {n_inputs}."
        )
    dt = p_arr.dtype
    if replace:
        cdf = lax.cumsum(p_arr)
        total = lax.reshape(lax.slice_in_dim(cdf, n_inputs - 1, n_inputs), ())
        u = _uniform(key, shape, dt, 0.0, 1.0)
        r = lax.mul(lax.broadcast_in_dim(total, shape, ()), lax.sub(1.0, u))
        return _searchsorted_left(cdf, r)
    g = lax.add(_gumbel(key, (n_inputs,), dt, _gumbel_mode(mode)), lax.log(p_arr))
    return lax.convert_element_type(lax.top_k(g, n_draws)[1], dtypes.default_int())


def choice(key: KeyArray, a: int | ArrayLike, shape: Sequence[int] = (), replace: bool = True,
           p: ArrayLike | None = None, axis: int = 0, mode: str | None = None) -> Array:
    """Random samples of ``arange(a)`` (int ``a``) or of the slices of ``a`` along ``axis``.

    The result replaces ``axis`` of ``a`` by ``shape``. ``p`` (1-D, one weight per entry)
    gives the probabilities. Raises ValueError for an empty population, a draw larger than
    the population without replacement, or a ``p`` of the wrong shape.
    """
    key = _check_key("choice", key)
    if not isinstance(shape, Sequence):
        raise TypeError(f"shape argument of fborn.random.choice must be a sequence, got {shape}")
    shape = _canonical_shape(shape, "choice")
    arr = asarray(a)
    if arr.ndim == 0:
        n_inputs = _static_int(a, "argument a of fborn.random.choice()")
    else:
        axis = canonicalize_axis(axis, arr.ndim)
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return _full(0, arr.dtype, shape)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population "
                         f"(size {n_inputs}) when 'replace=False'")
    out_shape = shape if arr.ndim == 0 else (*arr.shape[:axis], *shape, *arr.shape[axis + 1:])
    if p is None and not replace:
        population = lax.iota(dtypes.default_int(), n_inputs) if arr.ndim == 0 else arr
        drawn = permutation(key, population, axis)
        return lax.reshape(lax.slice_in_dim(drawn, 0, n_draws, axis=axis), out_shape)
    if p is None:
        ind = randint(key, shape, 0, n_inputs)
    else:
        ind = _choice_p(key, p, n_inputs, n_draws, shape, replace, mode)
    if arr.ndim == 0:
        return lax.reshape(ind, out_shape)
    return lax.reshape(fnp.take(arr, ind, axis=axis), out_shape)
