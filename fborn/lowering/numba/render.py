"""Render a kernel-IR ``Program`` as the source of one numba ``njit`` function.

The function takes every input and constant buffer (then the large outputs, see
``pooled_outputs``) as a flat array and returns the output buffers. Loop nests become ``for``
loops (the outer one a ``prange`` when the work is large; consecutive kernels over the same
rows share it, see ``row_groups``), expressions become straight-line scalar code with shared
subexpressions computed once, and ``Routine`` statements call BLAS through ``np.dot``. ``If``,
``While`` and ``Scan`` become native branches and loops inside the same function (a whole
training loop is one call).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fborn.core import dtypes
from fborn.lowering.kernel_ir import (
    INDEX,
    Binary,
    Block,
    Cast,
    Const,
    Expr,
    If,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    ReduceKernel,
    Routine,
    Scan,
    Select,
    Statement,
    Unary,
    While,
    is_small_nonnegative,
)
from fborn.lowering.row_groups import (
    Kernel,
    RowReuse,
    loop_shape,
    out_shape,
    row_groups,
    row_reuses,
)
from fborn.lowering.schedule import LoweringError

PARALLEL_THRESHOLD = 1 << 16
HUGE_PAGE_MIN_BYTES = 1 << 22  # fresh buffers this large get huge pages (numpy's threshold)
POOLED_MIN_BYTES = 1 << 22  # outputs this large come from the caller's pool (see pool.py)
BLAS_ROUTINES = {"dot_general", "conv_general_dilated"}
FASTMATH = "{'contract', 'reassoc'}"  # keeps NaN and inf semantics; no 'afn': it lets LLVM
# turn pow(x, float(n)) into __powisf2 calls that numba cannot link (a segfault); no 'arcp': it
# turns x / sqrt(y) into the reciprocal-sqrt estimate (NaN at 0 and inf, -inf for subnormals,
# an ulp off elsewhere); no 'nsz': with 'reassoc' it folds x + (-x) and (x + y) - y, losing
# NaN and inf

_NUMBA_DTYPES = {dtypes.bool_, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64,
                 dtypes.uint8, dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.float32,
                 dtypes.float64}
# 16-bit floats live in uint16 buffers and are computed on as float32 values that every operation
# rounds back to the 16-bit format (so results match numpy/ml_dtypes op by op).
HALF_DTYPES = {dtypes.float16: "f16", dtypes.bfloat16: "bf16"}
# Routine kinds whose emitters handle 16-bit float buffers (as uint16 storage); the others refuse.
HALF_ROUTINES: set[str] = set()

_UNARY = {
    "neg": "-{0}", "floor": "np.floor({0})", "ceil": "np.ceil({0})",
    "is_finite": "np.isfinite({0})", "exp": "np.exp({0})", "exp2": "np.exp2({0})",
    "log": "np.log({0})", "expm1": "np.expm1({0})", "log1p": "np.log1p({0})",
    "tanh": "np.tanh({0})", "sin": "np.sin({0})", "cos": "np.cos({0})", "tan": "np.tan({0})",
    "asin": "np.arcsin({0})", "acos": "np.arccos({0})", "atan": "np.arctan({0})",
    "sinh": "np.sinh({0})", "cosh": "np.cosh({0})", "asinh": "np.arcsinh({0})",
    "acosh": "np.arccosh({0})", "atanh": "np.arctanh({0})", "sqrt": "np.sqrt({0})",
    "rsqrt": "rt.rsqrt({0})", "cbrt": "np.cbrt({0})", "abs": "abs({0})",
    "square": "{0} * {0}", "erf": "math.erf({0})", "erfc": "math.erfc({0})",
    "erf_inv": "rt.erf_inv({0})", "lgamma": "rt.lgamma({0})", "digamma": "rt.digamma({0})",
    "stop_gradient": "{0}", "sign": "rt.sign({0})", "round_away": "rt.round_away({0})",
    "round_even": "np.round({0})", "logistic": "1.0 / (1.0 + np.exp(-{0}))",
}

# float32 math that vectorizes (runtime.py states the accuracy) instead of scalar libm calls.
_UNARY_F32 = {
    "exp": "rt.exp_f32({0})", "tanh": "rt.tanh_f32({0})",
    "logistic": "np.float32(1.0) / (np.float32(1.0) + rt.exp_f32(-{0}))",
}

_BINARY = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "pow": "{0} ** {1}",
    "atan2": "math.atan2({0}, {1})", "nextafter": "np.nextafter({0}, {1})",
    "and": "{0} & {1}", "or": "{0} | {1}", "xor": "{0} ^ {1}", "eq": "{0} == {1}",
    "ne": "{0} != {1}", "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}",
    "ge": "{0} >= {1}", "floordiv": "{0} // {1}", "mod": "{0} % {1}",
    "max": "max({0}, {1})", "min": "min({0}, {1})",
}


def np_type(dtype: np.dtype) -> str:
    """The numpy type of a buffer of ``dtype`` in generated code (uint16 for 16-bit floats)."""
    return "np.uint16" if np.dtype(dtype) in HALF_DTYPES else f"np.{np.dtype(dtype).name}"


def value_type(dtype: np.dtype) -> str:
    """The numpy type that scalar values of ``dtype`` are computed in (float32 for 16-bit
    floats)."""
    return "np.float32" if np.dtype(dtype) in HALF_DTYPES else f"np.{np.dtype(dtype).name}"


def half_load(dtype: np.dtype, bits: str) -> str:
    """Code for the float32 value of 16-bit float ``bits`` (code of a uint16), or ``bits``
    itself for other dtypes."""
    half = HALF_DTYPES.get(np.dtype(dtype))
    return f"rm.{half}_to_f32({bits})" if half else bits


def half_store(dtype: np.dtype, value: str) -> str:
    """Code for the uint16 bits of float32 ``value`` rounded to 16-bit float ``dtype``, or
    ``value`` itself for other dtypes."""
    half = HALF_DTYPES.get(np.dtype(dtype))
    return f"rm.f32_to_{half}({value})" if half else value


def half_round(dtype: np.dtype, value: str, source: np.dtype | None = None) -> str:
    """Code rounding ``value`` (of dtype ``source``, float32 by default) to the 16-bit float
    ``dtype`` (as a float32); float64 rounds to float16 once, as numpy casts."""
    half = HALF_DTYPES[np.dtype(dtype)]
    if half == "f16" and source == dtypes.float64:
        return f"rm.round_f16_f64({value})"
    if source is not None and source != dtypes.float32 and np.dtype(source) not in HALF_DTYPES:
        value = f"np.float32({value})"
    return f"rm.round_{half}({value})"


def _check_dtype(dtype: np.dtype) -> None:
    if np.dtype(dtype) not in _NUMBA_DTYPES and np.dtype(dtype) not in HALF_DTYPES:
        raise LoweringError(f"the numba backend does not support dtype {np.dtype(dtype).name}")


class _Body:
    """Straight-line code for one kernel body, with each distinct subexpression computed
    once."""

    def __init__(self, indent: str, loop_vars: list[str], name_format: str = "v{}"):
        self.indent = indent
        self.loop_vars = loop_vars
        self.name_format = name_format
        self.lines: list[str] = []
        self.names: dict[Expr, str] = {}

    def emit(self, e: Expr) -> str:
        name = self.names.get(e)
        if name is not None:
            return name
        code = self._code(e)
        if isinstance(e, (Const, LoopIndex)):
            return code
        name = self.name_format.format(len(self.names))
        self.names[e] = name
        self.place(e, f"{name} = {code}")
        return name

    def place(self, e: Expr, line: str) -> None:
        """Where a computed line goes (subclasses hoist lines out of inner loops)."""
        self.lines.append(f"{self.indent}{line}")

    def _code(self, e: Expr) -> str:
        if isinstance(e, Const):
            if e.dtype == INDEX:
                return str(int(e.value))
            _check_dtype(e.dtype)
            value = e.value
            if isinstance(value, float) and not math.isfinite(value):
                value = "np.nan" if math.isnan(value) else ("np.inf" if value > 0 else "-np.inf")
            return f"{value_type(e.dtype)}({value})"
        if isinstance(e, LoopIndex):
            return self.loop_vars[e.axis]
        if isinstance(e, Load):
            address = self.emit(e.address)
            if not isinstance(e.address, Const) and is_small_nonnegative(e.address):
                address = f"np.uint64({address})"
            return half_load(e.dtype, f"{e.buffer}[{address}]")
        if isinstance(e, Cast):
            _check_dtype(e.dtype)
            x = self.emit(e.x)
            if e.dtype == dtypes.bool_:
                return f"{x} != 0"
            if e.dtype in HALF_DTYPES:
                return half_round(e.dtype, x, e.x.dtype)
            if e.dtype.kind in "iu" and dtypes.is_float(e.x.dtype):
                low, high = _saturation_bounds(e.dtype)
                return f"{np_type(e.dtype)}(rt.saturate({x}, {low}, {high}))"
            return f"{np_type(e.dtype)}({x})"
        if isinstance(e, Select):
            return (f"{self.emit(e.on_true)} if {self.emit(e.pred)} "
                    f"else {self.emit(e.on_false)}")
        if isinstance(e, Unary):
            return self._unary(e)
        if isinstance(e, Binary):
            return self._binary(e)
        raise LoweringError(f"the numba renderer cannot print {type(e).__name__}")

    def _unary(self, e: Unary) -> str:
        x = self.emit(e.x)
        if e.op == "not":
            return f"not {x}" if e.dtype == dtypes.bool_ else f"{np_type(e.dtype)}(~{x})"
        if e.op == "abs" and e.dtype.kind == "u":
            return x
        if e.op == "bitcast":
            return _bitcast(x, e.x.dtype, e.dtype)
        if e.dtype == dtypes.float32 and e.op in _UNARY_F32:
            return _typed(_UNARY_F32[e.op].format(x), e.dtype)
        if e.op not in _UNARY:
            raise LoweringError(f"no numba code for the elementwise op '{e.op}'")
        return _typed(_UNARY[e.op].format(x), e.dtype)

    def _binary(self, e: Binary) -> str:
        a, b = self.emit(e.a), self.emit(e.b)
        operand = e.a.dtype
        if e.dtype == INDEX and operand == INDEX and e.op in _BINARY:  # index arithmetic
            return _BINARY[e.op].format(a, b)
        if e.op in ("div", "rem"):
            if dtypes.is_float(operand):
                code = f"{a} / {b}" if e.op == "div" else f"np.fmod({a}, {b})"
            else:
                code = f"rt.trunc_{e.op}({a}, {b})"
        elif e.op in ("max", "min"):
            code = f"rt.f{e.op}({a}, {b})" if dtypes.is_float(operand) else f"{e.op}({a}, {b})"
        elif e.op.startswith("shift"):
            code = f"rt.{e.op}({a}, {b}, {operand.itemsize * 8})"
        elif e.op in ("and", "or") and operand == dtypes.bool_:
            code = f"{a} {e.op} {b}"
        elif e.op in _BINARY:
            code = _BINARY[e.op].format(a, b)
        else:
            raise LoweringError(f"no numba code for the elementwise op '{e.op}'")
        return _typed(code, e.dtype)




class HoistingBody(_Body):
    """The expression printer with loop-invariant code motion: loop axis ``a`` is defined at
    level ``axis_level[a]`` (level 0 is outside every loop); each line goes to the bucket (and
    indentation ``indents[level]``) of the deepest level its loop indices need, never above
    ``min_level``. Loads only read buffers the loop does not write, so hoisting them is safe."""

    def __init__(self, indents: list[str], loop_vars: list[str], axis_level: list[int],
                 name_format: str = "v{}", min_level: int = 0):
        super().__init__(indents[-1], loop_vars, name_format)
        self.indents = indents
        self.axis_level = axis_level
        self.min_level = min_level
        self.buckets: list[list[str]] = [[] for _ in indents]
        self._levels: dict[int, int] = {}

    def level(self, e: Expr) -> int:
        """The loop level at which ``e`` can first be computed."""
        hit = self._levels.get(id(e))
        if hit is not None:
            return hit
        if isinstance(e, LoopIndex):
            result = self.axis_level[e.axis]
        else:
            children = (getattr(e, c, None) for c in
                        ("x", "a", "b", "pred", "on_true", "on_false", "address"))
            result = max((self.level(c) for c in children if isinstance(c, Expr)),
                         default=self.min_level)
        result = max(result, self.min_level)
        self._levels[id(e)] = result
        return result

    def place(self, e: Expr, line: str) -> None:
        level = self.level(e)
        self.buckets[level].append(f"{self.indents[level]}{line}")


def nested_loops(lines: list[str], body: HoistingBody, shape: tuple[int, ...],
                 names: list[str], first_level: int, parallel: bool) -> None:
    """Append ``for`` headers over ``shape`` (axis ``k`` opens level ``first_level + k``; the
    first a ``prange`` if ``parallel``), each followed by the lines hoisted to its level."""
    for k, (size, var) in enumerate(zip(shape, names, strict=True)):
        level = first_level + k
        _loop_line(lines, body.indents[level - 1], var, size, parallel and k == 0)
        lines += body.buckets[level]


def _loop_line(lines: list[str], indent: str, var: str, size: int, parallel: bool) -> None:
    """``for var in range(size):``, or a ``prange`` whose index is made signed again (numba
    types a parfor index as unsigned, and ``min(unsigned, signed)`` is a float)."""
    if parallel:
        lines += [f"{indent}for {var}_p in prange({size}):",
                  f"{indent}    {var} = np.int64({var}_p)"]
    else:
        lines.append(f"{indent}for {var} in range({size}):")

def _saturation_bounds(dtype: np.dtype) -> tuple[str, str]:
    """Float literals of the range of integer ``dtype`` (the largest float64 below 2**63 or
    2**64 for 64-bit types): floats clamped to them convert without overflow."""
    info = np.iinfo(dtype)
    high = float(info.max) if info.bits < 64 else float(np.nextafter(float(info.max), 0.0))
    return repr(float(info.min)), repr(high)


def _typed(code: str, dtype: np.dtype) -> str:
    """``code`` converted to ``dtype`` (and rounded to it for 16-bit floats)."""
    if dtype == dtypes.bool_:
        return code
    if dtype in HALF_DTYPES:
        return half_round(dtype, f"np.float32({code})")
    return f"{np_type(dtype)}({code})"


def _bitcast(x: str, source: np.dtype, target: np.dtype) -> str:
    """Code reinterpreting value ``x`` of ``source`` as ``target`` (equal widths); 16-bit
    floats are float32 values in code and uint16 bits in memory."""
    if source in HALF_DTYPES:
        x = half_store(source, x)
        source = dtypes.uint16
    if target in HALF_DTYPES:
        return half_load(target, x if source == dtypes.uint16 else f"rm.bitcast({x}, np.uint16)")
    return f"rm.bitcast({x}, {np_type(target)})"


def _indents(levels: int) -> list[str]:
    """Function-body indentation for loop levels 0 .. levels - 1."""
    return ["    " * (level + 1) for level in range(levels)]


def loop_header(lines: list[str], shape: tuple[int, ...], names: list[str], indent: str,
                parallel: bool) -> str:
    """Append ``for`` headers over ``shape`` (the first a ``prange`` if ``parallel``); returns
    the body's indentation."""
    for k, (size, var) in enumerate(zip(shape, names, strict=True)):
        _loop_line(lines, indent, var, size, parallel and k == 0)
        indent += "    "
    return indent


