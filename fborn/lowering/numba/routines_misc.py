"""Numba routines for cumulative scans, sorts, top_k, convolutions and Threefry, plus the
scalar helpers that generated code calls as ``rm.<name>``: bit casts and the float16/bfloat16
conversions (16-bit floats are stored as uint16 bits and computed on as float32).

Conversions match numpy and ml_dtypes bit for bit: float32/float64 -> float16 rounds to nearest
even once (overflow to inf, gradual underflow, NaN payload bits kept as numpy does);
anything -> bfloat16 goes through float32 (as ml_dtypes does) and rounds to nearest even, NaN
becoming the quiet NaN 0x7fc0 with its sign. Stores keep the bits of NaNs that were loaded, so
data movement is bit-exact.

Routines: ``cumulative`` scans sequentially along the axis (an accumulator per inner
position); ``sort`` stably sorts each row's indices by integer keys that encode the order
(floats: -0.0 == 0.0, NaNs last), least significant key first, then gathers every operand;
``top_k`` keeps a sorted window of the best k per row (a full stable sort for k > 32);
``threefry2x32`` is one loop writing both words; ``conv`` is described below; ``gemm`` is a
single-threaded matrix product for the sizes where OpenBLAS's threads cost more than they
gain (``render.NATIVE_GEMM``). Loops that run in a ``prange`` index arrays with unsigned
offsets: numba cannot prove signed indices non-negative there, keeps its wraparound checks and
LLVM then leaves the loop scalar (5x slower on the convolution inner loop).

Convolution has five loop structures; ``conv_strategy`` picks one per shape:

- ``gemm``: per output batch element and group, the input windows gathered into a column
  matrix (input feature and tap by output position), then one matrix product with the weights
  straight into the output;
- ``scatter`` (unit strides): per batch element and group, one matrix product of the (output
  feature and tap, input feature) weights with the (input feature, position) input, each tap's
  rows then added into the output at the tap's shift. It reads only real input positions, so
  transposed convolutions (input gradients) skip the zeros their padding would put into a
  column matrix;
- ``dot``: per output element, one dot product over input features and the kernel window
  flattened along the input's offsets (the kernel copied into a zero-padded run), a block of
  output features sharing each input load: weight gradients, whose window is as large as the
  input and whose output is small;
- ``plane``: per (batch, feature) pair, every tap times the input accumulated into a plane
  indexed like the input (one long vectorized loop); ``direct``: one accumulator per output
  over the taps. These two serve integer work types and groups of 1-3 output features.

Programs that call BLAS (matrix products, ``gemm`` and ``scatter``) keep every loop off
numba's threads. Measured on the 2-core Xeon (AVX-512) of the benchmarks, one thread each
(``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``), CPU ms per call, median; batch 64; the
LeNet-5 convolutions and the gradient convolutions ``fborn.grad`` makes of them; ``auto`` is
the rule (the same code as the strategy it picks: the spread between the two columns is the
noise of a machine shared with other processes); jax.jit's CPU time is over its threads::

    case                                      plane  direct   gemm    dot scatter   auto   jax
    fwd1   64x1x28x28 * 6x1x5x5, pad 2        1.23    1.85   0.76   4.08    7.91   0.89  7.98
    fwd2   64x6x14x14 * 16x6x5x5              1.63    4.44   0.87  10.49    6.23   0.72  2.17
    dgrad2 64x16x10x10 * 6x16x5x5, pad 4      2.35    7.43   3.83   8.17    1.38   1.00  4.25
    wgrad2 64x6x14x14 (*) 64x16x10x10         3.94   27.64   2.39   2.07    4.47   1.72  2.78
    wgrad1 64x1x28x28 (*) 64x6x28x28, pad 2   1.62    6.37   3.38   1.35    9.84   1.24  4.56
    32x64x32x32 * 64x64x3x3, pad 1           88.6   624     71.2   1117    57.2   60.4   42.4
    32x128x16x16 * 128x128x3x3, pad 1       105.6   788     38.3    812    40.3   47.8   39.3

Bias and activation epilogues are not folded into the routine: the scheduler fuses them into
the consumers of the convolution's buffer (each reads ``relu(conv + b)`` lazily), and a
training step needs the pre-activation values for the gradient anyway.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from fborn.core import dtypes
from fborn.lowering.kernel_ir import Program, Routine, row_major_strides, terms_code
from fborn.lowering.numba import render
from fborn.lowering.numba.render import (
    HALF_DTYPES,
    PARALLEL_THRESHOLD,
    RoutineEmitter,
    flat_offset,
    half_load,
    half_round,
    half_store,
    loop_header,
    np_type,
    routine,
    value_type,
)

_OPTS = {"cache": True, "error_model": "numpy"}


# --- bit casts ---------------------------------------------------------------------------------

@intrinsic
def bitcast(typingctx, x, dtype):  # noqa: ANN001, ANN201 - numba intrinsic
    """Reinterpret the bits of scalar ``x`` as ``dtype`` (a numpy scalar type of the same
    width): ``bitcast(np.float32(1.0), np.uint32) == 0x3F800000``."""
    target = dtype.instance_type if isinstance(dtype, types.NumberClass) else None
    if target is None or not isinstance(x, (types.Integer, types.Float)):
        return None
    if target.bitwidth != x.bitwidth:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(x, dtype), codegen


# --- float16 -----------------------------------------------------------------------------------

@njit(**_OPTS)
def f16_to_f32(h):  # noqa: ANN001, ANN201
    """The float32 value of float16 bits ``h`` (exact)."""
    h = np.int64(h)
    sign = (h & 0x8000) << 16
    exponent = (h >> 10) & 0x1F
    mantissa = h & 0x3FF
    if exponent == 0x1F:
        bits = sign | 0x7F800000 | (mantissa << 13)
    elif exponent != 0:
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13)
    elif mantissa == 0:
        bits = sign
    else:
        value = np.float32(mantissa) * np.float32(5.960464477539063e-08)  # 2**-24
        return -value if sign else value
    return bitcast(np.uint32(bits), np.float32)


@njit(**_OPTS)
def f32_to_f16(x):  # noqa: ANN001, ANN201
    """The float16 bits nearest to float32 ``x`` (ties to even)."""
    u = np.int64(bitcast(np.float32(x), np.uint32))
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    if a >= 0x7F800000:
        if a == 0x7F800000:
            return np.uint16(sign | 0x7C00)
        payload = (a & 0x7FFFFF) >> 13
        return np.uint16(sign | 0x7C00 | (payload if payload else 1))
    if a >= 0x477FF000:  # 65520 and above round to inf
        return np.uint16(sign | 0x7C00)
    if a >= 0x38800000:  # a normal float16
        h = (a - 0x38000000) >> 13
        rest = a & 0x1FFF
        if rest > 0x1000 or (rest == 0x1000 and (h & 1)):
            h += 1
        return np.uint16(sign | h)
    shift = 126 - (a >> 23)
    if shift > 24:
        return np.uint16(sign)
    significand = (a & 0x7FFFFF) | 0x800000
    h = significand >> shift
    rest = significand & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and (h & 1)):
        h += 1
    return np.uint16(sign | h)


@njit(**_OPTS)
def f64_to_f16(x):  # noqa: ANN001, ANN201
    """The float16 bits nearest to float64 ``x`` (one rounding, as numpy casts)."""
    if not math.isfinite(x) or x == 0.0:
        return f32_to_f16(np.float32(x))
    _, exponent = math.frexp(x)
    scale = max(exponent - 11, -24)
    rounded = np.rint(math.ldexp(x, -scale))
    return f32_to_f16(np.float32(math.ldexp(rounded, scale)))


@njit(**_OPTS)
def round_f16(x):  # noqa: ANN001, ANN201
    """float32 ``x`` rounded to the nearest float16 value (as a float32)."""
    return f16_to_f32(f32_to_f16(x))


@njit(**_OPTS)
def round_f16_f64(x):  # noqa: ANN001, ANN201
    """float64 ``x`` rounded once to the nearest float16 value (as a float32)."""
    return f16_to_f32(f64_to_f16(x))


# --- bfloat16 ----------------------------------------------------------------------------------

@njit(**_OPTS)
def bf16_to_f32(h):  # noqa: ANN001, ANN201
    """The float32 value of bfloat16 bits ``h`` (exact)."""
    return bitcast(np.uint32(np.int64(h) << 16), np.float32)


@njit(**_OPTS)
def f32_to_bf16(x):  # noqa: ANN001, ANN201
    """The bfloat16 bits nearest to float32 ``x`` (ties to even). A NaN keeps its sign and
    high payload bits (so bfloat16 NaNs move through kernels unchanged), or becomes the quiet
    NaN when those bits are all zero."""
    u = np.int64(bitcast(np.float32(x), np.uint32))
    if x != x:
        return np.uint16(u >> 16 if (u >> 16) & 0x7F else ((u >> 16) & 0x8000) | 0x7FC0)
    return np.uint16((u + 0x7FFF + ((u >> 16) & 1)) >> 16)


@njit(**_OPTS)
def round_bf16(x):  # noqa: ANN001, ANN201
    """float32 ``x`` rounded to the nearest bfloat16 value (as a float32), as ml_dtypes casts:
    every NaN becomes the quiet NaN with its sign."""
    if x != x:
        sign = np.int64(bitcast(np.float32(x), np.uint32)) >> 16 & 0x8000
        return bf16_to_f32(sign | 0x7FC0)
    return bf16_to_f32(f32_to_bf16(x))


# --- matrix products of moderate size ---------------------------------------------------------

@njit(fastmath={"contract", "reassoc", "nsz"}, **_OPTS)
def gemm(a, b, c):  # noqa: ANN001, ANN201
    """``c = a @ b`` on one thread, for 2-D float arrays with ``b`` and ``c`` C-contiguous:
    four rows of ``a`` and four steps of the contraction at a time, the innermost loop along
    the rows of ``b`` and ``c`` (it vectorizes). About 1.2-1.8x the time of single-threaded
    OpenBLAS on products of 10^5-10^7 multiply-adds; used where OpenBLAS would use threads
    (see ``render.NATIVE_GEMM``)."""
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            c[i, j] = 0
    k4 = k - k % 4
    for i in range(0, m - m % 4, 4):
        for p in range(0, k4, 4):
            a00, a01, a02, a03 = a[i, p], a[i, p + 1], a[i, p + 2], a[i, p + 3]
            a10, a11, a12, a13 = a[i + 1, p], a[i + 1, p + 1], a[i + 1, p + 2], a[i + 1, p + 3]
            a20, a21, a22, a23 = a[i + 2, p], a[i + 2, p + 1], a[i + 2, p + 2], a[i + 2, p + 3]
            a30, a31, a32, a33 = a[i + 3, p], a[i + 3, p + 1], a[i + 3, p + 2], a[i + 3, p + 3]
            for j in range(n):
                b0, b1, b2, b3 = b[p, j], b[p + 1, j], b[p + 2, j], b[p + 3, j]
                c[i, j] += a00 * b0 + a01 * b1 + a02 * b2 + a03 * b3
                c[i + 1, j] += a10 * b0 + a11 * b1 + a12 * b2 + a13 * b3
                c[i + 2, j] += a20 * b0 + a21 * b1 + a22 * b2 + a23 * b3
                c[i + 3, j] += a30 * b0 + a31 * b1 + a32 * b2 + a33 * b3
        for p in range(k4, k):
            for r in range(i, i + 4):
                v = a[r, p]
                for j in range(n):
                    c[r, j] += v * b[p, j]
    for i in range(m - m % 4, m):
        for p in range(k):
            v = a[i, p]
            for j in range(n):
                c[i, j] += v * b[p, j]


# --- threefry ----------------------------------------------------------------------------------

@njit(**_OPTS)
def _rotl(v, r):  # noqa: ANN001, ANN202
    return np.uint32(((np.uint64(v) << r) | (np.uint64(v) >> (32 - r))) & 0xFFFFFFFF)


@njit(**_OPTS)
def _rounds(a, b, r0, r1, r2, r3):  # noqa: ANN001, ANN202
    """Four Threefry rounds: ``a += b; b = rotl(b, r) ^ a``."""
    a = np.uint32((np.uint64(a) + b) & 0xFFFFFFFF)
    b = _rotl(b, r0) ^ a
    a = np.uint32((np.uint64(a) + b) & 0xFFFFFFFF)
    b = _rotl(b, r1) ^ a
    a = np.uint32((np.uint64(a) + b) & 0xFFFFFFFF)
    b = _rotl(b, r2) ^ a
    a = np.uint32((np.uint64(a) + b) & 0xFFFFFFFF)
    b = _rotl(b, r3) ^ a
    return a, b


@njit(**_OPTS)
def _inject(a, b, ka, kb, group):  # noqa: ANN001, ANN202
    return (np.uint32((np.uint64(a) + ka) & 0xFFFFFFFF),
            np.uint32((np.uint64(b) + kb + group) & 0xFFFFFFFF))


@njit(**_OPTS)
def threefry2x32(k0, k1, x0, x1):  # noqa: ANN001, ANN201
    """Threefry-2x32 (20 rounds) of the counter pair ``(x0, x1)`` under key ``(k0, k1)``:
    the two output words (uint32)."""
    k0 = np.uint32(k0)
    k1 = np.uint32(k1)
    k2 = np.uint32(k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    a, b = _inject(x0, x1, k0, k1, 0)
    a, b = _rounds(a, b, 13, 15, 26, 6)
    a, b = _inject(a, b, k1, k2, 1)
    a, b = _rounds(a, b, 17, 29, 16, 24)
    a, b = _inject(a, b, k2, k0, 2)
    a, b = _rounds(a, b, 13, 15, 26, 6)
    a, b = _inject(a, b, k0, k1, 3)
    a, b = _rounds(a, b, 17, 29, 16, 24)
    a, b = _inject(a, b, k1, k2, 4)
    a, b = _rounds(a, b, 13, 15, 26, 6)
    return _inject(a, b, k2, k0, 5)


# --- sort keys ---------------------------------------------------------------------------------

@njit(**_OPTS)
def float_sort_keys(bits, inf, magnitude):  # noqa: ANN001, ANN201
    """Signed-int keys ordering floats (given as signed-int ``bits``; ``inf``: the bits of
    +inf, ``magnitude``: all bits but the sign) as ``sort`` does: -0.0 equals 0.0 and every
    NaN sorts after +inf, all NaNs equal."""
    keys = np.empty_like(bits)
    for i in range(bits.size):
        v = bits[i]
        a = v & magnitude
        if a == 0:
            keys[i] = 0
        elif a > inf:
            keys[i] = inf + 1
        else:
            keys[i] = v ^ magnitude if v < 0 else v
    return keys


@njit(**_OPTS)
def top_k_keys(bits, magnitude):  # noqa: ANN001, ANN201
    """Keys whose ascending order is the descending IEEE total order of floats given as
    signed-int ``bits`` (``magnitude``: all bits but the sign)."""
    keys = np.empty_like(bits)
    for i in range(bits.size):
        v = bits[i]
        keys[i] = ~(v ^ magnitude if v < 0 else v)
    return keys


@njit(**_OPTS)
def sort_perm(keys, perm):  # noqa: ANN001, ANN201
    """Reorder the indices ``perm`` in place so that ``keys[perm]`` ascends, equal keys keeping
    their order in ``perm``: a stable sort of (key, index) pairs gathered into contiguous
    buffers (insertion sort on runs of 16, then bottom-up merges)."""
    n = perm.size
    src_keys = np.empty(n, keys.dtype)
    for i in range(n):
        src_keys[i] = keys[perm[i]]
    src_perm = perm
    for start in range(0, n, 16):
        for i in range(start + 1, min(start + 16, n)):
            key, p = src_keys[i], src_perm[i]
            j = i - 1
            while j >= start and src_keys[j] > key:
                src_keys[j + 1], src_perm[j + 1] = src_keys[j], src_perm[j]
                j -= 1
            src_keys[j + 1], src_perm[j + 1] = key, p
    dst_keys, dst_perm = np.empty_like(src_keys), np.empty_like(src_perm)
    width, swapped = 16, False
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if j < hi and (i >= mid or src_keys[j] < src_keys[i]):
                    dst_keys[k], dst_perm[k] = src_keys[j], src_perm[j]
                    j += 1
                else:
                    dst_keys[k], dst_perm[k] = src_keys[i], src_perm[i]
                    i += 1
        src_keys, dst_keys = dst_keys, src_keys
        src_perm, dst_perm = dst_perm, src_perm
        width, swapped = 2 * width, not swapped
    if swapped:
        perm[:] = src_perm


@njit(**_OPTS)
def smallest_k(keys, k, perm):  # noqa: ANN001, ANN201
    """The indices of the ``k`` smallest ``keys`` into ``perm[:k]``, ascending, equal keys in
    index order (insertion into a sorted window: O(n k) at worst, about O(n) on random
    data)."""
    best = np.empty(k, keys.dtype)
    filled = 0
    for i in range(keys.size):
        key = keys[i]
        if filled == k and not key < best[k - 1]:
            continue
        j = min(filled, k - 1)
        while j > 0 and key < best[j - 1]:
            best[j], perm[j] = best[j - 1], perm[j - 1]
            j -= 1
        best[j], perm[j] = key, i
        filled = min(filled + 1, k)


# --- routine emitters --------------------------------------------------------------------------

render.HALF_ROUTINES.update({"cumulative", "sort", "top_k", "conv"})
SMALL_TOP_K = 32  # top_k keeps a sorted window of the best k up to this k


def local_names(emit: RoutineEmitter) -> RoutineEmitter:
    """Make the names an emitter marks with ``$`` unique to the routine (suffixed with its
    first output's name), so that routines never share a variable with other code (numba
    types each variable once per loop nest)."""

    def wrapped(r: Routine, program: Program) -> list[str]:
        return [line.replace("$", f"_{r.outputs[0]}") for line in emit(r, program)]

    return wrapped


def _parallel(sizes: list[int], work: int) -> bool:
    return bool(sizes) and sizes[0] > 1 and work >= PARALLEL_THRESHOLD


def _alloc(name: str, program: Program) -> str:
    info = program.buffers[name]
    return f"    {name} = np.empty({info.size}, {np_type(info.dtype)})"


def _typed(code: str, dtype: np.dtype) -> str:
    """``code`` as a value of ``dtype`` (rounded to it for 16-bit floats)."""
    if dtype in HALF_DTYPES:
        return half_round(dtype, f"np.float32({code})")
    return f"{value_type(dtype)}({code})"


def _scan_combine(op: str, acc: str, v: str, dtype: np.dtype) -> str:
    if op == "sum":
        return _typed(f"{acc} + {v}", dtype)
    if op == "prod":
        return _typed(f"{acc} * {v}", dtype)
    if dtypes.is_float(dtype):
        return f"rt.f{op}({acc}, {v})"
    return f"{op}({acc}, {v})"


@routine("cumulative")
@local_names
def _cumulative_code(r: Routine, program: Program) -> list[str]:
    """A sequential scan along ``axis``: outer axes, then the scanned axis, then the inner
    axes (contiguous, carrying one accumulator each)."""
    p = r.params
    (out,) = r.outputs
    shape, axis, op = p["shape"], p["axis"], p["op"]
    dtype = program.buffers[out].dtype
    lines = [_alloc(out, program)]
    if math.prod(shape) == 0:
        return lines
    n, inner = shape[axis], math.prod(shape[axis + 1:])
    names = [f"u{d}" for d in range(len(shape))]
    outer_sizes = list(shape[:axis])
    parallel = _parallel(outer_sizes, math.prod(shape))
    array_acc = inner > 1
    if array_acc and not parallel:
        lines.append(f"    acc$ = np.empty({inner}, {value_type(dtype)})")
    indent = loop_header(lines, outer_sizes, names[:axis], "    ", parallel)
    if array_acc and parallel:
        lines.append(f"{indent}acc$ = np.empty({inner}, {value_type(dtype)})")
    elif not array_acc:  # defined in every outer step: not a reduction across prange steps
        lines.append(f"{indent}acc$ = {value_type(dtype)}(0)")
    lines.append(f"{indent}for step in range({n}):")
    indent += "    "
    position = f"{n - 1} - step" if p["reverse"] else "step"
    lines.append(f"{indent}{names[axis]} = {position}")
    indent = loop_header(lines, list(shape[axis + 1:]), names[axis + 1:], indent, False)
    body = render._Body(indent, names, "e{}$")
    value = body.emit(p["value"])
    lines += body.lines
    slot = f"acc$[{flat_offset(names[axis + 1:], shape[axis + 1:])}]" if array_acc else "acc$"
    lines += [f"{indent}if step == 0:",
              f"{indent}    {slot} = {value}",
              f"{indent}else:",
              f"{indent}    {slot} = {_scan_combine(op, slot, value, dtype)}",
              f"{indent}{out}[{flat_offset(names, shape)}] = {half_store(dtype, slot)}"]
    return lines


_FLOAT_BITS = {dtypes.float16: ("int16", 0x7C00, 0x7FFF),
               dtypes.bfloat16: ("int16", 0x7F80, 0x7FFF),
               dtypes.float32: ("int32", 0x7F800000, 0x7FFFFFFF),
               dtypes.float64: ("int64", 0x7FF0000000000000, 0x7FFFFFFFFFFFFFFF)}


def _sort_keys_code(name: str, dtype: np.dtype, top_k: bool) -> str:
    """Code for the integer key array of buffer ``name``: ascending order of the keys is
    ``sort``'s order (or, ``top_k``, the descending IEEE total order)."""
    if dtype == dtypes.bool_:
        name = f"{name}.view(np.uint8)"
    if not dtypes.is_float(dtype):
        return f"~{name}" if top_k else name
    width, inf, magnitude = _FLOAT_BITS[dtype]
    bits = f"{name}.view(np.{width})"
    if top_k:
        return f"rm.top_k_keys({bits}, np.{width}({magnitude}))"
    return f"rm.float_sort_keys({bits}, np.{width}({inf}), np.{width}({magnitude}))"


