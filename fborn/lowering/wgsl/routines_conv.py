"""WGSL convolution (``conv_general_dilated``, any dimension numbers).

- As a matrix product where it applies (float operands, no feature or batch groups): the tiled
  matmul computes ``out[n, o, p] = sum_k w[o, k] * col[n, k, p]`` with the patch matrix
  ``col[n, (c, k...), (p...)]`` read straight from the input by its tile loader (implicit
  GEMM; zero where a tap falls in the padding or between dilated inputs), split along K when
  there are few outputs and long sums (weight gradients). Measured on an H200 for LeNet-5's
  conv2 input gradient at batch 1024, materializing the patch matrix first (321 MB) took
  330 us before a 220 us product. Weights whose (c, k...) axes are not one stride, and outputs
  not laid out as (n, o, spatial...), go through a transposing copy.
- Otherwise a direct convolution: one invocation per output element looping over its input
  channels and window taps (padding, dilations, strides, feature and batch groups),
  accumulating in float32 (int32 for integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fborn.core import dtypes
from fborn.lowering.kernel_ir import (
    BufferInfo,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    Routine,
    linear_address,
    row_major_strides,
)
from fborn.lowering.wgsl.render import (
    WORKGROUP,
    ExprWriter,
    Kernel,
    Limits,
    RenderedProgram,
    Step,
    buffer_var,
    decompose,
    grid,
    loop_kernel,
    routine,
    value_type,
)
from fborn.lowering.wgsl.routines import (
    GatheredOperand,
    Operand,
    matmul_steps,
    prepare_operand,
)
from fborn.lowering.wgsl.routines_misc import flat_main, program_buffers, routine_kernel, terms


@dataclass(frozen=True)
class _Geometry:
    """A convolution's sizes read through its dimension numbers."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]
    batch: int  # output batch
    in_channels: int  # per group
    out_channels: int
    kernel: tuple[int, ...]
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]

    @staticmethod
    def of(p: dict) -> _Geometry:
        ls, rs, os_ = (tuple(spec) for spec in p["dimension_numbers"])
        lhs, rhs, out = p["lhs_shape"], p["rhs_shape"], p["out_shape"]
        return _Geometry(ls, rs, os_, out[os_[0]], rhs[rs[1]], rhs[rs[0]],
                         tuple(rhs[a] for a in rs[2:]), tuple(lhs[a] for a in ls[2:]),
                         tuple(out[a] for a in os_[2:]))


def _input_tap(p: dict, g: _Geometry, positions: list[str], taps: list[str], batch: str,
               channel: str, indent: str) -> tuple[list[str], str, str]:
    """Lines binding the input coordinates read by output position ``positions`` at window tap
    ``taps`` (code per spatial axis), the condition that they lie inside the input (not in
    the padding, not between dilated inputs) and the input element's address."""
    lines, checks = [], []
    for d in range(len(g.kernel)):
        q = (f"{positions[d]} * {p['window_strides'][d]} + {taps[d]} * {p['rhs_dilation'][d]}"
             f" - {p['padding'][d][0]}")
        dilation = p["lhs_dilation"][d]
        lines.append(f"{indent}let q{d} = {q};")
        if dilation > 1:
            lines.append(f"{indent}let x{d} = q{d} / {dilation};")
            checks.append(f"q{d} >= 0 && q{d} % {dilation} == 0")
        else:
            lines.append(f"{indent}let x{d} = q{d};")
            checks.append(f"q{d} >= 0")
        checks.append(f"x{d} < {g.in_spatial[d]}")
    strides = row_major_strides(p["lhs_shape"])
    address = terms([(batch, strides[g.lhs_spec[0]]), (channel, strides[g.lhs_spec[1]]),
                     *((f"x{d}", strides[g.lhs_spec[2 + d]]) for d in range(len(g.kernel)))])
    return lines, " && ".join(checks) or "true", address


# --- as a matrix product -----------------------------------------------------------------------

def _as_matmul(r: Routine, buffers: dict[str, BufferInfo]) -> bool:
    """Whether the matrix product computes ``r``: float operands and result, no groups."""
    p = r.params
    if p["feature_group_count"] != 1 or p["batch_group_count"] != 1:
        return False
    return all(dtypes.is_float(buffers[b].dtype) for b in (*r.inputs, *r.outputs))