def flat_offset(names: list[str], shape: tuple[int, ...]) -> str:
    """The row-major flat offset of the loop variables ``names`` in ``shape``."""
    terms, stride = [], 1
    for var, size in reversed(list(zip(names, shape, strict=True))):
        if size != 1:
            terms.append(var if stride == 1 else f"{var} * {stride}")
        stride *= size
    return " + ".join(reversed(terms)) or "0"


def flat_subscript(names: list[str], shape: tuple[int, ...]) -> str:
    """``flat_offset`` as an unsigned subscript (loop variables are never negative, and an
    unsigned index needs no wraparound, which would keep the loop from vectorizing)."""
    offset = flat_offset(names, shape)
    return offset if offset == "0" else f"np.uint64({offset})"


def pooled_outputs(program: Program) -> list[str]:
    """The outputs that the caller allocates and passes in after the inputs and constants,
    in that order (``Executable`` takes them from an ``OutputPool``): each large buffer that
    a top-level loop or reduce kernel fills completely."""
    filled = {s.out for s in program.statements if isinstance(s, (LoopKernel, ReduceKernel))}
    names: list[str] = []
    for name in program.outputs:
        info = program.buffers[name]
        nbytes = info.size * np.dtype(info.dtype).itemsize
        if name in filled and name not in names and nbytes >= POOLED_MIN_BYTES:
            names.append(name)
    return names