@routine("sort")
@local_names
def _sort_code(r: Routine, program: Program) -> list[str]:
    """Per row along ``dimension``: a stable sort of the row's indices by the last key, then
    by each earlier key (least significant first), then every operand gathered by the
    permutation."""
    p = r.params
    shape, dim, num_keys = p["shape"], p["dimension"], p["num_keys"]
    lines = [_alloc(o, program) for o in r.outputs]
    size = math.prod(shape)
    if size == 0:
        return lines
    outer, n, inner = math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1:])
    for k, name in enumerate(r.inputs[:num_keys]):
        dtype = program.buffers[name].dtype
        lines.append(f"    key{k}$ = {_sort_keys_code(name, dtype, False)}")
    rows = outer * inner
    parallel = rows > 1 and size * max(int(math.log2(n)), 1) >= PARALLEL_THRESHOLD
    lines += [f"    for sr in {'prange' if parallel else 'range'}({rows}):",
              f"        base = (sr // {inner}) * {n * inner} + sr % {inner}",
              f"        perm$ = np.arange({n})"]
    row = "base:base + " + (f"{n}" if inner == 1 else f"{n * inner}:{inner}")
    for k in range(num_keys - 1, -1, -1):
        lines.append(f"        rm.sort_perm(key{k}$[{row}], perm$)")
    lines += [f"        for j in range({n}):",
              f"            at = base + perm$[j] * {inner}",
              f"            to = base + j * {inner}"]
    lines += [f"            {dst}[to] = {src}[at]"
              for src, dst in zip(r.inputs, r.outputs, strict=True)]
    return lines