class _PatchOperand(GatheredOperand):
    """The patch matrix ``col[n, (c, tap...), (position...)]`` of a convolution, read from its
    input: zero where a tap falls in the padding or between dilated inputs (implicit GEMM:
    the matrix is never written)."""

    def __init__(self, p: dict, g: _Geometry, lhs: str, dtype: np.dtype):
        taps = math.prod(g.kernel)
        super().__init__(lhs, dtype, g.in_channels * taps, math.prod(g.out_spatial), "f32")
        self.p, self.g, self.taps = p, g, taps

    def column_lines(self, col: str, tag: str) -> list[str]:
        return [f"  let {tag}p{d} = {code};"
                for d, code in enumerate(_unravel(col, self.g.out_spatial))]

    def consecutive_lines(self, row: str, tag: str, targets: list[str],
                          extras: list[str | None]) -> list[str]:
        """The first row's (channel, tap...) by division, the next ones by stepping the last
        tap with carries (a few compares instead of divisions per element)."""
        g, nd = self.g, len(self.g.kernel)
        lines = [f"{{ let kq = {row};", f"  var c = kq / {self.taps};",
                 f"  let kt = kq % {self.taps};",
                 *(f"  var k{d} = {code};" for d, code in enumerate(_unravel("kt", g.kernel)))]
        for j, (target, extra) in enumerate(zip(targets, extras, strict=True)):
            if j:
                lines += _step_taps(g.kernel)
            tap_lines, inside, address = _input_tap(
                self.p, g, [f"{tag}p{d}" for d in range(nd)], [f"k{d}" for d in range(nd)],
                "bz", "c", "    ")
            condition = inside if extra is None else f"{extra} && {inside}"
            lines += ["  {", *tap_lines,
                      f"    if ({condition}) {{ {target} = {self.read(address)}; }}", "  }"]
        return [*lines, "}"]


def _step_taps(kernel: tuple[int, ...]) -> list[str]:
    """Lines advancing the taps ``k0..`` (then the channel ``c``) by one row-major step."""
    lines, indent = [], "  "
    for d in reversed(range(len(kernel))):
        lines += [f"{indent}k{d} = k{d} + 1;", f"{indent}if (k{d} == {kernel[d]}) {{",
                  f"{indent}  k{d} = 0;"]
        indent += "  "
    lines.append(f"{indent}c = c + 1;")
    for _ in kernel:
        indent = indent[:-2]
        lines.append(f"{indent}}}")
    return lines


def _unravel(flat: str, shape: tuple[int, ...]) -> list[str]:
    """i32 code for the row-major index of ``flat`` (i32 code) in ``shape``."""
    codes = []
    for d, (size, stride) in enumerate(zip(shape, row_major_strides(shape), strict=True)):
        q = flat if stride == 1 else f"({flat} / {stride})"
        codes.append("0" if size == 1 else q if d == 0 else f"({q} % {size})")
    return codes


def _conv_matmul(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
                 ) -> list[Step]:
    p, (lhs, rhs), (out,) = r.params, r.inputs, r.outputs
    g = _Geometry.of(p)
    k = g.in_channels * math.prod(g.kernel)
    positions = math.prod(g.out_spatial)
    kernels: list[Kernel] = []
    weights, w_strides = prepare_operand(rendered, program, limits, rhs, tuple(p["rhs_shape"]),
                                         ((), (g.rhs_spec[0],), g.rhs_spec[1:]), kernels)
    buffers = program_buffers(program, rendered)
    a = Operand(weights, buffers[weights].dtype, w_strides, g.out_channels, k, "f32")
    b = _PatchOperand(p, g, lhs, buffers[lhs].dtype)
    out_dtype = buffers[out].dtype
    canonical = g.out_spec == tuple(range(len(g.out_spec)))
    product = out if canonical else rendered.new_scratch(
        f"{out}_nop", (g.batch, g.out_channels, positions), out_dtype)
    kernels += matmul_steps(a, b, product, out_dtype, g.batch, g.out_channels, positions, k,
                            limits, rendered)
    if not canonical:
        index = tuple(LoopIndex(axis) for axis in g.out_spec)
        shape = (g.batch, g.out_channels, *g.out_spatial)
        relayout = loop_kernel(LoopKernel(out, tuple(p["out_shape"]),
                                          Load(product, linear_address(index, shape), out_dtype)),
                               program_buffers(program, rendered), limits)
        if relayout is not None:
            kernels.append(relayout)
    return kernels


