"""Render kernel-IR statements as WGSL compute shaders (one shader per kernel).

A ``LoopKernel`` becomes one invocation per output element (workgroups of 256 along a flat
index, folded into a 2-D grid when there are more than the per-dimension workgroup limit). A
``ReduceKernel`` becomes either one invocation per output element looping over the reduced
elements (when the reduction is short, or when the output's innermost axis is contiguous in
memory and there are enough outputs: neighbouring invocations then read neighbouring
addresses), or one workgroup per output element whose invocations stride over the reduced
elements and combine their partial results in workgroup memory (coalesced row reductions:
softmax, layernorm, sums over the last axis). ``Routine`` statements are rendered by the
emitters registered with ``@routine`` (``routines.py``, ``routines_misc.py``).

Control flow stays on the host: ``If``, ``While`` and ``Scan`` become ``Branch``, ``Loop`` and
``ScanLoop`` steps holding the rendered steps of their blocks. A branch index or loop predicate
is computed by a one-element kernel and read back (one sync per cond and per while iteration);
a scan records every step's dispatches without reading anything back (its step number comes
from a small per-step device buffer).

Types: float32 -> f32, int32 -> i32, uint32 -> u32, bool -> bool in code and u32 in buffers,
float16 -> f16 (only when the device has ``shader-f16``; its math runs in f32 and rounds back).
Index expressions (the IR's int64) are i32, uint64 index tests u32: a storage binding holds
fewer than 2**31 elements. Other 64-bit dtypes raise FbornDtypeError. Float math that WGSL
lacks or does too loosely comes from ``mathlib.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fborn.core import dtypes
from fborn.core.errors import FbornDtypeError
from fborn.lowering.kernel_ir import (
    INDEX,
    Binary,
    BufferInfo,
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
    index_add,
    index_const,
    index_mul,
    linear_address,
    loads,
    nodes,
)
from fborn.lowering.schedule import LoweringError
from fborn.lowering.wgsl.mathlib import helper_source

WORKGROUP = 256


@dataclass(frozen=True)
class Limits:
    """What a device allows a shader: float16, bindings per shader, workgroups per grid
    dimension, workgroup memory bytes, elements per storage binding."""

    f16: bool = False
    max_bindings: int = 8
    max_groups: int = 65535
    workgroup_bytes: int = 16384
    max_binding_bytes: int = 1 << 27


@dataclass
class Kernel:
    """One compute dispatch: ``source`` (entry point ``main``) with ``buffers[i]`` bound at
    binding ``i`` (read-only ones first, written ones last) and ``groups`` workgroups.
    ``updates``: written buffers it changes in place (filled by an earlier step) rather than
    fills."""

    source: str
    buffers: tuple[str, ...]
    groups: tuple[int, int, int]
    label: str = ""
    updates: tuple[str, ...] = ()


@dataclass
class Alias:
    """Bind buffer ``dst`` to the device buffer of ``src`` (no GPU work)."""

    dst: str
    src: str


@dataclass
class Branch:
    """Host-side ``If``: ``index`` (a kernel writing the branch number into the 1-element int32
    buffer ``index_buffer``) runs, the host reads the number back (a sync), clamps it, runs that
    branch's steps and binds ``outputs`` to the branch's ``branch_outputs``."""

    index: Kernel
    index_buffer: str
    branches: list[list[Step]]
    branch_outputs: list[list[str]]
    outputs: list[str]


@dataclass
class Loop:
    """Host-side ``While``: ``carry = init``; then run ``cond`` (whose last kernel writes the
    predicate into ``pred_buffer``), read the predicate back (one sync per iteration), and
    while it holds run ``body`` and set ``carry = body_outputs``."""

    init: list[str]
    carry: list[str]
    cond: list[Step]
    pred_buffer: str
    body: list[Step]
    body_outputs: list[str]


@dataclass
class ScanLoop:
    """Host-side ``Scan``, recorded without any readback: ``carry = init``, ``ys`` allocated;
    per step ``i`` the host binds ``step_buffer`` to a device buffer holding ``i``, ``loads``
    copy row ``i`` of each ``xs`` into its ``x_rows`` buffer, ``body`` runs, ``stores`` copy the
    y rows of ``body_outputs`` into row ``i`` of ``ys``, and ``carry`` takes the new carry."""

    length: int
    reverse: bool
    init: list[str]
    carry: list[str]
    ys: list[str]
    step_buffer: str
    loads: list[Kernel]
    body: list[Step]
    body_outputs: list[str]
    stores: list[Kernel]


Step = Kernel | Alias | Branch | Loop | ScanLoop


@dataclass
class RenderedProgram:
    """The steps of a program in order (kernels, plus aliases and host-side control flow),
    and scratch buffers some routines and control-flow steps need."""

    kernels: list[Step]
    scratch: dict[str, BufferInfo] = field(default_factory=dict)

    def new_scratch(self, prefix: str, shape: tuple[int, ...], dtype: np.dtype) -> str:
        """A new scratch buffer's name."""
        name = f"{prefix}{len(self.scratch)}"
        self.scratch[name] = BufferInfo(tuple(shape), np.dtype(dtype))
        return name


# --- types -------------------------------------------------------------------------------------

_TYPES = {dtypes.float32: "f32", dtypes.int32: "i32", dtypes.uint32: "u32",
          dtypes.bool_: "bool", dtypes.float16: "f16", INDEX: "i32",
          np.dtype(np.uint64): "u32"}