@routine("top_k")
@local_names
def _top_k_code(r: Routine, program: Program) -> list[str]:
    """Per row: the k smallest descending-order keys (a sorted window for small k, else a
    full stable sort of the row)."""
    p = r.params
    (src,), (values, indices) = r.inputs, r.outputs
    shape, k = p["shape"], p["k"]
    lines = [_alloc(o, program) for o in r.outputs]
    n = shape[-1]
    rows = math.prod(shape[:-1])
    if rows * k == 0:
        return lines
    dtype = program.buffers[src].dtype
    lines.append(f"    keys$ = {_sort_keys_code(src, dtype, True)}")
    parallel = rows > 1 and rows * n * max(int(math.log2(n)), 1) >= PARALLEL_THRESHOLD
    row = f"keys$[row * {n}:(row + 1) * {n}]"
    lines.append(f"    for row in {'prange' if parallel else 'range'}({rows}):")
    if k <= SMALL_TOP_K:
        lines += [f"        perm$ = np.empty({k}, np.int64)",
                  f"        rm.smallest_k({row}, {k}, perm$)"]
    else:
        lines += [f"        perm$ = np.arange({n})",
                  f"        rm.sort_perm({row}, perm$)"]
    lines += [f"        for j in range({k}):",
              f"            {values}[row * {k} + j] = {src}[row * {n} + perm$[j]]",
              f"            {indices}[row * {k} + j] = np.int32(perm$[j])"]
    return lines