# --- direct ------------------------------------------------------------------------------------

def _direct_body(p: dict, lhs: str, rhs: str, out: str, buffers: dict[str, BufferInfo],
                 groups: tuple[int, int, int]) -> list[str]:
    g = _Geometry.of(p)
    rs, os_ = g.rhs_spec, g.out_spec
    fgc, bgc = p["feature_group_count"], p["batch_group_count"]
    nd = len(g.kernel)
    per_group = g.out_channels // max(fgc, bgc)
    out_shape = p["out_shape"]
    rstr = row_major_strides(p["rhs_shape"])
    out_dtype, work = buffers[out].dtype, _work_type(buffers[lhs].dtype, buffers[out].dtype)
    dims = [f"d{a}" for a in range(len(out_shape))]
    n, o = dims[os_[0]], dims[os_[1]]
    batch_in = f"({n} + g * {g.batch})" if bgc > 1 else n
    chan0 = f"g * {g.in_channels}" if fgc > 1 else "0"
    taps = [f"k{d}" for d in range(nd)]
    tap_lines, inside, x_addr = _input_tap(p, g, [dims[os_[2 + d]] for d in range(nd)], taps,
                                           batch_in, f"({chan0} + c)", "      ")
    lines = [*flat_main(groups, math.prod(out_shape)),
             *decompose("flat", out_shape, dims, "  "),
             f"  let g = {o} / {per_group};",
             f"  var acc: {work} = {work}(0);",
             f"  for (var c: i32 = 0; c < {g.in_channels}; c = c + 1) {{",
             f"    for (var kf: u32 = 0u; kf < {math.prod(g.kernel)}u; kf = kf + 1u) {{",
             *decompose("kf", g.kernel, taps, "      "), *tap_lines]
    w_addr = terms([(o, rstr[rs[0]]), ("c", rstr[rs[1]]),
                    *((f"k{d}", rstr[rs[2 + d]]) for d in range(nd))])
    x = _to_work(f"{buffer_var(lhs)}[{x_addr}]", buffers[lhs].dtype, work)
    wv = _to_work(f"{buffer_var(rhs)}[{w_addr}]", buffers[rhs].dtype, work)
    lines += [f"      if ({inside}) {{ acc = acc + {x} * {wv}; }}", "    }", "  }"]
    result = "acc" if value_type(out_dtype) == work else f"{value_type(out_dtype)}(acc)"
    if out_dtype == dtypes.bool_:
        result = f"select(0u, 1u, acc != {work}(0))"
    lines += [f"  {buffer_var(out)}[flat] = {result};", "}"]
    return lines


def _work_type(in_dtype: np.dtype, out_dtype: np.dtype) -> str:
    if dtypes.is_float(in_dtype) or dtypes.is_float(out_dtype):
        return "f32"
    return "u32" if dtypes.uint32 in (in_dtype, out_dtype) else "i32"


def _to_work(code: str, dtype: np.dtype, work: str) -> str:
    return code if value_type(dtype) == work else f"{work}({code})"


@routine("conv")
def _conv(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
          ) -> list[Step]:
    """The matrix product reading patches from the input (implicit GEMM) where that applies,
    else a direct convolution."""
    size = math.prod(r.params["out_shape"])
    if size == 0:
        return []
    buffers = program_buffers(program, rendered)
    if _as_matmul(r, buffers):
        return _conv_matmul(r, program, limits, rendered)
    lhs, rhs = r.inputs
    (out,) = r.outputs
    groups = grid(-(-size // WORKGROUP), limits)
    body = _direct_body(r.params, lhs, rhs, out, buffers, groups)
    return [routine_kernel(f"conv {out}", buffers, ExprWriter([]), [lhs, rhs], [out], body,
                           groups, limits)]