def value_type(dtype: np.dtype) -> str:
    """The WGSL type of scalar values of ``dtype`` (int64 index arithmetic is i32)."""
    t = _TYPES.get(np.dtype(dtype))
    if t is None:
        raise _dtype_error(dtype)
    return t


def storage_type(dtype: np.dtype) -> str:
    """The WGSL element type of a buffer of ``dtype`` (bool as u32)."""
    dtype = np.dtype(dtype)
    if dtype.itemsize == 8:
        raise _dtype_error(dtype)
    t = value_type(dtype)
    return "u32" if t == "bool" else t


def _dtype_error(dtype: np.dtype) -> FbornDtypeError:
    dtype = np.dtype(dtype)
    if dtype.itemsize == 8:
        return FbornDtypeError(f"{dtype.name} is not supported on the GPU (WGSL has no 64-bit "
                               f"types); use 32-bit dtypes or the CPU backend")
    return FbornDtypeError(f"{dtype.name} is not supported by the WGSL backend yet "
                           f"(supported: float32, int32, uint32, bool, float16)")


def check_buffer_dtype(dtype: np.dtype, limits: Limits) -> None:
    """Raise FbornDtypeError unless buffers of ``dtype`` can live on the device."""
    storage_type(dtype)
    if np.dtype(dtype) == dtypes.float16 and not limits.f16:
        raise FbornDtypeError("float16 on the GPU needs the 'shader-f16' feature, which this "
                              "adapter lacks")


def literal(value: object, dtype: np.dtype) -> str:
    """A WGSL literal of ``value`` typed ``dtype``."""
    t = value_type(dtype)
    if t == "bool":
        return "true" if value else "false"
    if t == "u32":
        return f"{int(value) & 0xFFFFFFFF}u"
    if t == "i32":
        v = int(value)
        if not -(2**31) <= v < 2**31:
            raise LoweringError(f"the index constant {v} does not fit the GPU's 32-bit indices")
        return f"i32({v})" if v > -(2**31) else "i32(-2147483647 - 1)"
    v = float(np.float32(value)) if t == "f32" else float(np.float16(value))
    if math.isnan(v):
        return f"{t}(bitcast<f32>(0x7fc00000u))"
    if math.isinf(v):
        return f"{t}(bitcast<f32>({'0x7f800000u' if v > 0 else '0xff800000u'}))"
    return f"{t}({v!r})"


# --- expressions -------------------------------------------------------------------------------

_FLOAT_UNARY = {
    "neg": "-({0})", "floor": "floor({0})", "ceil": "ceil({0})", "exp": "fb_exp({0})",
    "exp2": "fb_exp2({0})", "log": "fb_log({0})", "expm1": "fb_expm1({0})",
    "log1p": "fb_log1p({0})", "tanh": "fb_tanh({0})", "logistic": "fb_logistic({0})",
    "sin": "fb_sin({0})", "cos": "fb_cos({0})", "tan": "fb_tan({0})", "asin": "fb_asin({0})",
    "acos": "fb_acos({0})", "atan": "fb_atan({0})", "sinh": "fb_sinh({0})", "cosh": "fb_cosh({0})",
    "asinh": "fb_asinh({0})", "acosh": "fb_acosh({0})", "atanh": "fb_atanh({0})",
    "sqrt": "fb_sqrt({0})", "rsqrt": "fb_rsqrt({0})", "cbrt": "fb_cbrt({0})",
    "abs": "abs({0})", "square": "({0} * {0})", "erf": "fb_erf({0})", "erfc": "fb_erfc({0})",
    "erf_inv": "fb_erf_inv({0})", "lgamma": "fb_lgamma({0})", "digamma": "fb_digamma({0})",
    "stop_gradient": "{0}", "sign": "fb_sign({0})", "round_away": "fb_round_away({0})",
    "round_even": "round({0})",
}
# Ops computed natively in f16 (the others go through f32 and round back).
_F16_NATIVE = {"neg", "floor", "ceil", "abs", "square", "stop_gradient", "round_even"}