@routine("threefry2x32")
@local_names
def _threefry2x32_code(r: Routine, program: Program) -> list[str]:
    """One loop nest over the output shape writing both words."""
    shape = r.params["shape"]
    out0, out1 = r.outputs
    lines = [_alloc(o, program) for o in r.outputs]
    size = math.prod(shape)
    if size == 0:
        return lines
    names = [f"u{d}" for d in range(len(shape))]
    indent = loop_header(lines, list(shape), names, "    ", _parallel(list(shape), 8 * size))
    body = render._Body(indent, names, "e{}$")
    k0, k1, x0, x1 = (body.emit(e) for e in r.params["values"])
    lines += body.lines
    flat = flat_offset(names, shape)
    lines += [f"{indent}w0$, w1$ = rm.threefry2x32({k0}, {k1}, {x0}, {x1})",
              f"{indent}{out0}[{flat}] = w0$",
              f"{indent}{out1}[{flat}] = w1$"]
    return lines


# --- convolution -------------------------------------------------------------------------------

CONV_STRATEGIES = ("plane", "direct", "gemm", "dot", "scatter")
BLAS_CONV_STRATEGIES = ("gemm", "scatter")
# Forces one of CONV_STRATEGIES for every conv it can compute, ``direct`` for the others
# (benchmarks and tests); None picks per shape.
FORCE_CONV_STRATEGY: str | None = None
# Convolutions may call BLAS: the renderer then keeps its elementwise loops off numba's threads.
render.BLAS_ROUTINES.add("conv")


def _unsigned(var: str, k: int) -> str:
    """``var * k`` for an unsigned loop variable (numba would make uint64 * int64 a float)."""
    return var if k == 1 else f"{var} * np.uint64({k})"