def scalar_inputs(program: Program) -> list[bool]:
    """Which inputs the generated function takes as numpy scalars (the rank-0 ones: numba
    dispatches on a scalar faster than on an array, and the caller builds no array for it)."""
    return [program.buffers[name].shape == () for name in program.inputs]


@dataclass
class _KernelPart:
    """A kernel printed for an outer loop shared with others: the lines before that loop
    (allocation, loop-invariant values) and those inside it (its outer index is ``o0``, or
    ``i0`` for a loop kernel on its own)."""

    before: list[str] = field(default_factory=list)
    inside: list[str] = field(default_factory=list)


def _size(k: Kernel) -> int:
    return math.prod(out_shape(k))


def _work(k: Kernel) -> int:
    return _size(k) * max(math.prod(loop_shape(k)[len(out_shape(k)):]), 1)


class Renderer:
    """Prints a Program; ``uses_prange`` tells whether to compile with ``parallel=True``."""

    def __init__(self, program: Program):
        self.program = program
        self.lines: list[str] = []
        self.uses_prange = False
        self.calls_blas = any(isinstance(s, Routine) and s.kind in BLAS_ROUTINES
                              for s in program.statements)
        self._ids = itertools.count()
        self._views: set[str] = set()
        self.pooled = pooled_outputs(program)

    def render(self, name: str = "program") -> str:
        p = self.program
        for info in p.buffers.values():
            _check_dtype(info.dtype)
        scalars = scalar_inputs(p)
        inputs = [f"{n}_scalar" if s else n for n, s in zip(p.inputs, scalars, strict=True)]
        params = [*inputs, *p.constants, *(f"{out}_out" for out in self.pooled)]
        body = self.lines
        body += [f"    {n} = np.full(1, {n}_scalar)"
                 for n, s in zip(p.inputs, scalars, strict=True) if s]
        self._statements(p.statements)
        outs = ", ".join(p.outputs) + ("," if len(p.outputs) == 1 else "")
        parallel = "True" if self.uses_prange else "False"
        header = [
            "import math",
            "import numpy as np",
            "from numba import njit, prange",
            "from fborn.lowering.numba import runtime as rt",
            "from fborn.lowering.numba import routines_misc as rm",
            "",
            "",
            f"@njit(parallel={parallel}, fastmath={FASTMATH}, error_model='numpy', nogil=True, "
            "cache=True)",
            f"def {name}({', '.join(params)}):",
        ]
        return "\n".join([*header, *body, f"    return ({outs})", ""])

    def _alloc(self, name: str) -> None:
        info = self.program.buffers[name]
        self.lines.append(f"    {name} = np.empty({info.size}, {np_type(info.dtype)})")
        if info.size * np.dtype(info.dtype).itemsize >= HUGE_PAGE_MIN_BYTES:
            self.lines.append(f"    rt.advise_huge_pages({name})")

    def _parallel(self, shape: tuple[int, ...], work: int) -> bool:
        # Programs that call BLAS leave the cores to BLAS's own threads: a second thread pool
        # spinning beside it costs more than the elementwise loops gain.
        use = (bool(shape) and shape[0] > 1 and work >= PARALLEL_THRESHOLD
               and not self.calls_blas)
        self.uses_prange = self.uses_prange or use
        return use

    def _kernels(self, group: list[Kernel]) -> None:
        """Print kernels that share their outer loop (see ``row_groups``) as one loop nest:
        each iteration of the outer loop runs every kernel's part for that row in turn."""
        shared = len(group) > 1
        reuses = row_reuses(group, self.program) if shared else []
        parts = []
        for j, k in enumerate(group):
            part = _KernelPart(before=self._alloc_lines(k.out))
            if _size(k):
                tag = str(j) if shared else ""
                if isinstance(k, LoopKernel):
                    value = next((u.value for u in reuses if u.loop == j), k.value)
                    self._loop_part(k, part, tag, "o0" if shared else "i0", value)
                else:
                    self._reduce_part(k, part, tag,
                                      [(u, group[u.loop]) for u in reuses if u.reduce == j])
            parts.append(part)
        for part in parts:
            self.lines += part.before
        live = [k for k in group if _size(k)]
        if live and out_shape(live[0]):
            outer = out_shape(live[0])[0]
            var = "o0" if shared or isinstance(live[0], ReduceKernel) else "i0"
            _loop_line(self.lines, "    ", var, outer,
                       self._parallel((outer,), sum(_work(k) for k in live)))
        for part in parts:
            self.lines += part.inside

    def _alloc_lines(self, name: str) -> list[str]:
        if name in self.pooled:
            return [f"    {name} = {name}_out"]
        info = self.program.buffers[name]
        lines = [f"    {name} = np.empty({info.size}, {np_type(info.dtype)})"]
        if info.size * np.dtype(info.dtype).itemsize >= HUGE_PAGE_MIN_BYTES:
            lines.append(f"    rt.advise_huge_pages({name})")
        return lines

    def _alloc(self, name: str) -> None:
        self.lines += self._alloc_lines(name)

    def _loop_part(self, k: LoopKernel, part: _KernelPart, tag: str, outer: str,
                   value: Expr) -> None:
        """``part`` of ``k`` computing ``value`` (``k.value`` or a ``RowReuse`` of it) inside
        its outer loop (over ``outer``); all of it if 0-d."""
        n = len(k.shape)
        names = [outer, *(f"i{d}" for d in range(1, n))][:n]
        body = HoistingBody(_indents(n + 1), names, list(range(1, n + 1)),
                            f"v{tag}_{{}}" if tag else "v{}")
        code = body.emit(value)
        part.before += body.buckets[0]
        if n:
            part.inside += body.buckets[1]
            nested_loops(part.inside, body, k.shape[1:], names[1:], 2, False)
        store = half_store(self.program.buffers[k.out].dtype, code)
        part.inside.append(f"{body.indents[n]}{k.out}[{flat_subscript(names, k.shape)}] = "
                           f"{store}")

    def _reduce_part(self, k: ReduceKernel, part: _KernelPart, tag: str,
                     stores: list[tuple[RowReuse, LoopKernel]]) -> None:
        """``part`` of ``k`` inside its outer loop (over ``o0``); all of it if 0-d. It also
        stores the values of each ``RowReuse`` in ``stores`` into its loop kernel's output."""
        n_out, n_red = len(k.out_shape), len(k.red_shape)
        out_names = [f"o{d}" for d in range(n_out)]
        red_names = [f"r{d}" for d in range(n_red)]
        depth = n_out + n_red
        # An empty reduction never runs its body: then nothing may be hoisted out of it.
        body = HoistingBody(_indents(depth + 1), out_names + red_names,
                            list(range(1, depth + 1)), f"v{tag}_{{}}" if tag else "v{}",
                            min_level=depth if math.prod(k.red_shape) == 0 else 0)
        value = body.emit(k.value)
        part.before += body.buckets[0]
        lines = part.inside
        if n_out:
            lines += body.buckets[1]
            nested_loops(lines, body, k.out_shape[1:], out_names[1:], 2, False)
        indent = body.indents[n_out]
        acc, best = f"acc{tag}", f"best{tag}"
        init = _reduce_init(k.op, k.dtype)
        lines.append(f"{indent}{acc} = {value_type(k.dtype)}({init})"
                     if k.op not in ("and", "or") else f"{indent}{acc} = {init}")
        is_arg = k.op in ("argmax", "argmin")
        if is_arg:
            lines.append(f"{indent}{best} = 0")
        nested_loops(lines, body, k.red_shape, red_names, n_out + 1, False)
        lines += _combine(k.op, value, body.indents[depth], k.dtype, red_names, k.red_shape,
                          acc, best)
        for reuse, target in stores:
            kept = half_store(self.program.buffers[target.out].dtype, body.names[reuse.expr])
            lines.append(f"{body.indents[depth]}{target.out}["
                         f"{flat_subscript(out_names + red_names, target.shape)}] = {kept}")
        result = f"{np_type(k.index_dtype)}({best})" if is_arg else half_store(
            self.program.buffers[k.out].dtype, acc)
        lines.append(f"{indent}{k.out}[{flat_subscript(out_names, k.out_shape)}] = {result}")

    def _routine(self, r: Routine) -> None:
        emit = ROUTINES.get(r.kind)
        if emit is None:
            raise LoweringError(f"no numba routine for '{r.kind}'")
        if r.kind not in HALF_ROUTINES:
            for name in (*r.inputs, *r.outputs):
                if self.program.buffers[name].dtype in HALF_DTYPES:
                    raise LoweringError(f"the numba routine '{r.kind}' does not support "
                                        f"{self.program.buffers[name].dtype.name} buffers yet")
        lines = emit(r, self.program)
        self.uses_prange = self.uses_prange or any("prange(" in line for line in lines)
        self.lines += lines

    def _statement(self, stmt: Statement) -> None:
        if isinstance(stmt, (LoopKernel, ReduceKernel)):
            self._kernels([stmt])
        elif isinstance(stmt, Routine):
            self._routine(stmt)
        elif isinstance(stmt, If):
            self._if(stmt)
        elif isinstance(stmt, While):
            self._while(stmt)
        elif isinstance(stmt, Scan):
            self._scan(stmt)
        else:
            raise LoweringError(f"the numba renderer cannot print {type(stmt).__name__}")

    # --- control flow: native branches and loops; carries are rebound, never written ------
    def _nested(self, emit: Callable[[], None]) -> list[str]:
        """The lines ``emit`` appends (at function-body indentation), one level deeper."""
        saved, self.lines = self.lines, []
        emit()
        inner, self.lines = self.lines, saved
        return ["    " + line for line in inner] or ["        pass"]

    def _statements(self, statements: list[Statement]) -> None:
        for group in row_groups(statements, self.program):
            if len(group) > 1:
                self._kernels(group)
            else:
                self._statement(group[0])

    def _scalar(self, e: Expr) -> str:
        """Code for the scalar ``e`` (helper lines appended first)."""
        body = _Body("    ", [])
        code = body.emit(e)
        self.lines += body.lines
        return code

    def _bind(self, targets: list[str], sources: list[str]) -> None:
        """``targets = sources`` all at once (a permutation of carries is safe). Inputs,
        constants and rows of scanned arrays are copied: numba types them differently
        (read-only or views) from the arrays the program allocates."""
        if not targets:
            return
        foreign = self._views.union(self.program.inputs, self.program.constants)
        values = [f"{s}.copy()" if s in foreign else s for s in sources]
        self.lines.append(f"    {', '.join(targets)} = {', '.join(values)}")

    def _block(self, block: Block, targets: list[str]) -> None:
        self._statements(block.statements)
        self._bind(targets, block.outputs)

    def _if(self, st: If) -> None:
        if len(st.branches) == 1:
            self._block(st.branches[0], st.outputs)
            return
        which = f"branch{next(self._ids)}"
        index = self._scalar(st.index)
        self.lines.append(f"    {which} = {index}")
        last = len(st.branches) - 1
        for k, block in enumerate(st.branches):
            test = (f"if {which} <= 0:" if k == 0 else "else:" if k == last
                    else f"elif {which} == {k}:")
            self.lines.append(f"    {test}")
            self.lines += self._nested(lambda b=block: self._block(b, st.outputs))

    def _while(self, st: While) -> None:
        self._bind(st.carry, st.init)

        def iteration() -> None:
            self._statements(st.cond.statements)
            pred = self._scalar(st.pred)
            self.lines += [f"    if not ({pred}):", "        break"]
            self._block(st.body, st.carry)

        self.lines.append("    while True:")
        self.lines += self._nested(iteration)

    def _scan(self, st: Scan) -> None:
        self._bind(st.carry, st.init)
        for y in st.ys:
            self._alloc(y)
        if st.length == 0:
            return
        step = f"step{next(self._ids)}"
        for xs, row in zip(st.xs, st.x_rows, strict=True):
            size = self.program.buffers[row].size
            self.lines.append(f"    {row}_all = {xs}.reshape(({st.length}, {size}))")
        self._views.update(st.x_rows)
        n = len(st.carry)

        def iteration() -> None:
            self.lines += [f"    {row} = {row}_all[{step}]" for row in st.x_rows]
            self._statements(st.body.statements)
            for y, out in zip(st.ys, st.body.outputs[n:], strict=True):
                size = self.program.buffers[out].size
                if size == 1:
                    self.lines.append(f"    {y}[{step}] = {out}[0]")
                elif size:  # an explicit loop: a slice assignment would become a parfor
                    self.lines += [f"    {y}_at = {step} * {size}",
                                   f"    for j in range({size}):",
                                   f"        {y}[{y}_at + j] = {out}[j]"]
            self._bind(st.carry, st.body.outputs[:n])

        steps = f"range({st.length - 1}, -1, -1)" if st.reverse else f"range({st.length})"
        self.lines.append(f"    for {step} in {steps}:")
        self.lines += self._nested(iteration)