_ARITH = {"add": "+", "sub": "-", "mul": "*"}
_COMPARE = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class ExprWriter:
    """Straight-line WGSL for scalar expressions; each distinct subexpression is computed once
    as a ``let``. ``helpers`` collects the ``fb_*`` functions the code calls."""

    def __init__(self, loop_vars: list[str], indent: str = "  ", prefix: str = "v"):
        self.loop_vars = loop_vars
        self.indent = indent
        self.prefix = prefix
        self.lines: list[str] = []
        self.names: dict[Expr, str] = {}
        self.helpers: set[str] = set()
        self.buffers: dict[str, None] = {}

    def emit(self, e: Expr) -> str:
        """The name (or literal) holding the value of ``e``."""
        if isinstance(e, Const):
            return literal(e.value, e.dtype)
        if isinstance(e, LoopIndex):
            return self.loop_vars[e.axis]
        name = self.names.get(e)
        if name is not None:
            return name
        code = self._code(e)
        name = f"{self.prefix}{len(self.names)}"
        self.names[e] = name
        self.lines.append(f"{self.indent}let {name}: {value_type(e.dtype)} = {code};")
        return name

    def call(self, helper: str, *args: str) -> str:
        self.helpers.add(helper)
        return f"{helper}({', '.join(args)})"

    def _code(self, e: Expr) -> str:
        if isinstance(e, Load):
            self.buffers[e.buffer] = None
            address = self.emit(e.address)
            if e.address.dtype != INDEX and value_type(e.address.dtype) != "i32":
                address = f"i32({address})"
            ref = f"{buffer_var(e.buffer)}[{address}]"
            return f"({ref} != 0u)" if e.dtype == dtypes.bool_ else ref
        if isinstance(e, Cast):
            return self._cast(self.emit(e.x), e.x.dtype, e.dtype)
        if isinstance(e, Select):
            return (f"select({self.emit(e.on_false)}, {self.emit(e.on_true)}, "
                    f"{self.emit(e.pred)})")
        if isinstance(e, Unary):
            return self._unary(e)
        if isinstance(e, Binary):
            return self._binary(e)
        raise LoweringError(f"the WGSL renderer cannot print {type(e).__name__}")

    def _cast(self, x: str, source: np.dtype, target: np.dtype) -> str:
        s, t = value_type(source), value_type(target)
        if s == t:
            return x
        if t == "bool":
            if s in ("f32", "f16"):
                x32 = x if s == "f32" else f"f32({x})"
                return f"(({x} != {s}(0.0)) || {self.call('fb_isnan', x32)})"
            return f"({x} != {t_zero(s)})"
        if s == "bool":
            return f"select({t_zero(t)}, {t_one(t)}, {x})"
        if s in ("f32", "f16") and t in ("i32", "u32"):
            x32 = x if s == "f32" else f"f32({x})"
            return self.call(f"fb_f32_to_{t}", x32)
        if s in ("i32", "u32") and t in ("i32", "u32"):
            return f"bitcast<{t}>({x})"
        return f"{t}({x})"

    def _unary(self, e: Unary) -> str:
        x = self.emit(e.x)
        t = value_type(e.dtype)
        op = e.op
        if op == "bitcast":
            if value_type(e.x.dtype) == "bool" or t in ("bool", "f16") \
                    or value_type(e.x.dtype) == "f16":
                raise LoweringError(f"bitcast from {e.x.dtype.name} to {e.dtype.name} is not "
                                    f"supported on the GPU")
            return f"bitcast<{t}>({x})"
        if op == "is_finite":
            return self.call("fb_isfinite", x if value_type(e.x.dtype) == "f32" else f"f32({x})")
        if t == "bool":
            if op == "not":
                return f"!{x}"
            if op == "stop_gradient":
                return x
            raise LoweringError(f"no WGSL code for the boolean op '{op}'")
        if t in ("i32", "u32"):
            return self._int_unary(op, x, t)
        template = _FLOAT_UNARY.get(op)
        if template is None:
            raise LoweringError(f"no WGSL code for the elementwise op '{op}'")
        if t == "f16" and op not in _F16_NATIVE:
            return f"f16({self._f32_call(template, f'f32({x})')})"
        return self._f32_call(template, x)

    def _f32_call(self, template: str, x: str) -> str:
        code = template.format(x)
        if code.startswith("fb_"):
            self.helpers.add(code[: code.index("(")])
        return code

    def _int_unary(self, op: str, x: str, t: str) -> str:
        if op == "neg":
            return f"({t_zero(t)} - {x})"
        if op == "not":
            return f"(~{x})"
        if op == "abs":
            return x if t == "u32" else f"abs({x})"
        if op == "sign":
            return f"select({t_zero(t)}, {t_one(t)}, {x} > {t_zero(t)})" if t == "u32" \
                else f"sign({x})"
        if op == "square":
            return f"({x} * {x})"
        if op == "stop_gradient":
            return x
        raise LoweringError(f"no WGSL code for the integer op '{op}'")

    def _binary(self, e: Binary) -> str:
        a, b = self.emit(e.a), self.emit(e.b)
        s = value_type(e.a.dtype)
        op = e.op
        if op in _COMPARE:
            return f"({a} {_COMPARE[op]} {b})"
        if op == "ne":  # NaN != x must hold: negate the ordered equality
            return f"!({a} == {b})"
        if s == "bool":
            return self._bool_binary(op, a, b)
        if op in _ARITH:
            return f"({a} {_ARITH[op]} {b})"
        if s in ("i32", "u32"):
            return self._int_binary(op, a, b, s, e.a.dtype == INDEX)
        if s == "f16":
            if op == "div":
                return f"({a} / {b})"
            x = self._float_binary(op, f"f32({a})", f"f32({b})")
            return f"f16({x})"
        return self._float_binary(op, a, b)

    def _bool_binary(self, op: str, a: str, b: str) -> str:
        if op in ("and", "min", "mul"):
            return f"({a} && {b})"
        if op in ("or", "max", "add"):
            return f"({a} || {b})"
        if op == "xor":
            return f"({a} != {b})"
        raise LoweringError(f"no WGSL code for the boolean op '{op}'")

    def _float_binary(self, op: str, a: str, b: str) -> str:
        simple = {"div": f"({a} / {b})"}
        if op in simple:
            return simple[op]
        helpers = {"max": "fb_max", "min": "fb_min", "pow": "fb_pow", "rem": "fb_fmod",
                   "atan2": "fb_atan2",
                   "nextafter": "fb_nextafter"}
        if op not in helpers:
            raise LoweringError(f"no WGSL code for the float op '{op}'")
        return self.call(helpers[op], a, b)

    def _int_binary(self, op: str, a: str, b: str, t: str, index: bool) -> str:
        zero = t_zero(t)
        if op == "div":
            return f"select({a} / {b}, {zero}, {b} == {zero})"
        if op == "rem":
            return f"select({a} % {b}, {zero}, {b} == {zero})"
        if op == "floordiv":
            return self.call("fb_floordiv", a, b) if t == "i32" else f"({a} / {b})"
        if op == "mod":
            return self.call("fb_floormod", a, b) if t == "i32" else f"({a} % {b})"
        if op in ("max", "min"):
            return f"{op}({a}, {b})"
        if op in ("and", "or", "xor"):
            return f"({a} {'&' if op == 'and' else '|' if op == 'or' else '^'} {b})"
        if op.startswith("shift"):
            return _shift(op, a, b, t)
        raise LoweringError(f"no WGSL code for the integer op '{op}'")