def _conv_work_dtype(in_dtype: np.dtype, out_dtype: np.dtype) -> np.dtype:
    """The accumulation dtype of the reference implementation."""
    if dtypes.is_float(in_dtype) or dtypes.is_float(out_dtype):
        return dtypes.float64 if dtypes.float64 in (in_dtype, out_dtype) else dtypes.float32
    return dtypes.uint64 if dtypes.uint64 in (in_dtype, out_dtype) else dtypes.int64


def _to_work(value: str, source: np.dtype, work: np.dtype) -> str:
    """Code for buffer element ``value`` (of ``source``) as a ``work`` value."""
    if source in HALF_DTYPES:
        return half_load(source, value)
    return value if source == work else f"np.{work.name}({value})"


def _from_work(value: str, work: np.dtype, target: np.dtype) -> str:
    """Code for ``work`` value ``value`` as an element of a ``target`` buffer."""
    if target == dtypes.bool_:
        return f"{value} != 0"
    if target in HALF_DTYPES:
        return half_store(target, value)
    return value if target == work else f"np.{target.name}({value})"


def calls_blas(program: Program) -> bool:
    """Whether ``program`` calls BLAS (a matrix product or a BLAS convolution) at its top
    level: its other loops then stay off numba's threads, which would spin against BLAS's."""
    for stmt in program.statements:
        if isinstance(stmt, Routine) and stmt.kind == "dot_general":
            return True
        if (isinstance(stmt, Routine) and stmt.kind == "conv"
                and conv_strategy(_Conv(stmt, program)) in BLAS_CONV_STRATEGIES):
            return True
    return False


class _Conv:
    """The geometry of one ``conv`` routine in canonical terms: input (N, C, *S), kernel
    (O, I, *K), output (N', O, *P), with the flat strides of each canonical axis of the input
    the loops read (the lhs itself, or its zero-padded, dilated canonical copy)."""

    def __init__(self, r: Routine, program: Program):
        p = r.params
        self.lhs, self.rhs = r.inputs
        (self.out,) = r.outputs
        self.in_dtype = program.buffers[self.lhs].dtype
        self.out_dtype = program.buffers[self.out].dtype
        self.work = _conv_work_dtype(self.in_dtype, self.out_dtype)
        self.ls, self.rs, self.os = p["dimension_numbers"]
        self.lhs_shape, self.rhs_shape = p["lhs_shape"], p["rhs_shape"]
        self.out_shape = p["out_shape"]
        self.n, self.c = (self.lhs_shape[a] for a in self.ls[:2])
        self.o, self.i = (self.rhs_shape[a] for a in self.rs[:2])
        self.nout = self.out_shape[self.os[0]]
        self.s_in = [self.lhs_shape[a] for a in self.ls[2:]]
        self.k = [self.rhs_shape[a] for a in self.rs[2:]]
        self.p = [self.out_shape[a] for a in self.os[2:]]
        self.d = len(self.k)
        self.stride, self.padding = p["window_strides"], p["padding"]
        self.ld, self.rd = p["lhs_dilation"], p["rhs_dilation"]
        self.fgc, self.bgc = p["feature_group_count"], p["batch_group_count"]
        self.groups = max(self.fgc, self.bgc)
        self.og = self.o // self.groups
        rhs_strides = row_major_strides(self.rhs_shape)
        self.w_strides = [rhs_strides[a] for a in self.rs]
        self.padded = not (all(v == 1 for v in self.ld)
                           and all(lo == hi == 0 for lo, hi in self.padding))
        self.copy_input = self.padded or self.in_dtype != self.work
        if self.copy_input:
            self.sp = [(n - 1) * d + 1 + lo + hi if n else 0
                       for n, d, (lo, hi) in zip(self.s_in, self.ld, self.padding, strict=True)]
            self.x_strides = row_major_strides([self.n, self.c, *self.sp])
        else:
            lhs_strides = row_major_strides(self.lhs_shape)
            self.sp = list(self.s_in)
            self.x_strides = [lhs_strides[a] for a in self.ls]
        self.threads = True  # whether loops may run on numba's threads (set by the emitter)

    @property
    def window(self) -> int:
        return math.prod(self.k)

    @property
    def positions(self) -> int:
        return math.prod(self.p)

    @property
    def positions_in(self) -> int:
        return math.prod(self.s_in)

    @property
    def blas(self) -> bool:
        """Whether the work dtype is one BLAS computes in."""
        return self.work in (dtypes.float32, dtypes.float64)

    def plane_length(self) -> int:
        """The span of input offsets that the output positions of one window tap cover."""
        return 1 + sum((p - 1) * s * self.x_strides[2 + k]
                       for k, (p, s) in enumerate(zip(self.p, self.stride, strict=True)))

    def window_length(self) -> int:
        """The span of input offsets that the taps of one window cover."""
        return 1 + sum((k - 1) * d * self.x_strides[2 + a]
                       for a, (k, d) in enumerate(zip(self.k, self.rd, strict=True)))

    def macs(self) -> int:
        return self.nout * self.o * self.positions * self.i * self.window

    def parallel(self, sizes: list[int], work: int) -> bool:
        return self.threads and _parallel(sizes, work)

    def x_base(self, n: str, g: str) -> str:
        """The input offset of output batch ``n``'s slice for group ``g``."""
        if self.bgc > 1:
            return f"({n} + {g} * {self.nout}) * {self.x_strides[0]}"
        return terms_code([(n, self.x_strides[0]), (g, self.i * self.x_strides[1])])

    def x_offset(self, c: str, ks: list[str], ps: list[str]) -> str:
        """The input offset of channel ``c`` at kernel position ``ks``, output ``ps``."""
        pairs = [(c, self.x_strides[1])]
        for k in range(self.d):
            pairs += [(ks[k], self.rd[k] * self.x_strides[2 + k]),
                      (ps[k], self.stride[k] * self.x_strides[2 + k])]
        return terms_code(pairs)

    def w_offset(self, o: str, c: str, ks: list[str]) -> str:
        return terms_code(list(zip([o, c, *ks], self.w_strides, strict=True)))

    def out_layout(self) -> tuple[int, ...]:
        """The canonical axes of the output buffer in memory order."""
        return tuple(sorted(range(len(self.os)), key=lambda k: self.os[k]))


def applicable(strategy: str, cv: _Conv) -> bool:
    """Whether ``strategy`` can compute ``cv``: ``gemm``, ``dot`` and ``scatter`` need a float
    work dtype, ``scatter`` also unit strides."""
    if strategy in ("plane", "direct"):
        return True
    return cv.blas and (strategy != "scatter" or all(s == 1 for s in cv.stride))