def _reduce_init(op: str, dtype: np.dtype) -> str:
    if op == "sum":
        return "0"
    if op == "prod":
        return "1"
    if op == "and":
        return "True"
    if op == "or":
        return "False"
    if dtypes.is_float(dtype):
        return "-np.inf" if op in ("max", "argmax") else "np.inf"
    info = np.iinfo(dtype) if dtype != dtypes.bool_ else None
    if info is None:
        return "False" if op in ("max", "argmax") else "True"
    return str(info.min if op in ("max", "argmax") else info.max)


def _combine(op: str, v: str, indent: str, dtype: np.dtype, red: list[str],
             red_shape: tuple[int, ...], acc: str = "acc", best: str = "best") -> list[str]:
    if op == "sum":
        return [f"{indent}{acc} += {v}"]
    if op == "prod":
        return [f"{indent}{acc} *= {v}"]
    if op in ("and", "or"):
        return [f"{indent}{acc} = {acc} {op} {v}"]
    if op in ("max", "min"):
        if dtypes.is_float(dtype):
            return [f"{indent}{acc} = rt.{op}imum({acc}, {v})"]
        cmp = ">" if op == "max" else "<"
        return [f"{indent}if {v} {cmp} {acc}:", f"{indent}    {acc} = {v}"]
    cmp = ">" if op == "argmax" else "<"
    position = flat_offset(red, red_shape)
    nan = f" or ({v} != {v} and {acc} == {acc})" if dtypes.is_float(dtype) else ""
    first = f"({position}) == 0 or "
    return [f"{indent}if {first}({v} {cmp} {acc} and {acc} == {acc}){nan}:",
            f"{indent}    {acc} = {v}", f"{indent}    {best} = {position}"]