def _shift(op: str, a: str, b: str, t: str) -> str:
    amount = f"u32({b})" if t == "i32" else b
    out_of_range = f"({b} < 0 || {b} >= 32)" if t == "i32" else f"({b} >= 32u)"
    if op == "shift_left":
        return f"select({a} << ({amount} & 31u), {t_zero(t)}, {out_of_range})"
    if op == "shift_right_logical":
        if t == "i32":
            return (f"select(bitcast<i32>(bitcast<u32>({a}) >> ({amount} & 31u)), 0, "
                    f"{out_of_range})")
        return f"select({a} >> ({amount} & 31u), 0u, {out_of_range})"
    clamped = f"u32(clamp({b}, 0, 31))" if t == "i32" else f"min({b}, 31u)"
    return f"({a} >> {clamped})"


def t_zero(t: str) -> str:
    return {"i32": "0i", "u32": "0u", "f32": "0.0f", "f16": "0.0h", "bool": "false"}[t]


def t_one(t: str) -> str:
    return {"i32": "1i", "u32": "1u", "f32": "1.0f", "f16": "1.0h", "bool": "true"}[t]


def buffer_var(name: str) -> str:
    """The WGSL variable of program buffer ``name``."""
    return f"b_{name}"


def store_value(value: str, dtype: np.dtype) -> str:
    """Code for the stored form of ``value`` (bools become 0u/1u)."""
    return f"select(0u, 1u, {value})" if np.dtype(dtype) == dtypes.bool_ else value


# --- shader assembly ---------------------------------------------------------------------------

def declarations(program_buffers: dict[str, BufferInfo], reads: list[str], writes: list[str],
                 limits: Limits) -> tuple[list[str], tuple[str, ...]]:
    """Binding declarations (reads read-only, then writes) and the binding order."""
    order = tuple([*[r for r in reads if r not in writes], *writes])
    if len(order) > limits.max_bindings:
        raise LoweringError(f"a kernel reads {len(order) - len(writes)} buffers, more than "
                            f"the {limits.max_bindings} storage bindings this GPU allows")
    lines = []
    for i, name in enumerate(order):
        info = program_buffers[name]
        check_buffer_dtype(info.dtype, limits)
        access = "read_write" if name in writes else "read"
        lines.append(f"@group(0) @binding({i}) var<storage, {access}> {buffer_var(name)}: "
                     f"array<{storage_type(info.dtype)}>;")
    return lines, order


def uses_f16(program_buffers: dict[str, BufferInfo], names: tuple[str, ...],
             *exprs: Expr) -> bool:
    """Whether a shader over ``names`` computing ``exprs`` needs ``enable f16;``."""
    if any(program_buffers[n].dtype == dtypes.float16 for n in names):
        return True
    return any(e.dtype == dtypes.float16 for e in nodes(list(exprs)))


def shader(decls: list[str], helpers: set[str], body: list[str], f16: bool) -> str:
    """A complete WGSL module."""
    parts = ["enable f16;"] if f16 else []
    parts += decls
    helper_text = helper_source(helpers)
    if helper_text:
        parts.append(helper_text)
    parts += body
    return "\n".join(parts) + "\n"