def conv_strategy(cv: _Conv) -> str:
    """The loop structure for ``cv`` (measurements in the module docstring): for float work,
    ``scatter`` when the output has more positions than the input (unit strides: transposed
    convolutions), ``dot`` when the kernel window is at least as large as the output and
    spans a long dense run of the input (weight gradients), ``gemm`` when a group has at
    least 4 output features to share the column matrix; otherwise ``plane`` unless its plane
    is over 8 times larger than the output (large strides or a scattered input layout: it
    would mostly compute positions that are thrown away), then ``direct``."""
    if FORCE_CONV_STRATEGY is not None:
        return FORCE_CONV_STRATEGY if applicable(FORCE_CONV_STRATEGY, cv) else "direct"
    if cv.blas and cv.d:
        if all(s == 1 for s in cv.stride) and cv.positions_in < cv.positions:
            return "scatter"
        if cv.window >= cv.positions and 256 <= cv.window_length() <= 2 * cv.window:
            return "dot"
    if cv.blas and cv.og >= 4:
        return "gemm"
    return "plane" if cv.plane_length() <= 8 * cv.positions else "direct"


def _conv_input(cv: _Conv, lines: list[str]) -> str:
    """The flat array read as the canonical input: the lhs itself, or a zero-padded, dilated,
    canonical copy in the work dtype."""
    if not cv.copy_input:
        return cv.lhs
    size = cv.n * cv.c * math.prod(cv.sp)
    lines.append(f"    xpad$ = np.{'zeros' if cv.padded else 'empty'}({size}, np.{cv.work.name})")
    names = [f"a{k}" for k in range(len(cv.lhs_shape))]
    indent = loop_header(lines, list(cv.lhs_shape), names, "    ",
                         cv.parallel(list(cv.lhs_shape), math.prod(cv.lhs_shape)))
    canon = [names[a] for a in cv.ls]
    targets, checks = [], []
    for k, (lo, hi) in enumerate(cv.padding):
        lines.append(f"{indent}s{k} = {terms_code([(canon[2 + k], cv.ld[k])])} + {lo}")
        targets.append(f"s{k}")
        if lo < 0 or hi < 0:
            checks.append(f"0 <= s{k} < {cv.sp[k]}")
    if checks:
        lines.append(f"{indent}if {' and '.join(checks)}:")
        indent += "    "
    address = terms_code(list(zip([canon[0], canon[1], *targets], cv.x_strides, strict=True)))
    value = _to_work(f"{cv.lhs}[{flat_offset(names, cv.lhs_shape)}]", cv.in_dtype, cv.work)
    lines.append(f"{indent}xpad$[{address}] = {value}")
    return "xpad$"


def _conv_canonical_input(cv: _Conv, lines: list[str]) -> str:
    """The flat lhs in the canonical (N, C, *S) layout and the work dtype, unpadded: the lhs
    itself when it already is, else a copy."""
    if tuple(cv.ls) == tuple(range(len(cv.ls))) and cv.in_dtype == cv.work:
        return cv.lhs
    names = [f"a{k}" for k in range(len(cv.lhs_shape))]
    lines.append(f"    xc$ = np.empty({math.prod(cv.lhs_shape)}, np.{cv.work.name})")
    indent = loop_header(lines, list(cv.lhs_shape), names, "    ", False)
    canon = [names[a] for a in cv.ls]
    address = terms_code(list(zip(canon, row_major_strides([cv.n, cv.c, *cv.s_in]), strict=True)))
    value = _to_work(f"{cv.lhs}[{flat_offset(names, cv.lhs_shape)}]", cv.in_dtype, cv.work)
    lines.append(f"{indent}xc$[{address}] = {value}")
    return "xc$"


def _conv_weights(cv: _Conv, lines: list[str]) -> str:
    """The flat rhs in its own layout, in the work dtype."""
    if cv.in_dtype == cv.work:
        return cv.rhs
    size = math.prod(cv.rhs_shape)
    lines += [f"    wsrc$ = np.empty({size}, np.{cv.work.name})",
              f"    for q in range({size}):",
              f"        wsrc$[q] = {_to_work(f'{cv.rhs}[q]', cv.in_dtype, cv.work)}"]
    return "wsrc$"


def _conv_weight_copy(cv: _Conv, lines: list[str], w: str, name: str, order: list[int],
                      span: int | None = None) -> str:
    """Copy the weights ``w`` (work dtype, own layout) into the flat array ``name`` whose
    axes are the canonical (O, I, *K) axes in ``order``; with ``span``, the taps are instead
    laid out at their input offsets in a zero-padded run of ``span`` per (O, I) pair."""
    names = ["o", "c", *(f"k{k}" for k in range(cv.d))]
    sizes = [cv.o, cv.i, *cv.k]
    if span is None:
        size = math.prod(sizes)
        target = terms_code(list(zip([names[a] for a in order],
                                 row_major_strides([sizes[a] for a in order]), strict=True)))
    else:
        size = cv.o * cv.i * span
        taps = [(names[2 + k], cv.rd[k] * cv.x_strides[2 + k]) for k in range(cv.d)]
        target = terms_code([("o", cv.i * span), ("c", span), *taps])
    lines.append(f"    {name} = np.{'empty' if span is None else 'zeros'}({size}, "
                 f"np.{cv.work.name})")
    indent = loop_header(lines, sizes, names, "    ", False)
    lines.append(f"{indent}{name}[{target}] = {w}[{cv.w_offset('o', 'c', names[2:])}]")
    return name


def _conv_writeback(cv: _Conv, lines: list[str], src: str, strides: list[int]) -> None:
    """Copy the work-dtype result ``src`` (canonical axes at flat ``strides``) into the output
    buffer, in its layout and dtype."""
    names = [f"b{k}" for k in range(len(cv.out_shape))]
    indent = loop_header(lines, list(cv.out_shape), names, "    ",
                         cv.parallel(list(cv.out_shape), math.prod(cv.out_shape)))
    canon = [names[a] for a in cv.os]
    value = _from_work(f"{src}[{terms_code(list(zip(canon, strides, strict=True)))}]", cv.work,
                       cv.out_dtype)
    lines.append(f"{indent}{cv.out}[{flat_offset(names, cv.out_shape)}] = {value}")


def _conv_pairs(cv: _Conv, lines: list[str], block: int = 1) -> None:
    """The (parallel) loop over (output batch, block of ``block`` output features) pairs,
    binding ``no``, ``n``, ``o`` (the block's first feature) and the input offset ``xb``."""
    blocks = cv.o // block
    loop = "prange" if cv.parallel([cv.nout * blocks], cv.macs()) else "range"
    lines += [f"    for no in {loop}({cv.nout * blocks}):",
              f"        n = no // {blocks}",
              f"        o = no % {blocks}" if block == 1 else
              f"        o = (no % {blocks}) * {block}"]
    if cv.groups > 1:
        lines.append(f"        g = o // {cv.og}")
    lines.append(f"        xb = {cv.x_base('n', 'g' if cv.groups > 1 else '0')}")