RoutineEmitter = Callable[[Routine, Program], list[str]]
ROUTINES: dict[str, RoutineEmitter] = {}


def routine(kind: str) -> Callable[[RoutineEmitter], RoutineEmitter]:
    """Register the numba code emitter of a Routine kind: ``emit(routine, program)`` returns
    the lines (indented 4 spaces) that fill the routine's output buffers."""

    def register(emit: RoutineEmitter) -> RoutineEmitter:
        ROUTINES[kind] = emit
        return emit

    return register


# Products of 2**18 to 2**23 multiply-adds with at least 16 columns run in the native loop nest
# ``rm.gemm``. OpenBLAS splits such products over its threads (its single-threaded small-matrix
# kernels cover only some of them: none with a transposed right operand), which at this size
# gains 10-50% and stalls for a scheduler time slice (4-30 ms measured on 2 cores) whenever
# another process holds a core. Narrower products stay with BLAS: the native loop vectorizes
# along the columns.
NATIVE_GEMM = (1 << 18, 1 << 23)


def matmul_code(a: str, b: str, out: str, m: int, k: int, n: int) -> str:
    """Code for ``out = a @ b`` ((m, k) and (k, n) float arrays of one dtype, ``out``
    C-contiguous): BLAS through ``np.dot``, or ``rm.gemm`` (see ``NATIVE_GEMM``)."""
    a, b = f"rt.writable({a})", f"rt.writable({b})"  # one instance per layout
    if NATIVE_GEMM[0] < m * k * n <= NATIVE_GEMM[1] and n >= 16:
        return f"rm.gemm({a}, np.ascontiguousarray({b}), {out})"
    return f"np.dot({a}, {b}, {out})"