def grid(count: int, limits: Limits) -> tuple[int, int, int]:
    """Workgroup counts (x, y, 1) covering ``count`` workgroups (x at most the limit)."""
    if count == 0:
        return (0, 0, 0)
    gx = min(count, limits.max_groups)
    gy = -(-count // gx)
    if gy > limits.max_groups:
        raise LoweringError(f"a kernel needs {count} workgroups, more than this GPU's grid")
    return (gx, gy, 1)


def decompose(flat: str, shape: tuple[int, ...], names: list[str], indent: str) -> list[str]:
    """``let`` lines binding ``names`` (i32) to the row-major index of ``flat`` (u32)."""
    lines = []
    stride = 1
    strides = []
    for size in reversed(shape):
        strides.append(stride)
        stride *= size
    strides.reverse()
    for k, (name, size) in enumerate(zip(names, shape, strict=True)):
        if size == 1:
            code = "0"
        else:
            q = flat if strides[k] == 1 else f"({flat} / {strides[k]}u)"
            code = q if k == 0 else f"({q} % {size}u)"
        lines.append(f"{indent}let {name} = i32({code});")
    return lines


def _segment(k: LoopKernel, flat: str, indent: str, buffers: dict[str, BufferInfo],
             out_offset: Expr | None = None) -> tuple[ExprWriter, list[str]]:
    """The code computing and storing element ``flat`` of ``k`` (its writer keeps the buffers
    it reads and the helpers it calls)."""
    names = [f"i{d}" for d in range(len(k.shape))]
    writer = ExprWriter(names, indent)
    value = writer.emit(k.value)
    target = flat
    if out_offset is not None:
        target = f"u32({writer.emit(out_offset)}) + {flat}"
    lines = [*decompose(flat, k.shape, names, indent), *writer.lines,
             f"{indent}{buffer_var(k.out)}[{target}] = "
             f"{store_value(value, buffers[k.out].dtype)};"]
    return writer, lines


def loop_kernel(k: LoopKernel, buffers: dict[str, BufferInfo], limits: Limits,
                out_offset: Expr | None = None) -> Kernel | None:
    """The shader of ``k`` (None when it has no elements); with ``out_offset`` (an index
    expression of no loop index) element ``flat`` goes to ``out[out_offset + flat]``."""
    size = math.prod(k.shape)
    if size == 0:
        return None
    writer, lines = _segment(k, "flat", "  ", buffers, out_offset)
    groups = grid(-(-size // WORKGROUP), limits)
    decls, order = declarations(buffers, list(writer.buffers), [k.out], limits)
    body = [
        f"@compute @workgroup_size({WORKGROUP})",
        "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {",
        f"  let flat = gid.x + gid.y * {groups[0] * WORKGROUP}u;",
        f"  if (flat >= {size}u) {{ return; }}",
        *lines,
        "}",
    ]
    f16 = uses_f16(buffers, order, k.value)
    return Kernel(shader(decls, writer.helpers, body, f16), order, groups, f"loop {k.out}")


def fused_loop_kernel(ks: list[LoopKernel], buffers: dict[str, BufferInfo], limits: Limits
                      ) -> Kernel:
    """One dispatch running the independent, non-empty loop kernels ``ks`` side by side (no
    kernel reads or writes what another writes): each takes its own range of whole
    workgroups, so a workgroup runs one kernel's code."""
    body = [f"@compute @workgroup_size({WORKGROUP})",
            "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {"]
    reads: dict[str, None] = {}
    helpers: set[str] = set()
    start = 0
    for k in ks:
        size = math.prod(k.shape)
        writer, lines = _segment(k, "flat", "    ", buffers)
        reads.update(writer.buffers)
        helpers |= writer.helpers
        body += [f"  if (g >= {start}u && g < {start + size}u) {{",
                 f"    let flat = g - {start}u;", *lines, "  }"]
        start += -(-size // WORKGROUP) * WORKGROUP
    groups = grid(start // WORKGROUP, limits)
    body.insert(2, f"  let g = gid.x + gid.y * {groups[0] * WORKGROUP}u;")
    body.append("}")
    decls, order = declarations(buffers, list(reads), [k.out for k in ks], limits)
    f16 = uses_f16(buffers, order, *(k.value for k in ks))
    label = "loops " + " ".join(k.out for k in ks)
    return Kernel(shader(decls, helpers, body, f16), order, groups, label)


def independent_loops(statements: list[Statement], limits: Limits
                      ) -> list[Statement | list[LoopKernel]]:
    """``statements`` with each run of adjacent non-empty loop kernels that neither read nor
    write each other's outputs (and fit the binding limit together) gathered into a list,
    to be dispatched as one kernel: optimizer updates over many parameters are such runs."""
    out: list[Statement | list[LoopKernel]] = []
    run: list[LoopKernel] = []
    touched: set[str] = set()
    written: set[str] = set()
    for stmt in [*statements, None]:
        if isinstance(stmt, LoopKernel) and math.prod(stmt.shape) == 0:
            out.append(stmt)  # renders to nothing: no reason to end the run
            continue
        if isinstance(stmt, LoopKernel):
            reads = set(loads([stmt.value]))
            if (run and not reads & written and stmt.out not in touched
                    and len(touched | reads | {stmt.out}) <= limits.max_bindings):
                run.append(stmt)
                touched |= reads | {stmt.out}
                written.add(stmt.out)
                continue
        if len(run) > 1:
            out.append(run)
        else:
            out += run
        run, touched, written = [], set(), set()
        if isinstance(stmt, LoopKernel):
            run, touched, written = [stmt], set(loads([stmt.value])) | {stmt.out}, {stmt.out}
        elif stmt is not None:
            out.append(stmt)
    return out


# --- reductions --------------------------------------------------------------------------------

def _init(op: str, dtype: np.dtype) -> str:
    t = value_type(dtype)
    if t == "bool":
        return "true" if op in ("and", "min", "prod", "argmin") else "false"
    if op in ("sum", "or"):
        return t_zero(t)
    if op == "prod":
        return t_one(t)
    if op == "and":
        return "0xffffffffu" if t == "u32" else "-1i"
    largest = op in ("max", "argmax")
    if t in ("f32", "f16"):
        inf = literal(-np.inf if largest else np.inf, dtype)
        return inf
    if t == "u32":
        return "0u" if largest else "4294967295u"
    return "i32(-2147483647 - 1)" if largest else "2147483647i"


def combine_code(op: str, acc: str, v: str, t: str, w: ExprWriter) -> str:
    """Code for the accumulator after folding in ``v``."""
    if t == "bool":
        return w._bool_binary({"sum": "or", "prod": "and"}.get(op, op), acc, v)
    if op == "sum":
        return f"({acc} + {v})"
    if op == "prod":
        return f"({acc} * {v})"
    if op in ("and", "or"):
        return f"({acc} {'&' if op == 'and' else '|'} {v})"
    if t == "f32":
        return w.call(f"fb_{op}", acc, v)
    if t == "f16":
        return f"f16({w.call(f'fb_{op}', f'f32({acc})', f'f32({v})')})"
    return f"{op}({acc}, {v})"


def _arg_better(op: str, t: str, w: ExprWriter, v: str, i: str, acc: str, best: str) -> str:
    """Whether (value ``v``, position ``i``) beats (``acc``, ``best``) for argmax/argmin: a
    NaN beats numbers, then larger (smaller) values, then smaller positions."""
    cmp = ">" if op == "argmax" else "<"
    plain = f"(({v} {cmp} {acc}) || ({v} == {acc} && {i} < {best}))"
    if t not in ("f32", "f16"):
        return plain
    vn = w.call("fb_isnan", v if t == "f32" else f"f32({v})")
    an = w.call("fb_isnan", acc if t == "f32" else f"f32({acc})")
    return f"select({plain}, {vn} && (!{an} || {i} < {best}), {vn} || {an})"


def _strides(e: Expr, axis: int) -> list[int | None]:
    """For each load in ``e``, how much its address grows when loop index ``axis`` grows by 1
    (None where the address is not affine in the loop indices)."""
    out: list[int | None] = []
    for node in nodes([e]):
        if isinstance(node, Load):
            a0 = _eval_index(node.address, {})
            a1 = _eval_index(node.address, {axis: 1})
            out.append(None if a0 is None or a1 is None else a1 - a0)
    return out


def _eval_index(e: Expr, env: dict[int, int]) -> int | None:
    if isinstance(e, Const) and e.dtype == INDEX:
        return int(e.value)
    if isinstance(e, LoopIndex):
        return env.get(e.axis, 0)
    if isinstance(e, Binary) and e.dtype == INDEX and e.op in ("add", "sub", "mul"):
        a, b = _eval_index(e.a, env), _eval_index(e.b, env)
        if a is None or b is None:
            return None
        return a + b if e.op == "add" else a - b if e.op == "sub" else a * b
    return None


def _per_output(k: ReduceKernel) -> bool:
    """Whether one invocation per output element (serial reduction) suits ``k`` better than
    one workgroup per output element: short reductions, or neighbouring outputs at
    neighbouring addresses and at least 16 outputs per reduced element. Measured on an H200
    (column sums, us per call, host floor ~60): 4096 outputs of 1024 serial 212, by workgroups
    90; 50000 of 128: 59 / 114; 65536 of 512: 231 / 539."""
    outs, red = math.prod(k.out_shape), math.prod(k.red_shape)
    if red < 32:
        return True
    inner_red = len(k.out_shape) + len(k.red_shape) - 1
    red_strides = _strides(k.value, inner_red)
    if 1 in red_strides or not k.out_shape:
        return False
    out_strides = _strides(k.value, len(k.out_shape) - 1)
    return outs >= 2048 and outs >= 16 * red and 1 in out_strides


def reduce_kernel(k: ReduceKernel, buffers: dict[str, BufferInfo], limits: Limits
                  ) -> Kernel | None:
    """The shader of ``k`` (None when the output has no elements)."""
    outs = math.prod(k.out_shape)
    if outs == 0:
        return None
    out_names = [f"o{d}" for d in range(len(k.out_shape))]
    red_names = [f"r{d}" for d in range(len(k.red_shape))]
    if _per_output(k):
        return _serial_reduce(k, buffers, limits, out_names, red_names)
    return _workgroup_reduce(k, buffers, limits, out_names, red_names)


def _result(k: ReduceKernel, acc: str, best: str, buffers: dict[str, BufferInfo]) -> str:
    if k.op in ("argmax", "argmin"):
        return _convert_index(best, k.index_dtype or np.dtype(np.int32))
    return store_value(acc, buffers[k.out].dtype)


def _convert_index(best: str, dtype: np.dtype) -> str:
    return f"bitcast<u32>({best})" if value_type(dtype) == "u32" else best


def _fold_lines(k: ReduceKernel, w: ExprWriter, value: str, position: str, indent: str
                ) -> list[str]:
    t = value_type(k.dtype)
    if k.op in ("argmax", "argmin"):
        better = _arg_better(k.op, t, w, value, position, "acc", "best")
        return [f"{indent}if ({better}) {{ acc = {value}; best = {position}; }}"]
    return [f"{indent}acc = {combine_code(k.op, 'acc', value, t, w)};"]


def _serial_reduce(k: ReduceKernel, buffers: dict[str, BufferInfo], limits: Limits,
                   out_names: list[str], red_names: list[str]) -> Kernel:
    outs, red = math.prod(k.out_shape), math.prod(k.red_shape)
    w = ExprWriter(out_names + red_names, indent="    ")
    value = w.emit(k.value)
    t = value_type(k.dtype)
    groups = grid(-(-outs // WORKGROUP), limits)
    fold = _fold_lines(k, w, value, "i32(r)", "    ")
    decls, order = declarations(buffers, list(w.buffers), [k.out], limits)
    body = [
        f"@compute @workgroup_size({WORKGROUP})",
        "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {",
        f"  let flat = gid.x + gid.y * {groups[0] * WORKGROUP}u;",
        f"  if (flat >= {outs}u) {{ return; }}",
        *decompose("flat", k.out_shape, out_names, "  "),
        f"  var acc: {t} = {_init(k.op, k.dtype)};",
        "  var best: i32 = 2147483647;",
        f"  for (var r: u32 = 0u; r < {red}u; r = r + 1u) {{",
        *decompose("r", k.red_shape, red_names, "    "),
        *w.lines,
        *fold,
        "  }",
        f"  {buffer_var(k.out)}[flat] = {_result(k, 'acc', 'best', buffers)};",
        "}",
    ]
    f16 = uses_f16(buffers, order, k.value) or k.dtype == dtypes.float16
    return Kernel(shader(decls, w.helpers, body, f16), order, groups, f"reduce {k.out}")


# A reduction with fewer outputs than this and at least SPLIT_MIN_LENGTH elements per output
# first reduces parts of each output's range in parallel workgroups, then combines the parts.
SPLIT_OUTPUTS = 256
SPLIT_MIN_LENGTH = 1 << 16
SPLIT_PART = 1 << 13


def reduce_steps(k: ReduceKernel, buffers: dict[str, BufferInfo], limits: Limits,
                 rendered: RenderedProgram) -> list[Kernel]:
    """The kernels of ``k``: one, or (few outputs, long reductions; not arg-reductions) a
    kernel reducing parts into a scratch buffer plus the kernel combining each output's
    parts."""
    outs, red = math.prod(k.out_shape), math.prod(k.red_shape)
    if (outs == 0 or outs >= SPLIT_OUTPUTS or red < SPLIT_MIN_LENGTH
            or k.op in ("argmax", "argmin")):
        kernel = reduce_kernel(k, buffers, limits)
        return [kernel] if kernel else []
    parts = min(-(-SPLIT_OUTPUTS // outs) * 4, red // SPLIT_PART)
    partial = rendered.new_scratch(f"{k.out}_parts", (outs, parts), k.dtype)
    scratch = {**buffers, partial: rendered.scratch[partial]}
    out_names = [f"o{d}" for d in range(len(k.out_shape))]
    red_names = [f"r{d}" for d in range(len(k.red_shape))]
    first = _workgroup_reduce(k, scratch, limits, out_names, red_names, (partial, parts))
    address = linear_address((LoopIndex(0), LoopIndex(1)), (outs, parts))
    combine = ReduceKernel(k.out, (outs,), (parts,), k.op, Load(partial, address, k.dtype),
                           k.dtype)
    second = reduce_kernel(combine, scratch, limits)
    return [first] if second is None else [first, second]


def _workgroup_reduce(k: ReduceKernel, buffers: dict[str, BufferInfo], limits: Limits,
                      out_names: list[str], red_names: list[str],
                      split: tuple[str, int] | None = None) -> Kernel:
    """One workgroup per output element; with ``split = (partial, parts)``, one per part of
    an output's reduction range, writing ``partial[output * parts + part]``."""
    outs, red = math.prod(k.out_shape), math.prod(k.red_shape)
    size = WORKGROUP if red >= 2048 else 64
    parts = split[1] if split else 1
    chunk = -(-red // parts)
    w = ExprWriter(out_names + red_names, indent="    ")
    value = w.emit(k.value)
    t = value_type(k.dtype)
    shared_t = "u32" if t == "bool" else t
    load_shared = "(sh[{0}] != 0u)" if t == "bool" else "sh[{0}]"
    groups = grid(outs * parts, limits)
    is_arg = k.op in ("argmax", "argmin")
    fold = _fold_lines(k, w, value, "i32(r)", "    ")
    mine, other = load_shared.format("lid"), load_shared.format("lid + s")
    if is_arg:
        better = _arg_better(k.op, t, w, other, "shi[lid + s]", mine, "shi[lid]")
        merge = [f"      if ({better}) {{ sh[lid] = sh[lid + s]; shi[lid] = shi[lid + s]; }}"]
    else:
        merge = [f"      sh[lid] = {store_value(combine_code(k.op, mine, other, t, w), k.dtype)};"]
    target = split[0] if split else k.out
    decls, order = declarations(buffers, list(w.buffers), [target], limits)
    decls.append(f"var<workgroup> sh: array<{shared_t}, {size}>;")
    if is_arg:
        decls.append(f"var<workgroup> shi: array<i32, {size}>;")
    final = load_shared.format("0")
    body = [
        f"@compute @workgroup_size({size})",
        "fn main(@builtin(workgroup_id) wid: vec3<u32>, "
        "@builtin(local_invocation_index) lid: u32) {",
        f"  let wg = wid.x + wid.y * {groups[0]}u;",
        f"  if (wg >= {outs * parts}u) {{ return; }}",
        f"  let flat = wg / {parts}u;",
        f"  let start = (wg % {parts}u) * {chunk}u;",
        *decompose("flat", k.out_shape, out_names, "  "),
        f"  var acc: {t} = {_init(k.op, k.dtype)};",
        "  var best: i32 = 2147483647;",
        f"  for (var r: u32 = start + lid; r < min(start + {chunk}u, {red}u); "
        f"r = r + {size}u) {{",
        *decompose("r", k.red_shape, red_names, "    "),
        *w.lines,
        *fold,
        "  }",
        f"  sh[lid] = {store_value('acc', k.dtype)};",
        *(["  shi[lid] = best;"] if is_arg else []),
        "  workgroupBarrier();",
        f"  for (var s: u32 = {size // 2}u; s > 0u; s = s >> 1u) {{",
        "    if (lid < s) {",
        *merge,
        "    }",
        "    workgroupBarrier();",
        "  }",
        "  if (lid == 0u) {",
        (f"    {buffer_var(target)}[wg] = {store_value(final, k.dtype)};" if split else
         f"    {buffer_var(k.out)}[flat] = {_result(k, final, 'shi[0]', buffers)};"),
        "  }",
        "}",
    ]
    f16 = uses_f16(buffers, order, k.value) or k.dtype == dtypes.float16
    return Kernel(shader(decls, w.helpers, body, f16), order, groups, f"reduce {target}")


# --- programs ----------------------------------------------------------------------------------

RoutineEmitter = Callable[[Routine, Program, Limits, RenderedProgram], list[Step]]
ROUTINES: dict[str, RoutineEmitter] = {}


def routine(kind: str) -> Callable[[RoutineEmitter], RoutineEmitter]:
    """Register the WGSL emitter of a Routine kind: ``emit(routine, program, limits, rendered)``
    returns the kernels that fill the routine's outputs (scratch buffers they need go into
    ``rendered.scratch``)."""

    def register(emit: RoutineEmitter) -> RoutineEmitter:
        ROUTINES[kind] = emit
        return emit

    return register


def render_statement(stmt: Statement, program: Program, limits: Limits,
                     rendered: RenderedProgram) -> list[Step]:
    """The steps of one statement."""
    buffers = {**program.buffers, **rendered.scratch}
    if isinstance(stmt, LoopKernel):
        kernel = loop_kernel(stmt, buffers, limits)
        return [kernel] if kernel else []
    if isinstance(stmt, ReduceKernel):
        return reduce_steps(stmt, buffers, limits, rendered)
    if isinstance(stmt, Routine):
        emit = ROUTINES.get(stmt.kind)
        if emit is None:
            raise LoweringError(f"the routine '{stmt.kind}' has no WGSL lowering yet")
        return emit(stmt, program, limits, rendered)
    if isinstance(stmt, If):
        return [_render_if(stmt, program, limits, rendered)]
    if isinstance(stmt, While):
        return [_render_while(stmt, program, limits, rendered)]
    if isinstance(stmt, Scan):
        return [_render_scan(stmt, program, limits, rendered)]
    raise LoweringError(f"the WGSL renderer cannot print {type(stmt).__name__}")


def render_statements(statements: list[Statement], program: Program, limits: Limits,
                      rendered: RenderedProgram) -> list[Step]:
    """The steps of a list of statements, in order (runs of independent loop kernels as one
    dispatch)."""
    steps: list[Step] = []
    for item in independent_loops(statements, limits):
        if isinstance(item, list):
            steps.append(fused_loop_kernel(item, {**program.buffers, **rendered.scratch},
                                           limits))
        else:
            steps += render_statement(item, program, limits, rendered)
    return steps


def _scalar_kernel(value: Expr, prefix: str, program: Program, limits: Limits,
                   rendered: RenderedProgram) -> tuple[Kernel, str]:
    """A kernel writing the scalar ``value`` as int32 into a new scratch buffer."""
    name = rendered.new_scratch(prefix, (), dtypes.int32)
    buffers = {**program.buffers, **rendered.scratch}
    kernel = loop_kernel(LoopKernel(name, (), Cast(value, dtypes.int32)), buffers, limits)
    assert kernel is not None
    return kernel, name


def _render_if(stmt: If, program: Program, limits: Limits, rendered: RenderedProgram) -> Branch:
    index, name = _scalar_kernel(stmt.index, "cf_index", program, limits, rendered)
    branches = [render_statements(b.statements, program, limits, rendered)
                for b in stmt.branches]
    return Branch(index, name, branches, [list(b.outputs) for b in stmt.branches],
                  list(stmt.outputs))


def _render_while(stmt: While, program: Program, limits: Limits, rendered: RenderedProgram
                  ) -> Loop:
    cond = render_statements(stmt.cond.statements, program, limits, rendered)
    pred, name = _scalar_kernel(stmt.pred, "cf_pred", program, limits, rendered)
    body = render_statements(stmt.body.statements, program, limits, rendered)
    return Loop(list(stmt.init), list(stmt.carry), [*cond, pred], name, body,
                list(stmt.body.outputs))


def _render_scan(stmt: Scan, program: Program, limits: Limits, rendered: RenderedProgram
                 ) -> ScanLoop:
    step = rendered.new_scratch("cf_step", (), dtypes.int32)
    position = Cast(Load(step, index_const(0), dtypes.int32), INDEX)
    buffers = {**program.buffers, **rendered.scratch}
    loads = []
    for xs, row in zip(stmt.xs, stmt.x_rows, strict=True):
        shape = buffers[row].shape
        flat = linear_address(tuple(LoopIndex(d) for d in range(len(shape))), shape)
        address = index_add(index_mul(position, math.prod(shape)), flat)
        kernel = loop_kernel(LoopKernel(row, shape, Load(xs, address, buffers[xs].dtype)),
                             buffers, limits)
        loads += [kernel] if kernel else []
    body = render_statements(stmt.body.statements, program, limits, rendered)
    ncarry = len(stmt.carry)
    stores = []
    for ys, y in zip(stmt.ys, stmt.body.outputs[ncarry:], strict=True):
        shape = buffers[ys].shape[1:]
        flat = linear_address(tuple(LoopIndex(d) for d in range(len(shape))), shape)
        kernel = loop_kernel(LoopKernel(ys, shape, Load(y, flat, buffers[y].dtype)), buffers,
                             limits, out_offset=index_mul(position, math.prod(shape)))
        stores += [kernel] if kernel else []
    return ScanLoop(stmt.length, stmt.reverse, list(stmt.init), list(stmt.carry),
                    list(stmt.ys), step, loads, body, list(stmt.body.outputs), stores)


def render(program: Program, limits: Limits) -> RenderedProgram:
    """Every statement of ``program`` as WGSL kernels (and host-side steps), in order."""
    for name, info in program.buffers.items():
        try:
            check_buffer_dtype(info.dtype, limits)
        except FbornDtypeError as e:
            raise FbornDtypeError(f"buffer {name}: {e}") from None
    rendered = RenderedProgram([])
    rendered.kernels = render_statements(program.statements, program, limits, rendered)
    return rendered