def _conv_target(cv: _Conv, lines: list[str], zero: bool = False) -> str:
    """The flat canonical (N', O, *P) work-dtype array the loops fill (zeroed first if
    ``zero``): the output buffer itself when it has that layout and dtype."""
    size = cv.nout * cv.o * cv.positions
    if cv.out_layout() == tuple(range(len(cv.os))) and cv.out_dtype == cv.work:
        if zero:
            lines += [f"    for z in range({size}):", f"        {cv.out}[z] = 0"]
        return cv.out
    lines.append(f"    res$ = np.{'zeros' if zero else 'empty'}({size}, np.{cv.work.name})")
    return "res$"


def _conv_finish(cv: _Conv, lines: list[str], dst: str) -> None:
    if dst != cv.out:
        _conv_writeback(cv, lines, dst, row_major_strides([cv.nout, cv.o, *cv.p]))


def _conv_plane(cv: _Conv, lines: list[str], x: str, w: str) -> None:
    """Per (batch, feature) pair: accumulate every kernel tap times the input window into a
    local plane indexed like the input (one long contiguous loop that vectorizes; the plane
    also holds the positions between outputs), then gather the outputs from it."""
    dst = _conv_target(cv, lines)
    ks, ps = [f"k{k}" for k in range(cv.d)], [f"p{k}" for k in range(cv.d)]
    length = cv.plane_length()
    _conv_pairs(cv, lines)
    lines.append(f"        plane$ = np.zeros({length}, np.{cv.work.name})")
    indent = loop_header(lines, [cv.i, *cv.k], ["c", *ks], "        ", False)
    lines += [f"{indent}wv$ = {w}[{cv.w_offset('o', 'c', ks)}]",
              f"{indent}xu = np.uint64(xb + {cv.x_offset('c', ks, ['0'] * cv.d)})",
              f"{indent}for q in range(np.uint64({length})):",
              f"{indent}    plane$[q] += wv$ * {x}[xu + q]"]
    indent = loop_header(lines, cv.p, ps, "        ", False)
    out_at = terms_code([("no", cv.positions), *zip(ps, row_major_strides(cv.p), strict=True)])
    lines.append(f"{indent}{dst}[{out_at}] = plane$[{cv.x_offset('0', ['0'] * cv.d, ps)}]")
    _conv_finish(cv, lines, dst)


def _conv_direct(cv: _Conv, lines: list[str], x: str, w: str) -> None:
    """Per (batch, feature) pair and output position: one accumulator over input features
    and kernel taps (innermost loop over the kernel's last axis)."""
    dst = _conv_target(cv, lines)
    ks, ps = [f"k{k}" for k in range(cv.d)], [f"p{k}" for k in range(cv.d)]
    _conv_pairs(cv, lines)
    indent = loop_header(lines, cv.p, ps, "        ", False)
    lines.append(f"{indent}acc$ = np.{cv.work.name}(0)")
    outer = ks[:-1] + ["0"] * bool(cv.d)
    inner = loop_header(lines, [cv.i, *cv.k[:-1]], ["c", *ks[:-1]], indent, False)
    size = cv.k[-1] if cv.d else 1
    w_step = cv.w_strides[-1] if cv.d else 0
    x_step = cv.rd[-1] * cv.x_strides[-1] if cv.d else 0
    lines += [f"{inner}wu = np.uint64({cv.w_offset('o', 'c', outer)})",
              f"{inner}xu = np.uint64(xb + {cv.x_offset('c', outer, ps)})",
              f"{inner}for kq in range(np.uint64({size})):",
              f"{inner}    acc$ += {w}[wu + {_unsigned('kq', w_step)}] * "
              f"{x}[xu + {_unsigned('kq', x_step)}]"]
    out_at = terms_code([("no", cv.positions), *zip(ps, row_major_strides(cv.p), strict=True)])
    lines.append(f"{indent}{dst}[{out_at}] = acc$")
    _conv_finish(cv, lines, dst)


def _conv_gemm(cv: _Conv, lines: list[str], x: str, w: str) -> None:
    """Per output batch element and group: gather the input windows into a column matrix
    (input feature and kernel tap by output position), then one BLAS product with the
    (feature, feature and tap) weight matrix straight into the output. The matrix is filled
    along the longer of the last output axis and the last kernel axis (stored transposed for
    the latter), so that the copy loops run long."""
    dst = _conv_target(cv, lines)
    if tuple(cv.rs) != tuple(range(len(cv.rs))):
        w = _conv_weight_copy(cv, lines, w, "wc$", list(range(2 + cv.d)))
    rows, cols = cv.i * cv.window, cv.positions
    ks, ps = [f"k{k}" for k in range(cv.d)], [f"p{k}" for k in range(cv.d)]
    along_taps = cv.d > 0 and cv.k[-1] > cv.p[-1]
    lines += [f"    cols$ = np.empty({rows * cols}, np.{cv.work.name})",
              f"    cm$ = cols$.reshape(({cols}, {rows})).T" if along_taps else
              f"    cm$ = cols$.reshape(({rows}, {cols}))",
              f"    wm$ = {w}.reshape(({cv.groups}, {cv.og}, {rows}))",
              f"    om$ = {dst}.reshape(({cv.nout}, {cv.o}, {cols}))",
              f"    for n in range({cv.nout}):",
              f"        for g in range({cv.groups}):",
              f"            xb = {cv.x_base('n', 'g')}"]
    row = list(zip(["c", *ks], row_major_strides([cv.i, *cv.k]), strict=True))
    pos = list(zip(ps, row_major_strides(cv.p), strict=True))
    if not cv.d:  # one column: the loop runs over the features
        names, sizes, at, x_at = [], [], "0", "0"
        inner, size, x_step = "c", cv.i, cv.x_strides[1]
    elif along_taps:  # outer loops: positions, features, taps but the last
        names, sizes = [*ps, "c", *ks[:-1]], [*cv.p, cv.i, *cv.k[:-1]]
        at = terms_code([(v, k * rows) for v, k in pos] + row[:-1])
        x_at = cv.x_offset("c", [*ks[:-1], "0"], ps)
        inner, size, x_step = ks[-1], cv.k[-1], cv.rd[-1] * cv.x_strides[-1]
    else:  # outer loops: features, taps, positions but the last
        names, sizes = ["c", *ks, *ps[:-1]], [cv.i, *cv.k, *cv.p[:-1]]
        at = terms_code([(v, k * cols) for v, k in row] + pos[:-1])
        x_at = cv.x_offset("c", ks, [*ps[:-1], "0"])
        inner, size, x_step = ps[-1], cv.p[-1], cv.stride[-1] * cv.x_strides[-1]
    indent = loop_header(lines, sizes, names, "            ", False)
    lines += [f"{indent}xu = np.uint64(xb + {x_at})",
              f"{indent}ru = np.uint64({at})",
              f"{indent}for {inner} in range(np.uint64({size})):",
              f"{indent}    cols$[ru + {inner}] = {x}[xu + {_unsigned(inner, x_step)}]",
              "            " + render.matmul_code("wm$[g]", "cm$",
                                                  f"om$[n, g * {cv.og}:(g + 1) * {cv.og}]",
                                                  cv.og, rows, cols)]
    _conv_finish(cv, lines, dst)