@routine("dot_general")
def _dot_general_code(r: Routine, program: Program) -> list[str]:
    """BLAS on (batched) matrix views of the operands. 16-bit float operands are widened to
    float32 first (exactly) and a 16-bit float result is accumulated in float32 and rounded
    once, as the reference implementation does."""
    p = r.params
    lhs, rhs = r.inputs
    (out,) = r.outputs
    out_dtype = np.dtype(p["out_dtype"])
    if not dtypes.is_float(out_dtype):
        raise LoweringError("integer dot_general is not lowered to numba yet")
    work = dtypes.float32 if out_dtype in HALF_DTYPES else out_dtype
    ls, rs = p["lhs_shape"], p["rhs_shape"]
    lc, rc, lb, rb = p["lc"], p["rc"], p["lb"], p["rb"]
    lf = [i for i in range(len(ls)) if i not in lc and i not in lb]
    rf = [i for i in range(len(rs)) if i not in rc and i not in rb]
    nb = math.prod(ls[i] for i in lb)
    m, k, n = (math.prod(ls[i] for i in lf), math.prod(ls[i] for i in lc),
               math.prod(rs[i] for i in rf))
    lines = [f"    {out} = np.empty({nb * m * n}, {np_type(out_dtype)})"]
    result = out if work == out_dtype else f"{out}_w"
    if result != out:
        lines.append(f"    {result} = np.empty({nb * m * n}, {np_type(work)})")
    a = _matrix_operand(lines, _widened(lines, lhs, work, program), ls, (*lb, *lf, *lc),
                        (*lb, *lc, *lf), nb, m, k, work, program)
    b = _matrix_operand(lines, _widened(lines, rhs, work, program), rs, (*rb, *rc, *rf),
                        (*rb, *rf, *rc), nb, k, n, work, program)
    if nb == 1:
        lines.append(f"    {matmul_code(a, b, f'{result}.reshape(({m}, {n}))', m, k, n)}")
    else:
        lines.append(f"    {out}_3 = {result}.reshape(({nb}, {m}, {n}))")
        lines.append(f"    for bi in range({nb}):")
        lines.append(f"        {matmul_code(f'{a}[bi]', f'{b}[bi]', f'{out}_3[bi]', m, k, n)}")
    if result != out:
        lines += [f"    for {out}_q in range({nb * m * n}):",
                  f"        {out}[{out}_q] = {half_store(out_dtype, f'{result}[{out}_q]')}"]
    return lines