def _conv_dot(cv: _Conv, lines: list[str], x: str, w: str) -> None:
    """Per output position and (batch, block of up to 8 output features): one dot product
    per feature over input features and the kernel window, the block sharing each input
    load. The window is flattened along the input's own offsets (the kernel copied into a
    zero-padded run of that span), so the innermost loop is one long contiguous dot."""
    dst = _conv_target(cv, lines)
    span = cv.window_length()
    kp = _conv_weight_copy(cv, lines, w, "kp$", [], span)
    block = max(b for b in range(1, 9) if cv.og % b == 0)
    ps = [f"p{k}" for k in range(cv.d)]
    _conv_pairs(cv, lines, block)
    indent = loop_header(lines, cv.p, ps, "        ", False)
    lines += [f"{indent}a{j}$ = np.{cv.work.name}(0)" for j in range(block)]
    lines += [f"{indent}for c in range({cv.i}):",
              f"{indent}    xu = np.uint64(xb + {cv.x_offset('c', ['0'] * cv.d, ps)})",
              f"{indent}    ku = np.uint64((o * {cv.i} + c) * {span})",
              f"{indent}    for q in range(np.uint64({span})):",
              f"{indent}        xv$ = {x}[xu + q]"]
    offsets = ["q", *(f"q + np.uint64({j * cv.i * span})" for j in range(1, block))]
    lines += [f"{indent}        a{j}$ += {kp}[ku + {at}] * xv$" for j, at in enumerate(offsets)]
    out_at = terms_code([("n", cv.o * cv.positions), ("o", cv.positions),
                     *zip(ps, row_major_strides(cv.p), strict=True)])
    lines += [f"{indent}{dst}[{out_at} + {j * cv.positions}] = a{j}$" for j in range(block)]
    _conv_finish(cv, lines, dst)


def _conv_scatter(cv: _Conv, lines: list[str], w: str) -> None:
    """For unit strides: per output batch element and group, one BLAS product of the
    (output feature and tap, input feature) weight matrix with the input's (feature,
    position) matrix, then each tap's rows added into the output at that tap's shift. Only
    real input positions are read: the choice for transposed convolutions (input gradients),
    whose padding would fill most of a column matrix with zeros."""
    dst = _conv_target(cv, lines, zero=True)
    x = _conv_canonical_input(cv, lines)
    wt = _conv_weight_copy(cv, lines, w, "wt$", [0, *range(2, 2 + cv.d), 1])
    ks, js = [f"k{k}" for k in range(cv.d)], [f"j{k}" for k in range(cv.d)]
    span, taps = cv.positions_in, cv.og * cv.window
    x_batch = cv.c * span
    base = (f"(n + g * {cv.nout}) * {x_batch}" if cv.bgc > 1
            else terms_code([("n", x_batch), ("g", cv.i * span)]))
    lines += [f"    y$ = np.empty({taps * span}, np.{cv.work.name})",
              f"    ym$ = y$.reshape(({taps}, {span}))",
              f"    wm$ = {wt}.reshape(({cv.groups}, {taps}, {cv.i}))",
              f"    for n in range({cv.nout}):",
              f"        for g in range({cv.groups}):",
              f"            xm$ = {x}[{base}:{base} + {cv.i * span}].reshape(({cv.i}, {span}))",
              "            " + render.matmul_code("wm$[g]", "xm$", "ym$", taps, cv.i, span)]
    indent = loop_header(lines, [cv.og, *cv.k], ["f", *ks], "            ", False)
    out_base = [("n", cv.o * cv.positions), ("g", cv.og * cv.positions), ("f", cv.positions)]
    if not cv.d:
        lines.append(f"{indent}{dst}[{terms_code(out_base)}] += y$[f]")
        _conv_finish(cv, lines, dst)
        return
    for k in range(cv.d):  # the input positions j whose output j * ld + lo - k * rd exists
        lo, ld, shift = cv.padding[k][0], cv.ld[k], terms_code([(ks[k], cv.rd[k])])
        lines += [f"{indent}jl{k} = max(0, -(({lo} - {shift}) // {ld}))",
                  f"{indent}jh{k} = min({cv.s_in[k]}, ({cv.p[k] - 1 - lo} + {shift}) // {ld} + 1)"]
    for k in range(cv.d - 1):
        lines.append(f"{indent}for {js[k]} in range(jl{k}, jh{k}):")
        indent += "    "
    last = cv.d - 1
    starts = [*js[:-1], f"jl{last}"]
    out_at = [(f"({starts[k]} * {cv.ld[k]} + {cv.padding[k][0]} - {ks[k]} * {cv.rd[k]})",
               stride) for k, stride in enumerate(row_major_strides(cv.p))]
    tap = terms_code([("f", cv.window), *zip(ks, row_major_strides(cv.k), strict=True)])
    lines += [f"{indent}ou = np.uint64({terms_code([*out_base, *out_at])})",
              f"{indent}yu = np.uint64(({tap}) * {span} + "
              f"{terms_code(list(zip(starts, row_major_strides(cv.s_in), strict=True)))})",
              f"{indent}for jq in range(np.uint64(max(jh{last} - jl{last}, 0))):",
              f"{indent}    {dst}[ou + {_unsigned('jq', cv.ld[last])}] += y$[yu + jq]"]
    _conv_finish(cv, lines, dst)


@routine("conv")
@local_names
def _conv_code(r: Routine, program: Program) -> list[str]:
    cv = _Conv(r, program)
    size = math.prod(cv.out_shape)
    if size == 0 or cv.i * cv.window == 0:
        return [f"    {cv.out} = np.zeros({size}, {np_type(cv.out_dtype)})"]
    cv.threads = not calls_blas(program)
    lines = [f"    {cv.out} = np.empty({size}, {np_type(cv.out_dtype)})"]
    w = _conv_weights(cv, lines)
    strategy = conv_strategy(cv)
    if strategy == "scatter":
        _conv_scatter(cv, lines, w)
    else:
        x = _conv_input(cv, lines)
        {"plane": _conv_plane, "direct": _conv_direct, "gemm": _conv_gemm,
         "dot": _conv_dot}[strategy](cv, lines, x, w)
    return lines