HALF_ROUTINES.add("dot_general")


def _widened(lines: list[str], name: str, work: np.dtype, program: Program) -> str:
    """Buffer ``name``, or for a 16-bit float buffer a ``work`` dtype copy of its values."""
    info = program.buffers[name]
    if info.dtype not in HALF_DTYPES:
        return name
    var = f"{name}_x{next(_operand_ids)}"
    value = half_load(info.dtype, f"{name}[{var}_q]")
    if work != dtypes.float32:
        value = f"{np_type(work)}({value})"
    lines += [f"    {var} = np.empty({info.size}, {np_type(work)})",
              f"    for {var}_q in range({info.size}):",
              f"        {var}[{var}_q] = {value}"]
    return var


def _matrix_operand(lines: list[str], name: str, shape: tuple[int, ...], order: tuple[int, ...],
                    transposed_order: tuple[int, ...], nb: int, rows: int, cols: int,
                    dtype: np.dtype, program: Program) -> str:
    """A (rows, cols) (or (nb, rows, cols)) matrix view of buffer ``name`` (or of a widened
    copy, see ``_widened``) whose axes must be taken in ``order``; uses a transposed view
    instead of a copy when the buffer's layout is ``transposed_order``, and copies
    otherwise."""
    src_dtype = program.buffers[name].dtype if name in program.buffers else dtype
    cast = f".astype({np_type(dtype)})" if src_dtype != dtype else ""
    var = f"{name}_m{next(_operand_ids)}"
    identity = tuple(range(len(shape)))
    if order == identity:
        lines.append(f"    {var} = {name}{cast}.reshape({_mshape(nb, rows, cols)})")
    elif transposed_order == identity and nb == 1:
        lines.append(f"    {var} = {name}{cast}.reshape(({cols}, {rows})).T")
    else:
        lines.append(f"    {var} = np.ascontiguousarray({name}{cast}.reshape({shape})"
                     f".transpose({order})).reshape({_mshape(nb, rows, cols)})")
    return var


_operand_ids = itertools.count()


def _mshape(nb: int, rows: int, cols: int) -> str:
    return f"({rows}, {cols})" if nb == 1 else f"({nb}, {rows}, {cols})"


def render(program: Program, name: str = "program") -> tuple[str, bool]:
    """The module source for ``program`` and whether it uses parallel loops."""
    renderer = Renderer(program)
    source = renderer.render(name)
    return source, renderer.uses_prange

