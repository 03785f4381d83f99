"""Shared machinery of the jit-equals-eager suite (``test_jit_matches_eager_*.py``).

A *case* is one public function with a hypothesis strategy for its arguments: the strategy
draws a ``Call`` (the array arguments, possibly non-contiguous numpy views, Python scalars or
zero-size arrays, plus static keyword arguments), and the tests compare ``fborn.jit`` (numba)
with eager execution on it, also under ``vmap`` and ``grad``. ``LAX_CASES`` and
``NUMPY_CASES`` map every public name to its case, so coverage is auditable; the test files
assert that the tables cover ``__all__`` minus the exclusion lists below.

Compilation dominates the time (one numba compile per distinct program), so the strategies keep
shapes small and the tests few examples; values are cheap and vary freely.

Test files load this module by path (pytest's importlib mode puts no test folder on
``sys.path``): see ``load_cases`` in each test file.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
from fborn.tree_util import tree_leaves

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
I32, I64 = np.dtype(np.int32), np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
U8, I8, U32, I16 = np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.uint32), np.dtype(np.int16)
U64 = np.dtype(np.uint64)
BF16, F16 = np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)

FLOATS = (F32,)
INTS = (I32, U8, I8, U32)
NUMERIC = (F32, I32, U8)
ANY = (F32, I32, BOOL)
X64 = (F64, I64)

# Hypothesis starts every test with its simplest example (each choice the first of its list)
# and the CI profile runs few examples, so the first choices make a representative example: a
# transposed 3x3 float32 view (values come from a drawn seed, so they vary even there). Sides
# of 0 give zero-size arrays in about a third of the two-dimensional draws.
SIDES = (3, 2, 1, 0, 4, 5)
NDIMS = (2, 1, 0, 3)
LAYOUTS = ("T", "C", "F", "rev", "step")

# Tolerances: exact for data movement and integers; float32 math compiled by numba (libm,
# fastmath with reassociation, our vectorized exp/tanh) against numpy's.
MATH = 2e-6
SUMS = 2e-5


# --- drawing arrays ----------------------------------------------------------------------------

def is_float(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f" or np.dtype(dtype) in (BF16, F16)


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The values of ``a`` as a (possibly non-contiguous) numpy view: ``T`` a transposed
    buffer, ``F`` Fortran order, ``rev`` negative strides, ``step`` every other element."""
    if a.ndim == 0 or a.size == 0 or layout == "C":
        return a
    if layout == "T":
        return np.ascontiguousarray(a.T).T
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "rev":
        return np.flip(np.flip(a, 0).copy(), 0)
    return np.repeat(a, 2, axis=-1)[..., ::2]


def elements(dtype: np.dtype, low: float, high: float, specials: bool) -> st.SearchStrategy:
    """Scalar values of ``dtype`` in ``[low, high]`` (clipped to integer ranges); floats mix
    small integers (ties, exact zeros) with arbitrary values, plus NaN/inf if ``specials``."""
    if dtype == BOOL:
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.integers(max(int(low), int(info.min)), min(int(high), int(info.max)))
    pool = [v for v in (0.0, 1.0, -1.0, 0.5, 2.0, -0.0, -2.0, 3.0) if low <= v <= high]
    if specials:
        pool += [np.nan, np.inf, -np.inf]
    low, high = float(np.float32(low)), float(np.float32(high))
    near = (max(low, -1.5), min(high, 1.5))  # where asin, atanh, erf_inv... are defined
    return st.one_of(st.sampled_from(pool),
                     st.floats(*near, width=32, allow_subnormal=False),
                     st.floats(low, high, width=32, allow_subnormal=False))


def random_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
                  low: float, high: float, specials: bool) -> np.ndarray:
    """Values of ``dtype`` in ``[low, high]`` (clipped to integer ranges): integers uniform
    with the bounds repeated; floats mixing small integers and signed zeros (ties, exact
    results), values in [-1.5, 1.5] (where asin, atanh, erf_inv... are defined) and in
    ``[low, high]``, plus NaN and infinities if ``specials``."""
    size = math.prod(shape)
    if dtype == BOOL:
        return rng.integers(0, 2, size).astype(BOOL).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = max(int(low), int(info.min)), min(int(high), int(info.max))
        values = rng.integers(lo, hi, size, endpoint=True, dtype=np.int64 if hi < 2**63
                              else np.uint64)
        ends = rng.random(size) < 0.1
        values[ends] = rng.choice([lo, hi], int(ends.sum()))
        return values.astype(dtype).reshape(shape)
    pool = [v for v in (0.0, 1.0, -1.0, 0.5, 2.0, -0.0, -2.0, 3.0) if low <= v <= high]
    kind = rng.choice(3, size, p=[0.3, 0.3, 0.4])
    values = np.where(kind == 0, rng.choice(pool, size),
                      np.where(kind == 1, rng.uniform(max(low, -1.5), min(high, 1.5), size),
                               rng.uniform(low, high, size)))
    if specials:
        odd = rng.random(size) < 0.1
        values[odd] = rng.choice([np.nan, np.inf, -np.inf], int(odd.sum()))
    return values.astype(F32).astype(dtype).reshape(shape)


@st.composite
def arrays(draw: Any, shape: Sequence[int], dtype: Any, low: float = -8, high: float = 8,
           specials: bool = False, layout: bool = True) -> np.ndarray:
    """A numpy array of ``shape``/``dtype`` with values from a drawn seed (see
    ``random_values``) and (if ``layout``) a drawn memory layout."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = random_values(rng, tuple(shape), np.dtype(dtype), low, high, specials)
    return with_layout(a, draw(st.sampled_from(LAYOUTS))) if layout else a


@st.composite
def shapes(draw: Any, min_dims: int = 0, max_dims: int = 3, min_side: int = 0,
           max_side: int = 5) -> tuple[int, ...]:
    ndim = draw(st.sampled_from([n for n in NDIMS if min_dims <= n <= max_dims]
                                or [min_dims]))
    sides = st.sampled_from([s for s in SIDES if min_side <= s <= max_side])
    return tuple(draw(sides) for _ in range(ndim))


@st.composite
def broadcastable(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``shape``: some leading axes dropped, some sides set to 1."""
    drop = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.integers(0, 2)) == 0 else d for d in shape[drop:])


@dataclass
class Call:
    """Arguments of one test call: ``args`` (arrays or Python scalars) and static ``kw``."""

    args: tuple[Any, ...]
    kw: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [f"{a.dtype}{list(a.shape)}{'' if a.flags.c_contiguous else '(view)'}"
                 if isinstance(a, np.ndarray) else repr(a) for a in self.args]
        return f"Call({', '.join(parts)}; {self.kw})"


@dataclass(frozen=True)
class Case:
    """How to test one public function: ``fn(*call.args, **call.kw)`` on ``args`` draws.

    ``rtol``: 0 compares exactly, else float outputs compare with this relative tolerance (and
    ``atol = rtol``). ``grad``: differentiate with respect to the float array arguments (None:
    whenever there are some and the result has a float output). ``vmap``: batch it.
    ``family``: elementwise cases of one family share ``args`` and are compiled together,
    their outputs stacked into few fused kernels (see ``check_family``)."""

    fn: Callable[..., Any]
    args: st.SearchStrategy[Call]
    rtol: float = 0.0
    grad: bool | None = None
    vmap: bool = True
    family: str | None = None


def call(*args: Any, **kw: Any) -> Call:
    return Call(tuple(args), kw)


def family(name: str, args: st.SearchStrategy[Call], fns: dict[str, Callable[..., Any]],
           rtol: dict[str, float] | float = 0.0) -> dict[str, Case]:
    """Cases of the elementwise family ``name``: every function takes the same ``args``."""
    tol = rtol if isinstance(rtol, dict) else dict.fromkeys(fns, rtol)
    return {k: Case(f, args, rtol=tol.get(k, 0.0), family=name) for k, f in fns.items()}


# --- argument strategies -----------------------------------------------------------------------

@st.composite
def nary(draw: Any, n: int, dtypes: Sequence[Any] = ANY, *, broadcast: bool = False,
         same_dtype: bool = True, scalars: bool = False, low: float = -8, high: float = 8,
         specials: bool = False, shape: st.SearchStrategy | None = None, **kw: Any) -> Call:
    """``n`` array operands: one shape (or broadcastable shapes), one dtype (or one each),
    a Python scalar in place of one operand sometimes (``scalars``)."""
    base = draw(shape if shape is not None else shapes())
    dtype = draw(st.sampled_from(dtypes))
    args: list[Any] = []
    for k in range(n):
        dt = np.dtype(dtype if same_dtype else draw(st.sampled_from(dtypes)))
        shp = draw(broadcastable(base)) if broadcast and k else base
        args.append(draw(arrays(shp, dt, low, high, specials)))
    if scalars and n > 1 and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(0, n - 1))
        dt = args[k].dtype
        unsigned = any(a.dtype.kind == "u" for a in args)  # negative ints overflow them
        value = draw(elements(dt, max(low, 0 if unsigned else -4), min(high, 4), False))
        args[k] = bool(value) if dt == BOOL else int(value) if dt.kind in "iu" else float(value)
    statics = {name: draw(s) for name, s in kw.items()}
    return Call(tuple(args), statics)


def unary(dtypes: Sequence[Any] = FLOATS, **kw: Any) -> st.SearchStrategy[Call]:
    return nary(1, dtypes, **kw)


def binary(dtypes: Sequence[Any] = ANY, **kw: Any) -> st.SearchStrategy[Call]:
    return nary(2, dtypes, **kw)


def np_binary(dtypes: Sequence[Any] = ANY, **kw: Any) -> st.SearchStrategy[Call]:
    """numpy-style operands: broadcasting, mixed dtypes, weak Python scalars."""
    return nary(2, dtypes, broadcast=True, same_dtype=False, scalars=True, **kw)


@st.composite
def with_axis(draw: Any, base: st.SearchStrategy[Call], name: str = "axis",
              none: bool = True, negative: bool = True, multi: bool = False,
              min_dims: int = 1) -> Call:
    """``base`` plus a static axis argument valid for its first operand (None, negative,
    or a tuple of axes if ``multi``)."""
    c = draw(base)
    ndim = np.ndim(c.args[0])
    choices: list[Any] = [None] if none else []
    if ndim >= min_dims:
        choices += list(range(ndim))
        if negative:
            choices += [-1]
        if multi and ndim >= 2:
            choices += [(0, ndim - 1), tuple(range(ndim))]
    if not choices:
        choices = [None]
    c.kw[name] = draw(st.sampled_from(choices))
    return c


def statics(base: st.SearchStrategy[Call], **kw: st.SearchStrategy) -> st.SearchStrategy[Call]:
    """``base`` with extra static keyword arguments drawn from ``kw``."""

    @st.composite
    def build(draw: Any) -> Call:
        c = draw(base)
        c.kw.update({k: draw(s) for k, s in kw.items()})
        return c

    return build()


@st.composite
def index_arrays(draw: Any, shape: Sequence[int], size: int, low_slack: int = 2,
                 dtype: Any = I32) -> np.ndarray:
    """Indices into an axis of ``size`` (some out of range, some negative)."""
    return draw(arrays(shape, dtype, -size - low_slack, size + low_slack))


# --- test settings -----------------------------------------------------------------------------

def examples(n: int) -> int:
    """``n`` hypothesis examples under the CI profile (10 to 25 examples), proportionally more
    under larger ones (dev: 2n): every example costs a numba compilation."""
    return n * max(1, settings.default.max_examples // 25)


def kernel_dir(factory: Any) -> Any:
    """The kernel cache folder of this test session (shared by the suite's files)."""
    path = factory.getbasetemp() / "jit_eager_kernels"
    path.mkdir(exist_ok=True)
    return path


# --- comparing ---------------------------------------------------------------------------------

def assert_same(compiled: Any, eager: Any, rtol: float, where: str = "") -> None:
    """Equal pytree structure, dtypes, shapes and values (exact, or close for floats when
    ``rtol``; NaNs in the same places)."""
    got, want = tree_leaves(compiled), tree_leaves(eager)
    assert len(got) == len(want), f"{where}: {len(got)} outputs, eager gives {len(want)}"
    for k, (c, e) in enumerate(zip(got, want, strict=True)):
        c, e = np.asarray(c), np.asarray(e)
        assert c.dtype == e.dtype, f"{where} output {k}: dtype {c.dtype}, eager {e.dtype}"
        assert c.shape == e.shape, f"{where} output {k}: shape {c.shape}, eager {e.shape}"
        if e.dtype in (BF16, F16):
            c, e = c.astype(F32), e.astype(F32)
        if rtol and is_float(e.dtype):
            np.testing.assert_allclose(c, e, rtol=rtol, atol=rtol, err_msg=f"{where} out {k}")
        else:
            np.testing.assert_array_equal(c, e, err_msg=f"{where} output {k}")


@dataclass
class Item:
    """One comparison: ``fn(*args)`` compiled against eager, named ``label``."""

    label: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    rtol: float


def jit_item(name: str, case: Case, c: Call) -> Item:
    """``jit(f)`` against ``f``."""
    return Item(f"{name}{c}", functools.partial(case.fn, **c.kw), c.args, case.rtol)


def vmap_item(name: str, case: Case, c: Call, in_axes: tuple[Any, ...]) -> Item:
    """``jit(vmap(f))`` against ``vmap(f)``."""
    f = fborn.vmap(functools.partial(case.fn, **c.kw), in_axes=in_axes)
    return Item(f"vmap {name}{c} in_axes={in_axes}", f, c.args, case.rtol)


def grad_item(name: str, case: Case, c: Call) -> Item | None:
    """``jit(grad(f))`` against ``grad(f)`` for the loss ``scalar_loss(f)`` and every float
    array argument; None where there is nothing to differentiate."""
    f = functools.partial(case.fn, **c.kw)
    argnums = float_argnums(c)
    if not argnums or case.grad is False or not has_float_output(f, c):
        assert case.grad is not True, f"{name}: no float input/output to differentiate"
        return None
    g = fborn.grad(scalar_loss(f), argnums=argnums)
    return Item(f"grad {name}{c}", g, c.args, max(case.rtol, MATH))


def check_items(items: Sequence[Item]) -> None:
    """One jitted program computing every item (each on its own arguments) gives each item's
    eager result. If the program fails to build, each item is compiled alone to name the one
    at fault."""
    flat: list[Any] = []
    spans = []
    for it in items:
        spans.append((len(flat), len(flat) + len(it.args)))
        flat.extend(it.args)

    def program(*values: Any) -> list[Any]:
        return [it.fn(*values[a:b]) for it, (a, b) in zip(items, spans, strict=True)]

    eager = [it.fn(*it.args) for it in items]
    try:
        compiled = fborn.jit(program)(*flat)
    except Exception as error:
        if len(items) > 1:
            for it in items:
                check_items([it])
        raise AssertionError(f"{items[0].label}: compiling raised {error!r}") from error
    for it, got, want in zip(items, compiled, eager, strict=True):
        assert_same(got, want, it.rtol, it.label)


def check_fused(label: str, members: dict[str, tuple[Callable[..., Any], float]],
                args: tuple[Any, ...]) -> None:
    """The members (functions of the same ``args``) compiled as one program whose outputs
    are stacked by dtype and shape, so that the elementwise ones fuse into few kernels; each
    member's output equals its eager result. If the program fails to build, each member is
    compiled alone to name the one at fault."""
    layout = []
    for name, (fn, rtol) in members.items():
        for k, aval in enumerate(tree_leaves(fborn.eval_shape(fn, *args))):
            layout.append((f"{name}#{k}", (np.dtype(aval.dtype), tuple(aval.shape)), rtol))
    groups: dict[Any, list[str]] = {}
    for leaf, key, _ in layout:
        groups.setdefault(key, []).append(leaf)
    position = {leaf: (g, k) for g, leaves in enumerate(groups.values())
                for k, leaf in enumerate(leaves)}

    def program(*values: Any) -> tuple[Any, ...]:
        leaves: dict[str, Any] = {}
        for name, (fn, _) in members.items():
            for k, out in enumerate(tree_leaves(fn(*values))):
                leaves[f"{name}#{k}"] = out
        return tuple(fnp.stack([leaves[n] for n in names]) for names in groups.values())

    eager = program(*args)
    try:
        compiled = fborn.jit(program)(*args)
    except Exception:
        for name, (fn, rtol) in members.items():
            check_items([Item(f"{label}: {name}", fn, args, rtol)])
        raise
    for leaf, _, rtol in layout:
        g, k = position[leaf]
        assert_same(compiled[g][k], eager[g][k], rtol, f"{label}: {leaf}")


def family_members(cases: dict[str, Case], mode: str, c: Call,
                   in_axes: tuple[Any, ...] = ()) -> dict[str, tuple[Callable[..., Any], float]]:
    """The members of a family for ``check_fused`` in ``mode`` (jit, vmap or grad; grad
    leaves out the members with nothing to differentiate)."""
    members = {}
    for name, case in cases.items():
        it = (jit_item(name, case, c) if mode == "jit" else
              vmap_item(name, case, c, in_axes) if mode == "vmap" else grad_item(name, case, c))
        if it is not None:
            members[name] = (it.fn, it.rtol)
    return members


def float_argnums(c: Call) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(c.args)
                 if isinstance(a, np.ndarray) and is_float(a.dtype))


def scalar_loss(f: Callable[..., Any]) -> Callable[..., Any]:
    """``sum(out * w)`` over ``f``'s float outputs with fixed weights ``w`` (0.25, 0.5, 0.75,
    1 repeating): a non-constant cotangent that does not amplify rounding differences."""

    def loss(*args: Any) -> Any:
        total = 0.0
        for out in tree_leaves(f(*args)):
            if is_float(out.dtype):
                w = (fnp.arange(out.size, dtype=F32) % 4 + 1).reshape(out.shape) * 0.25
                total = total + fnp.sum(out.astype(F32) * w)
        return total

    return loss


def has_float_output(f: Callable[..., Any], c: Call) -> bool:
    avals = fborn.eval_shape(f, *c.args)
    return any(is_float(a.dtype) for a in tree_leaves(avals))


@st.composite
def batched(draw: Any, base: st.SearchStrategy[Call], size: int = 2
            ) -> tuple[Call, tuple[Any, ...]]:
    """A ``Call`` whose array arguments carry a batch axis (first, last or none: in_axes),
    the other batch members being the values reversed (a permutation, so indices stay
    valid)."""
    c = draw(base)
    args, in_axes = [], []
    for a in c.args:
        axis = draw(st.sampled_from([0, None, -1])) if isinstance(a, np.ndarray) else None
        if axis is None:
            args.append(a)
            in_axes.append(None)
            continue
        axis = 0 if axis == 0 else a.ndim
        other = np.flip(a.reshape(-1)).reshape(a.shape)
        args.append(np.stack([a, other, a][:size], axis=axis))
        in_axes.append(axis)
    if all(ax is None for ax in in_axes) and any(isinstance(a, np.ndarray) for a in c.args):
        k = next(i for i, a in enumerate(c.args) if isinstance(a, np.ndarray))
        args[k] = np.stack([c.args[k], np.flip(c.args[k].reshape(-1)).reshape(c.args[k].shape)])
        in_axes[k] = 0
    return Call(tuple(args), c.kw), tuple(in_axes)


def families(table: dict[str, Case]) -> dict[str, dict[str, Case]]:
    """The families of ``table``: family name -> its cases."""
    out: dict[str, dict[str, Case]] = {}
    for name, case in sorted(table.items()):
        if case.family:
            out.setdefault(case.family, {})[name] = case
    return out


def groups(table: dict[str, Case], size: int = 10) -> list[list[str]]:
    """The other cases of ``table`` in groups of ``size`` (by name), one program each."""
    names = sorted(n for n, c in table.items() if not c.family)
    return [names[k:k + size] for k in range(0, len(names), size)]


def group_id(names: Sequence[str]) -> str:
    return f"{names[0]}..{names[-1]}" if len(names) > 1 else names[0]


# --- fborn.lax ---------------------------------------------------------------------------------

# Not in the table: the collectives need a named axis (pmap or vmap's axis_name; the
# transforms test checks them under vmap), and these names are static helpers or types with
# no array computation (their uses are covered by gather/scatter/conv cases).
LAX_EXCLUDED = {
    "all_gather": "collective: needs an axis name", "axis_index": "collective",
    "pmax": "collective", "pmean": "collective", "pmin": "collective",
    "ppermute": "collective", "psum": "collective", "psum_scatter": "collective",
    "ConvDimensionNumbers": "a static type", "GatherDimensionNumbers": "a static type",
    "ScatterDimensionNumbers": "a static type", "GatherScatterMode": "a static enum",
    "conv_dimension_numbers": "static helper (shapes in, specs out)",
    "padtype_to_pads": "static helper (shapes in, pads out)",
}

_LAX_FLOAT_UNARY = ("exp", "exp2", "expm1", "log", "log1p", "tanh", "logistic", "sin", "cos",
                    "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                    "sqrt", "rsqrt", "cbrt", "erf", "erfc", "erf_inv", "digamma")


def _lax_unary_cases() -> dict[str, Case]:
    floats = unary(FLOATS, low=-100, high=100, specials=True)
    cases = family("lax.float_unary", floats, {n: getattr(lax, n) for n in _LAX_FLOAT_UNARY},
                   MATH)
    cases |= family("lax.float_exact_unary", floats, {
        "floor": lax.floor, "ceil": lax.ceil, "is_finite": lax.is_finite,
        "stop_gradient": lax.stop_gradient})
    cases |= family("lax.numeric_unary", unary((F32, I32, I8), specials=True),
                    {n: getattr(lax, n) for n in ("neg", "sign", "abs", "square")})
    # The eager lgamma raises on NaN and -inf: see test_eager_lgamma_of_nan_and_inf.
    cases["lgamma"] = Case(lax.lgamma, unary(FLOATS, low=-6, high=30), rtol=MATH)
    cases["bitwise_not"] = Case(lax.bitwise_not, unary((*INTS, BOOL)))
    cases["round"] = Case(lambda x, m: lax.round(x, m),
                          statics(unary(FLOATS, specials=True), m=st.sampled_from([0, 1]))
                          .map(without_round_tie))
    cases["integer_pow"] = Case(
        lambda x, y: lax.integer_pow(x, y),
        st.one_of(statics(unary(FLOATS, low=-3, high=3, specials=True),
                          y=st.sampled_from([2, 3, -1, -2, 0, 5])),
                  statics(unary((I32, U8), low=-5, high=5), y=st.sampled_from([2, 3, 0, 7]))),
        rtol=MATH)
    return cases


_ROUND_TIE = np.float32(0.49999997)


def without_round_tie(c: Call) -> Call:
    """``c`` with +-0.49999997 in its first argument replaced (see
    test_eager_round_half_away_is_inexact)."""
    x = c.args[0]
    if isinstance(x, np.ndarray) and x.dtype == F32 and np.any(np.abs(x) == _ROUND_TIE):
        x = np.where(np.abs(x) == _ROUND_TIE, np.float32(0.25), x)
    return Call((x, *c.args[1:]), c.kw)


@st.composite
def _int_division(draw: Any) -> Call:
    """Integer operands for div/rem, with zero divisors and INT_MIN / -1."""
    c = draw(binary((I32, I8, U8), low=-9, high=9))
    x, y = c.args
    if x.size and x.dtype == I32 and draw(st.booleans()):
        x = x.copy()
        x.reshape(-1)[0], y = -(2**31), y.copy()
        y.reshape(-1)[0] = -1
    return call(x, y)


def _shift_operands(dtypes: Sequence[Any], negative: bool = True) -> st.SearchStrategy[Call]:
    """Operands and shift amounts in ``[-2, bits + 2]`` (``[0, ...]`` unless ``negative``)."""

    @st.composite
    def build(draw: Any) -> Call:
        c = draw(binary(dtypes, low=-200, high=200))
        x, y = c.args
        bits = x.dtype.itemsize * 8
        low = -2 if y.dtype.kind == "i" and negative else 0
        return call(x, draw(arrays(y.shape, y.dtype, low, bits + 2)))

    return build()


def _lax_binary_cases() -> dict[str, Case]:
    cases = family("lax.binary", binary((F32, I32, U8), specials=True), {
        n: getattr(lax, n) for n in ("add", "sub", "mul", "max", "min", "eq", "ne", "lt", "le",
                                     "gt", "ge")})
    cases |= family("lax.float_binary", binary(FLOATS, low=-4, high=4, specials=True),
                    {"pow": lax.pow, "atan2": lax.atan2, "nextafter": lax.nextafter},
                    {"pow": MATH, "atan2": MATH})
    cases |= family("lax.bitwise", binary((*INTS, BOOL), low=-300, high=300),
                    {n: getattr(lax, n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor")})
    cases |= family("lax.shift", _shift_operands(INTS), {
        "shift_left": lax.shift_left, "shift_right_logical": lax.shift_right_logical})
    cases |= {
        "div": Case(lax.div, st.one_of(binary(FLOATS, specials=True), _int_division())),
        "rem": Case(lax.rem, st.one_of(binary(FLOATS, specials=True), _int_division())),
        # signed operands, amounts >= 0: see test_eager_shift_right_arithmetic_differs
        "shift_right_arithmetic": Case(lax.shift_right_arithmetic,
                                       _shift_operands((I32, I8), negative=False)),
    }
    return cases


@st.composite
def _conversion(draw: Any) -> Call:
    """A source array and a target dtype; floats going to integers stay finite (the cast of
    NaN or out-of-range floats is the primitive's clamp, checked separately)."""
    source = draw(st.sampled_from([F32, I32, BOOL, U8, I8, U32]))
    target = draw(st.sampled_from([F32, I32, BOOL, U8, I8, U32, BF16, F16]))
    x = draw(arrays(draw(shapes()), source, -300, 300, specials=source == F32))
    if target in (I32, U32):  # see test_eager_float_to_int32_overflows
        x = np.where(np.isinf(x), np.nan, x) if source == F32 else x
    return call(x, new_dtype=target)


@st.composite
def _bitcast(draw: Any) -> Call:
    source, target = draw(st.sampled_from([(F32, I32), (F32, U32), (I32, F32), (U8, I8),
                                           (I8, U8), (U32, F32)]))
    x = draw(arrays(draw(shapes()), source, -1000, 1000, specials=source == F32))
    return call(x, new_dtype=target)


@st.composite
def _select_n(draw: Any) -> Call:
    n = draw(st.integers(1, 3))
    c = draw(nary(n, ANY, specials=True))
    shape = np.shape(c.args[0])
    which_shape = draw(st.sampled_from([shape, ()]))
    if n <= 2 and draw(st.booleans()):
        which = draw(arrays(which_shape, BOOL))
    else:
        which = draw(arrays(which_shape, I32, 0, n - 1))
    return call(which, *c.args)


@st.composite
def _select(draw: Any) -> Call:
    c = draw(binary(ANY, specials=True))
    return call(draw(arrays(np.shape(c.args[0]), BOOL)), *c.args)


@st.composite
def _clamp(draw: Any) -> Call:
    c = draw(unary((F32, I32), specials=True))
    (x,) = c.args
    bounds = []
    for _ in range(2):
        shape = draw(st.sampled_from([x.shape, ()]))
        bounds.append(draw(arrays(shape, x.dtype, -4, 4, specials=True)))
    return call(bounds[0], x, bounds[1])


@st.composite
def _broadcast_in_dim(draw: Any) -> Call:
    out = draw(shapes(0, 4))
    dims = sorted(draw(st.sets(st.integers(0, len(out) - 1), max_size=len(out)))) if out else []
    in_shape = tuple(draw(st.sampled_from([out[d], 1])) for d in dims)
    x = draw(arrays(in_shape, draw(st.sampled_from(ANY))))
    return call(x, shape=out, broadcast_dimensions=tuple(dims))


def _factor_shape(draw: Any, size: int) -> tuple[int, ...]:
    """A shape with ``size`` elements (a permutation of a factorization, with unit axes)."""
    if size == 0:
        return draw(st.sampled_from([(0,), (2, 0), (0, 3, 1)]))
    factors, n, p = [], size, 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    groups = draw(st.permutations(factors + [1] * draw(st.integers(0, 1))))
    split = draw(st.integers(0, len(groups)))
    parts = [groups[:split], groups[split:]]
    return tuple(math.prod(g) for g in parts if g) or (1,) * draw(st.integers(0, 2))


@st.composite
def _reshape(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 3)), draw(st.sampled_from(ANY))))
    new = _factor_shape(draw, x.size)
    dims = tuple(draw(st.permutations(range(x.ndim)))) if draw(st.booleans()) else None
    return call(x, new_sizes=new, dimensions=dims)


@st.composite
def _permuted(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 4)), draw(st.sampled_from(ANY))))
    return call(x, permutation=tuple(draw(st.permutations(range(x.ndim)))))


@st.composite
def _squeezable(draw: Any) -> Call:
    shape = list(draw(shapes(0, 3)))
    for _ in range(draw(st.integers(1, 2))):
        shape.insert(draw(st.integers(0, len(shape))), 1)
    x = draw(arrays(tuple(shape), draw(st.sampled_from(ANY))))
    ones = [d for d, n in enumerate(shape) if n == 1]
    dims = draw(st.lists(st.sampled_from(ones), min_size=1, unique=True))
    return call(x, dimensions=tuple(d - len(shape) if draw(st.booleans()) else d for d in dims))


@st.composite
def _slice(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY))))
    starts, limits, strides = [], [], []
    for n in x.shape:
        lo = draw(st.integers(0, n))
        starts.append(lo)
        limits.append(draw(st.integers(lo, n)))
        strides.append(draw(st.integers(1, 3)))
    return call(x, start_indices=tuple(starts), limit_indices=tuple(limits),
                strides=tuple(strides) if draw(st.booleans()) else None)


@st.composite
def _slice_in_dim(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY))))
    axis = draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    return call(x, start_index=draw(st.sampled_from([None, 0, 1, -1, n])),
                limit_index=draw(st.sampled_from([None, n, -1, 2])),
                stride=draw(st.integers(1, 3)), axis=axis)


@st.composite
def _concatenate(draw: Any) -> Call:
    base = list(draw(shapes(1, 3)))
    dim = draw(st.integers(0, len(base) - 1))
    dtype = draw(st.sampled_from(ANY))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        shape[dim] = draw(st.sampled_from(SIDES))
        parts.append(draw(arrays(tuple(shape), dtype, specials=True)))
    return call(*parts, dimension=dim)


@st.composite
def _pad(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY)), specials=True))
    config = []
    for n in x.shape:
        interior = draw(st.integers(0, 2)) if n > 1 else 0
        full = n + max(n - 1, 0) * interior
        lo = draw(st.integers(-min(full, 2), 2))
        hi = draw(st.integers(-min(full + lo, 2), 2))
        config.append((lo, hi, interior))
    value = draw(arrays((), x.dtype))
    return call(x, value, padding_config=tuple(config))


@st.composite
def _rev(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 3)), draw(st.sampled_from(ANY))))
    dims = draw(st.lists(st.integers(0, max(x.ndim - 1, 0)), unique=True, max_size=x.ndim))
    return call(x, dimensions=tuple(dims))


@st.composite
def _iota(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(NUMERIC))))
    return call(x, dimension=draw(st.integers(0, x.ndim - 1)))


def _iota_fn(x: Any, dimension: int) -> Any:
    """``iota`` and ``broadcasted_iota`` alone and fused with an operand."""
    b = lax.broadcasted_iota(x.dtype, x.shape, dimension)
    return lax.iota(x.dtype, x.shape[dimension]), b, lax.add(b, x)


@st.composite
def _reduce_axes(draw: Any, dtypes: Sequence[Any], **kw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 3)), draw(st.sampled_from(dtypes)), **kw))
    axes = draw(st.lists(st.integers(0, max(x.ndim - 1, 0)), unique=True, max_size=x.ndim))
    return call(x, axes=tuple(axes))


@st.composite
def _arg_reduce(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3, min_side=1)), draw(st.sampled_from(NUMERIC)),
                    specials=True))
    return call(x, axis=draw(st.integers(0, x.ndim - 1)),
                index_dtype=draw(st.sampled_from([I32, U8])))


@st.composite
def _cumulative(draw: Any, dtypes: Sequence[Any] = (F32, I32), **kw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(dtypes)), specials=True, **kw))
    return call(x, axis=draw(st.integers(-x.ndim, x.ndim - 1)), reverse=draw(st.booleans()))


@st.composite
def _dot_general(draw: Any, dtypes: Sequence[Any] = (F32,)) -> Call:
    """Operands with batch, contracting and free axes in drawn positions."""
    nb, nc = draw(st.integers(0, 1)), draw(st.integers(0, 2))
    nfl, nfr = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sizes = st.sampled_from(SIDES)
    b = [draw(sizes) for _ in range(nb)]
    k = [draw(sizes) for _ in range(nc)]
    lhs_axes = [("b", i) for i in range(nb)] + [("c", i) for i in range(nc)] + \
        [("f", draw(sizes)) for _ in range(nfl)]
    rhs_axes = [("b", i) for i in range(nb)] + [("c", i) for i in range(nc)] + \
        [("f", draw(sizes)) for _ in range(nfr)]
    lhs_axes = draw(st.permutations(lhs_axes))
    rhs_axes = draw(st.permutations(rhs_axes))

    def side(axes: list) -> tuple:
        shape = tuple(b[i] if t == "b" else k[i] if t == "c" else i for t, i in axes)
        cdims = tuple(axes.index(("c", i)) for i in range(nc))
        bdims = tuple(axes.index(("b", i)) for i in range(nb))
        return shape, cdims, bdims

    (ls, lc, lb), (rs, rc, rb) = side(lhs_axes), side(rhs_axes)
    dtype = draw(st.sampled_from(dtypes))
    x = draw(arrays(ls, dtype, -4, 4))
    y = draw(arrays(rs, dtype, -4, 4))
    return call(x, y, dimension_numbers=((lc, rc), (lb, rb)))


@st.composite
def _dot(draw: Any) -> Call:
    m, k, n = (draw(st.sampled_from(SIDES)) for _ in range(3))
    lhs = draw(st.sampled_from([(k,), (m, k)]))
    rhs = draw(st.sampled_from([(k,), (k, n)]))
    return call(draw(arrays(lhs, F32)), draw(arrays(rhs, F32)))


@st.composite
def _conv_general(draw: Any) -> Call:
    """NCHW/OIHW (or NHWC/HWIO) operands with 1 or 2 spatial axes, strides, padding,
    dilations and feature groups."""
    nsp = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 1, 2]))
    n, cin, cout = draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), \
        groups * draw(st.integers(1, 2))
    spatial = [draw(st.integers(1, 5)) for _ in range(nsp)]
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    lhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    padding = draw(st.sampled_from(["SAME", "VALID", "explicit"]))
    if padding == "explicit":
        padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nsp))
    lhs = draw(arrays((n, cin, *spatial), F32, -3, 3))
    rhs = draw(arrays((cout, cin // groups, *window), F32, -3, 3))
    dn = None
    if nsp == 2 and draw(st.booleans()):
        dn = ("NHWC", "HWIO", "NHWC")
        lhs, rhs = np.moveaxis(lhs, 1, -1), np.transpose(rhs, (2, 3, 1, 0))
    return call(lhs, rhs, window_strides=strides, padding=padding, lhs_dilation=lhs_dil,
                rhs_dilation=rhs_dil, dimension_numbers=dn, feature_group_count=groups)


def _conv_valid(c: Call) -> bool:
    try:
        fborn.eval_shape(functools.partial(lax.conv_general_dilated, **c.kw), *c.args)
    except Exception:  # noqa: BLE001 - an empty output window: redraw
        return False
    return True


@st.composite
def _conv_simple(draw: Any) -> Call:
    """NCHW operands for ``lax.conv``: strides and SAME or VALID padding."""
    c = draw(_conv_general().filter(lambda c: c.kw["dimension_numbers"] is None
                                    and c.kw["feature_group_count"] == 1))
    lhs, rhs = c.args
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    if any(w > n for w, n in zip(rhs.shape[2:], lhs.shape[2:], strict=True)):
        padding = "SAME"  # VALID would leave no output window
    return call(lhs, rhs, window_strides=c.kw["window_strides"], padding=padding)


@st.composite
def _conv_general_padding(draw: Any) -> Call:
    c = draw(_conv_general().filter(lambda c: c.kw["dimension_numbers"] is None
                                    and c.kw["feature_group_count"] == 1
                                    and not isinstance(c.kw["padding"], str)
                                    and _conv_valid(c)))
    del c.kw["dimension_numbers"], c.kw["feature_group_count"]
    return c


@st.composite
def _conv_transpose(draw: Any) -> Call:
    nsp = draw(st.integers(1, 2))
    n, cin, cout = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    spatial = [draw(st.integers(1, 4)) for _ in range(nsp)]
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    lhs = draw(arrays((n, *spatial, cin), F32, -3, 3))
    rhs = draw(arrays((*window, cin, cout), F32, -3, 3))
    return call(lhs, rhs, strides=tuple(draw(st.integers(1, 2)) for _ in range(nsp)),
                padding=draw(st.sampled_from(["SAME", "VALID"])),
                transpose_kernel=draw(st.booleans()))


def _conv_transpose_fn(lhs: Any, rhs: Any, strides: tuple, padding: str,
                       transpose_kernel: bool) -> Any:
    if transpose_kernel:  # the kernel's I/O axes swap: give it the swapped layout
        rhs = fnp.swapaxes(rhs, -1, -2)
    return lax.conv_transpose(lhs, rhs, strides, padding, transpose_kernel=transpose_kernel)


@st.composite
def _sort(draw: Any) -> Call:
    n = draw(st.integers(1, 3))
    shape = draw(shapes(1, 3))
    ops = [draw(arrays(shape, draw(st.sampled_from((F32, I32, BOOL))), -3, 3, specials=True))
           for _ in range(n)]
    return call(*ops, dimension=draw(st.integers(-1, len(shape) - 1)),
                is_stable=draw(st.booleans()), num_keys=draw(st.integers(1, n)))


def _sort_fn(*ops: Any, dimension: int, is_stable: bool, num_keys: int) -> Any:
    return lax.sort(ops if len(ops) > 1 else ops[0], dimension=dimension, is_stable=is_stable,
                    num_keys=num_keys)


@st.composite
def _sort_key_val(draw: Any) -> Call:
    shape = draw(shapes(1, 3))
    keys = draw(arrays(shape, draw(st.sampled_from((F32, I32))), -3, 3, specials=True))
    values = draw(arrays(shape, draw(st.sampled_from(ANY))))
    return call(keys, values, dimension=draw(st.integers(-1, len(shape) - 1)))


@st.composite
def _top_k(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from((F32, I32))), -3, 3,
                    specials=True))
    return call(x, k=draw(st.integers(0, x.shape[-1])))


def _gather_modes() -> st.SearchStrategy:
    return st.sampled_from(["clip", "fill", "promise_in_bounds"])


@st.composite
def _gather(draw: Any) -> Call:
    """numpy-style take along an axis (collapsed, index vector of one), or a window gather
    of 2-D points (not collapsed)."""
    x = draw(arrays(draw(shapes(2, 3, min_side=1)), draw(st.sampled_from(ANY))))
    mode = draw(_gather_modes())
    slack = 0 if mode == "promise_in_bounds" else 2
    if draw(st.booleans()):
        idx = draw(index_arrays((*draw(shapes(0, 2)), 1), x.shape[0] - 1, slack))
        idx = np.abs(idx) if mode == "promise_in_bounds" else idx
        dn = lax.GatherDimensionNumbers(offset_dims=tuple(range(idx.ndim - 1, idx.ndim +
                                                                x.ndim - 2)),
                                        collapsed_slice_dims=(0,), start_index_map=(0,))
        sizes = (1, *x.shape[1:])
    else:
        sizes = tuple(draw(st.integers(1, n)) for n in x.shape[:2]) + x.shape[2:]
        upper = min(x.shape[0] - sizes[0], x.shape[1] - sizes[1])
        idx = draw(arrays((draw(st.integers(0, 3)), 2), I32, -slack,
                          upper + slack))
        dn = lax.GatherDimensionNumbers(offset_dims=tuple(range(1, x.ndim + 1)),
                                        collapsed_slice_dims=(), start_index_map=(0, 1))
    if mode == "promise_in_bounds":
        idx = np.clip(idx, 0, None)
    return call(x, idx, dimension_numbers=dn, slice_sizes=sizes, mode=mode)


@st.composite
def _scatter(draw: Any) -> Call:
    """Row updates ``x.at[idx].op(u)`` along axis 0 with repeated, negative and out-of-range
    indices."""
    x = draw(arrays(draw(shapes(1, 3, min_side=1)), draw(st.sampled_from((F32, I32)))))
    n = draw(st.integers(0, 4))
    idx = draw(index_arrays((n, 1), x.shape[0]))
    u = draw(arrays((n, *x.shape[1:]), x.dtype, -4, 4))
    dn = lax.ScatterDimensionNumbers(update_window_dims=tuple(range(1, x.ndim)),
                                     inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    return call(x, idx, u, dimension_numbers=dn,
                mode=draw(st.sampled_from(["clip", "drop"])))


@st.composite
def _dynamic_slice(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY))))
    starts = [draw(arrays((), I32, -n - 2, n + 2)) for n in x.shape]
    sizes = tuple(draw(st.integers(0, n)) for n in x.shape)
    return call(x, *starts, slice_sizes=sizes)


@st.composite
def _dynamic_update_slice(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY))))
    u = draw(arrays(tuple(draw(st.integers(0, n)) for n in x.shape), x.dtype))
    starts = [draw(arrays((), I32, -n - 2, n + 2)) for n in x.shape]
    return call(x, u, *starts)


@st.composite
def _in_dim(draw: Any, update: bool, index: bool) -> Call:
    x = draw(arrays(draw(shapes(1, 3, min_side=1)), draw(st.sampled_from(ANY))))
    axis = draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    start = draw(arrays((), I32, -n - 2, n + 2))
    if not update:
        kw: dict[str, Any] = {"axis": axis}
        if index:
            kw["keepdims"] = draw(st.booleans())
        else:
            kw["slice_size"] = draw(st.integers(0, n))
        return call(x, start, **kw)
    shape = list(x.shape)
    shape[axis] = 1 if index else draw(st.integers(0, n))
    u = draw(arrays(tuple(shape), x.dtype))
    if index and draw(st.booleans()):
        u = u.reshape(tuple(s for k, s in enumerate(shape) if k != axis))
    return call(x, u, start, axis=axis)


@st.composite
def _index_in_dim(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3, min_side=1)), draw(st.sampled_from(ANY))))
    axis = draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    return call(x, index=draw(st.integers(-n, n - 1)), axis=axis, keepdims=draw(st.booleans()))


# --- control flow: functions of arrays whose bodies mix elementwise, reductions, indexing ----

def _cond_fn(p: Any, x: Any, y: Any) -> Any:
    return lax.cond(p > 0, lambda a, b: (a * 2 + b, fnp.sum(b)),
                    lambda a, b: (a - b, fnp.max(a, initial=-1.0)), x, y)


def _switch_fn(i: Any, x: Any) -> Any:
    branches = [lambda a: fnp.sin(a), lambda a: a[::-1] * 2, lambda a: fnp.cumsum(a)]
    return lax.switch(i, branches, x)


def _while_fn(x: Any, limit: Any) -> Any:
    def cond(c: Any) -> Any:
        return (c[0] < limit) & (c[0] < 20)

    def body(c: Any) -> Any:
        i, v = c
        return i + 1, fnp.roll(v, 1) * 0.5 + v

    return lax.while_loop(cond, body, (fnp.int32(0), x))


def _fori_fn(x: Any, n: Any) -> Any:
    """A loop with a traced trip count and one with static bounds (a scan: differentiable)."""
    dynamic = lax.fori_loop(0, n, lambda i, v: v * 0.9 + fnp.float32(i), lax.stop_gradient(x))
    return dynamic, lax.fori_loop(1, 4, lambda i, v: fnp.tanh(v) * v + i, x)


def _scan_fn(x: Any, xs: Any, reverse: bool) -> Any:
    def step(c: Any, row: Any) -> Any:
        c = c * 0.5 + row
        return c, (fnp.sum(c), c * 2)

    return lax.scan(step, x, xs, reverse=reverse)


def _map_fn(xs: Any) -> Any:
    return lax.map(lambda r: (fnp.sort(r), fnp.max(r, initial=-9.0)), xs)


@st.composite
def _cond_args(draw: Any) -> Call:
    shape = draw(shapes(0, 2))
    return call(draw(arrays((), I32, -1, 1)), draw(arrays(shape, F32)), draw(arrays(shape, F32)))


@st.composite
def _switch_args(draw: Any) -> Call:
    return call(draw(arrays((), I32, -1, 4)), draw(arrays(draw(shapes(1, 1)), F32)))


@st.composite
def _while_args(draw: Any) -> Call:
    return call(draw(arrays(draw(shapes(1, 2)), F32)), draw(arrays((), I32, -1, 6)))


@st.composite
def _fori_args(draw: Any) -> Call:
    return call(draw(arrays(draw(shapes(0, 2)), F32)), draw(arrays((), I32, -1, 5)))


@st.composite
def _scan_args(draw: Any) -> Call:
    shape = draw(shapes(0, 2))
    xs = draw(arrays((draw(st.integers(0, 4)), *shape), F32))
    return call(draw(arrays(shape, F32)), xs, reverse=draw(st.booleans()))


def _lax_structural_cases() -> dict[str, Case]:
    return {
        "convert_element_type": Case(lambda x, new_dtype: lax.convert_element_type(x, new_dtype),
                                     _conversion()),
        "bitcast_convert_type": Case(lambda x, new_dtype: lax.bitcast_convert_type(x, new_dtype),
                                     _bitcast(), grad=False),
        "select_n": Case(lax.select_n, _select_n()),
        "select": Case(lax.select, _select()),
        "clamp": Case(lax.clamp, _clamp()),
        "broadcast_in_dim": Case(lax.broadcast_in_dim, _broadcast_in_dim()),
        "broadcast": Case(lax.broadcast, statics(unary(ANY), sizes=shapes(0, 2))),
        "reshape": Case(lax.reshape, _reshape()),
        "transpose": Case(lax.transpose, _permuted()),
        "squeeze": Case(lax.squeeze, _squeezable()),
        "expand_dims": Case(lax.expand_dims, statics(unary(ANY, shape=shapes(0, 2)),
                                                     dimensions=st.sampled_from(
                                                         [(0,), (-1,), (0, 1)]))),
        "slice": Case(lax.slice, _slice()),
        "slice_in_dim": Case(lax.slice_in_dim, _slice_in_dim()),
        "concatenate": Case(lambda *xs, dimension: lax.concatenate(xs, dimension),
                            _concatenate()),
        "pad": Case(lax.pad, _pad()),
        "rev": Case(lax.rev, _rev()),
        "iota": Case(_iota_fn, _iota()),
        "broadcasted_iota": Case(_iota_fn, _iota()),
        "reduce_sum": Case(lax.reduce_sum, _reduce_axes((F32, I32)), rtol=SUMS),
        "reduce_prod": Case(lax.reduce_prod, _reduce_axes((F32, I32), low=-2, high=2),
                            rtol=SUMS),
        "reduce_max": Case(lax.reduce_max, _reduce_axes(ANY, specials=True)),
        "reduce_min": Case(lax.reduce_min, _reduce_axes(ANY, specials=True)),
        "reduce_and": Case(lax.reduce_and, _reduce_axes((BOOL,))),
        "reduce_or": Case(lax.reduce_or, _reduce_axes((BOOL,))),
        "argmax": Case(lax.argmax, _arg_reduce()),
        "argmin": Case(lax.argmin, _arg_reduce()),
        "cumsum": Case(lax.cumsum, _cumulative(), rtol=SUMS),
        "cumprod": Case(lax.cumprod, _cumulative(low=-2, high=2), rtol=SUMS),
        "cummax": Case(lax.cummax, _cumulative()),
        "cummin": Case(lax.cummin, _cumulative()),
        "dot_general": Case(lax.dot_general, _dot_general(), rtol=SUMS),
        "dot": Case(lax.dot, _dot(), rtol=SUMS),
        "conv_general_dilated": Case(lax.conv_general_dilated,
                                     _conv_general().filter(_conv_valid), rtol=SUMS),
        "conv": Case(lax.conv, _conv_simple(), rtol=SUMS),
        "conv_with_general_padding": Case(lax.conv_with_general_padding,
                                          _conv_general_padding(), rtol=SUMS),
        "conv_transpose": Case(_conv_transpose_fn, _conv_transpose(), rtol=SUMS),
        "sort": Case(_sort_fn, _sort()),
        "sort_key_val": Case(lax.sort_key_val, _sort_key_val()),
        "top_k": Case(lax.top_k, _top_k()),
        "gather": Case(lax.gather, _gather()),
        "dynamic_slice": Case(lambda x, *s, slice_sizes: lax.dynamic_slice(x, s, slice_sizes),
                              _dynamic_slice()),
        "dynamic_update_slice": Case(lambda x, u, *s: lax.dynamic_update_slice(x, u, s),
                                     _dynamic_update_slice()),
        "dynamic_slice_in_dim": Case(lax.dynamic_slice_in_dim, _in_dim(False, False)),
        "dynamic_index_in_dim": Case(lax.dynamic_index_in_dim, _in_dim(False, True)),
        "dynamic_update_slice_in_dim": Case(lax.dynamic_update_slice_in_dim,
                                            _in_dim(True, False)),
        "dynamic_update_index_in_dim": Case(lax.dynamic_update_index_in_dim,
                                            _in_dim(True, True)),
        "index_in_dim": Case(lax.index_in_dim, _index_in_dim()),
        "cond": Case(_cond_fn, _cond_args(), rtol=SUMS),
        "switch": Case(_switch_fn, _switch_args(), rtol=MATH),
        "while_loop": Case(_while_fn, _while_args(), rtol=SUMS, grad=False),
        "fori_loop": Case(_fori_fn, _fori_args(), rtol=SUMS),
        "scan": Case(_scan_fn, _scan_args(), rtol=SUMS),
        "map": Case(_map_fn, unary(FLOATS, shape=shapes(2, 2))),
    }


def _scatter_cases() -> dict[str, Case]:
    cases = {name: Case(getattr(lax, name), _scatter()) for name in (
        "scatter", "scatter_add", "scatter_min", "scatter_max")}
    # scatter_mul's gradient needs unique_indices=True (as in JAX)
    cases["scatter_mul"] = Case(lax.scatter_mul, _scatter(), rtol=SUMS, grad=False)
    return cases


LAX_CASES: dict[str, Case] = {**_lax_unary_cases(), **_lax_binary_cases(),
                              **_lax_structural_cases(), **_scatter_cases()}


# --- fborn.numpy -------------------------------------------------------------------------------

# Names of fborn.numpy's modules' __all__ with no array computation to compile: dtypes, dtype
# queries and constants (the scalar types, which convert arrays, are in the table).
NUMPY_EXCLUDED = {
    name: "a dtype query, abstract type or constant (static)" for name in (
        "can_cast", "dtype", "e", "euler_gamma", "finfo", "floating", "generic", "iinfo",
        "inexact", "inf", "integer", "isdtype", "issubdtype", "nan", "newaxis", "number", "pi",
        "promote_types", "result_type", "signedinteger", "unsignedinteger")
} | {
    "broadcast_shapes": "shapes in, a shape out (static)",
    "ndim": "static (a Python int)", "shape": "static (a tuple)", "size": "static (a Python int)",
}

_NP_FLOAT_UNARY = (
    "acos", "arccos", "asin", "arcsin", "atanh", "arctanh", "acosh", "arccosh", "asinh",
    "arcsinh", "atan", "arctan", "cbrt", "cos", "cosh", "sin", "sinh", "tan", "tanh", "sinc",
    "exp", "exp2", "expm1", "log", "log10", "log2", "log1p", "sqrt", "deg2rad", "radians",
    "degrees", "rad2deg", "reciprocal")
_NP_ANY_UNARY = ("ceil", "floor", "trunc", "fix", "rint", "isfinite", "isinf", "isnan",
                 "isneginf", "isposinf", "signbit", "positive", "real", "conj", "conjugate",
                 "imag", "logical_not")


def _np_unary_cases() -> dict[str, Case]:
    any_values = unary(ANY, low=-100, high=100, specials=True)
    cases = family("numpy.float_unary", any_values,
                   {n: getattr(fnp, n) for n in _NP_FLOAT_UNARY}, MATH)
    cases |= family("numpy.exact_unary", any_values, {n: getattr(fnp, n) for n in _NP_ANY_UNARY})
    cases |= family("numpy.numeric_unary", unary((*NUMERIC, I8), specials=True), {
        n: getattr(fnp, n) for n in ("abs", "absolute", "negative", "sign", "square")})
    cases |= family("numpy.bitwise_unary", unary((*INTS, BOOL)), {
        n: getattr(fnp, n) for n in ("bitwise_invert", "bitwise_not", "invert")})
    return cases


def _integer_exponent(c: Call) -> Call:
    """``c`` with a Python float exponent made an int (integer_pow)."""
    x, y = c.args
    return Call((x, int(y)), c.kw) if isinstance(y, float) else c


@st.composite
def _np_shift(draw: Any) -> Call:
    c = draw(np_binary((I32, I8, U8), low=-100, high=100))
    x, y = c.args
    if isinstance(y, np.ndarray):  # amounts >= 0: see test_eager_shift_right_arithmetic_differs
        y = draw(arrays(y.shape, y.dtype, 0, 34))
    elif y < 0:
        y = -y
    return call(x, y)


@st.composite
def _ldexp(draw: Any) -> Call:
    c = draw(np_binary((F32,), specials=True))
    x = c.args[0]
    shape = np.shape(c.args[1])
    return call(x, draw(arrays(shape, I32, -140, 140)))


def _np_binary_cases() -> dict[str, Case]:
    cases = family("numpy.binary", np_binary(ANY, specials=True), {n: getattr(fnp, n) for n in (
        "add", "multiply", "maximum", "minimum", "fmax", "fmin", "equal", "not_equal",
        "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
        "logical_xor", "copysign", "divide", "true_divide", "hypot", "arctan2", "atan2",
        "logaddexp", "logaddexp2")}, {n: MATH for n in (
            "divide", "true_divide", "hypot", "arctan2", "atan2", "logaddexp", "logaddexp2")})
    cases |= family("numpy.numeric_binary", np_binary(NUMERIC, specials=True), {
        n: getattr(fnp, n) for n in ("subtract", "floor_divide", "mod", "remainder", "fmod")},
        MATH)
    # float operands (integer ones unroll a 32-step loop: slow to compile), integer scalars
    cases |= family("numpy.power", np_binary((F32,), low=-3, high=3, specials=True)
                    .map(_integer_exponent),
                    {n: getattr(fnp, n) for n in ("power", "pow", "float_power")}, MATH)
    cases |= family("numpy.bitwise", np_binary((*INTS, BOOL), specials=True), {
        n: getattr(fnp, n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor")})
    cases |= family("numpy.shift", _np_shift(), {n: getattr(fnp, n) for n in (
        "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift")})
    cases["divmod"] = Case(fnp.divmod, np_binary(NUMERIC, specials=True), rtol=MATH)
    cases["nextafter"] = Case(fnp.nextafter, np_binary((F32,), specials=True))
    cases["heaviside"] = Case(fnp.heaviside, np_binary((F32, I32), specials=True))
    cases["ldexp"] = Case(fnp.ldexp, _ldexp())
    return cases


@st.composite
def _clip(draw: Any) -> Call:
    c = draw(unary((F32, I32), specials=True))
    (x,) = c.args
    bounds: list[Any] = []
    for _ in range(2):
        kind = draw(st.sampled_from(["none", "scalar", "array"]))
        if kind == "none":
            bounds.append(None)
        elif kind == "scalar":
            bounds.append(float(draw(st.integers(-4, 4))))
        else:
            bounds.append(draw(arrays(draw(broadcastable(x.shape)), x.dtype, -4, 4)))
    if all(b is None for b in bounds):
        bounds[0] = 0.0
    return call(x, *bounds)


def _clip_fn(x: Any, lo: Any = None, hi: Any = None) -> Any:
    return fnp.clip(x, lo, hi)


@st.composite
def _nan_to_num(draw: Any) -> Call:
    c = draw(unary((F32, I32), specials=True))
    return call(*c.args, nan=draw(st.sampled_from([0.0, -1.0])),
                posinf=draw(st.sampled_from([None, 9.0])),
                neginf=draw(st.sampled_from([None, -9.0])))


@st.composite
def _np_select(draw: Any) -> Call:
    shape = draw(shapes())
    n = draw(st.integers(1, 3))
    conds = [draw(arrays(draw(broadcastable(shape)), BOOL)) for _ in range(n)]
    dtype = draw(st.sampled_from((F32, I32)))
    choices = [draw(arrays(draw(broadcastable(shape)), dtype)) for _ in range(n)]
    return call(*conds, *choices, default=draw(st.sampled_from([0, -1])))


def _np_select_fn(*arrays: Any, default: Any) -> Any:
    n = len(arrays) // 2
    return fnp.select(list(arrays[:n]), list(arrays[n:]), default)


@st.composite
def _where(draw: Any) -> Call:
    shape = draw(shapes())
    cond = draw(arrays(draw(broadcastable(shape)), draw(st.sampled_from((BOOL, I32))), -1, 1))
    x = draw(arrays(draw(broadcastable(shape)), draw(st.sampled_from(ANY))))
    y = draw(arrays(draw(broadcastable(shape)), draw(st.sampled_from(ANY))))
    return call(cond, x, y)


def _where_fn(cond: Any, x: Any, y: Any) -> Any:
    return fnp.where(cond, x, y)


@st.composite
def _round_args(draw: Any) -> Call:
    """Floats with any ``decimals``; integers with ``decimals >= 0`` (fborn does not implement
    negative decimals for integers)."""
    x = draw(arrays(draw(shapes()), draw(st.sampled_from((F32, I32))), -300, 300,
                    specials=True))
    decimals = [0, 1, 2] + ([-1] if x.dtype == F32 else [])
    return without_round_tie(call(x, decimals=draw(st.sampled_from(decimals))))


def _np_misc_ufunc_cases() -> dict[str, Case]:
    close = np_binary((F32, I32), specials=True, equal_nan=st.booleans())
    return {
        "isclose": Case(lambda a, b, equal_nan: fnp.isclose(a, b, 1e-3, 1e-2, equal_nan),
                        close),
        "allclose": Case(lambda a, b, equal_nan: fnp.allclose(a, b, 1e-3, 1e-2, equal_nan),
                         close),
        "around": Case(fnp.around, _round_args(), rtol=MATH),
        "round": Case(fnp.round, _round_args(), rtol=MATH),
        "array_equal": Case(lambda a, b, equal_nan: fnp.array_equal(a, b, equal_nan),
                            np_binary(ANY, low=-1, high=1, specials=True,
                                      equal_nan=st.booleans())),
        "array_equiv": Case(fnp.array_equiv, np_binary(ANY, low=-1, high=1)),
        "clip": Case(_clip_fn, _clip()),
        "nan_to_num": Case(fnp.nan_to_num, _nan_to_num()),
        "select": Case(_np_select_fn, _np_select()),
        "where": Case(_where_fn, _where()),
    }


# --- numpy reductions --------------------------------------------------------------------------

@st.composite
def _reduction(draw: Any, dtypes: Sequence[Any] = (F32, I32, BOOL), where: bool = True,
               initial: bool = False, keepdims: bool = True, low: float = -8,
               high: float = 8, specials: bool = True, identity: bool = True,
               **extra: st.SearchStrategy) -> Call:
    """An array, axes, keepdims, a ``where`` mask and ``initial``; without an ``identity``
    (max, min) ``initial`` comes with every mask and zero-size input."""
    c = draw(with_axis(unary(dtypes, low=low, high=high, specials=specials), multi=True))
    x = c.args[0]
    if keepdims:
        c.kw["keepdims"] = draw(st.booleans())
    if where and draw(st.booleans()):
        c.args = (x, draw(arrays(draw(broadcastable(x.shape)), BOOL)))
    needs_initial = not identity and (len(c.args) > 1 or x.size == 0)
    if initial and (needs_initial or draw(st.booleans())):
        c.kw["initial"] = draw(st.sampled_from([-1, 2]))
    c.kw.update({k: draw(s) for k, s in extra.items()})
    return c


def _reducer(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(x, where=w, **kw)`` called as ``(x, [w], **kw)``."""

    def reduce(x: Any, where: Any = None, **kw: Any) -> Any:
        return fn(x, where=where, **kw) if where is not None else fn(x, **kw)

    return reduce


def _np_reduction_cases() -> dict[str, Case]:
    cases = {}
    for name in ("sum", "prod", "mean", "nansum", "nanprod", "nanmean"):
        low, high = (-2, 2) if "prod" in name else (-8, 8)
        cases[name] = Case(_reducer(getattr(fnp, name)),
                           _reduction(initial="mean" not in name, low=low, high=high),
                           rtol=SUMS)
    for name in ("var", "std", "nanvar", "nanstd"):
        cases[name] = Case(_reducer(getattr(fnp, name)),
                           _reduction(ddof=st.sampled_from([0, 1])), rtol=1e-4)
    for name in ("max", "min", "amax", "amin", "nanmax", "nanmin"):
        cases[name] = Case(_reducer(getattr(fnp, name)), _reduction(initial=True,
                                                                     identity=False))
    for name in ("all", "any"):
        cases[name] = Case(_reducer(getattr(fnp, name)), _reduction())
    cases["count_nonzero"] = Case(fnp.count_nonzero, _reduction(where=False))
    cases["ptp"] = Case(fnp.ptp, statics(with_axis(unary((F32, I32), shape=shapes(1, 3, 1)),
                                                   multi=True), keepdims=st.booleans()))
    for name in ("argmax", "argmin"):
        cases[name] = Case(getattr(fnp, name),
                           statics(with_axis(unary((F32, I32, BOOL), shape=shapes(1, 3, 1),
                                                   specials=True)),
                                   keepdims=st.sampled_from([None, True])))
    for name in ("cumsum", "cumprod", "nancumsum", "nancumprod"):
        low = -2 if "prod" in name else -8
        cases[name] = Case(getattr(fnp, name),
                           with_axis(unary((F32, I32, BOOL), low=low, high=-low,
                                           specials=True)), rtol=SUMS)
    for name in ("cumulative_sum", "cumulative_prod"):
        cases[name] = Case(getattr(fnp, name), statics(
            with_axis(unary((F32, I32, BOOL), low=-2, high=2, specials=True, shape=shapes(1, 3)))
            .filter(lambda c: c.kw["axis"] is not None or np.ndim(c.args[0]) == 1),
            include_initial=st.booleans()), rtol=SUMS)
    cases["average"] = Case(_average, _average_args(), rtol=1e-5)
    return cases


@st.composite
def _average_args(draw: Any) -> Call:
    c = draw(with_axis(unary((F32, I32), shape=shapes(1, 3, 1)), none=True))
    x, axis = c.args[0], c.kw["axis"]
    if draw(st.booleans()):
        return call(x, axis=axis, returned=draw(st.booleans()))
    wshape = x.shape if axis is None else (x.shape[axis],)
    weights = draw(arrays(wshape, F32, 0.5, 4))
    return call(x, weights, axis=axis, returned=draw(st.booleans()))


def _average(x: Any, weights: Any = None, **kw: Any) -> Any:
    return fnp.average(x, weights=weights, **kw)


# --- numpy manipulation ------------------------------------------------------------------------

@st.composite
def _splits(draw: Any, fixed: Callable[[int], int] | None = None, min_dims: int = 1,
            divisible: bool = False) -> Call:
    """An array and sections (a count dividing the axis unless ``divisible`` is False, or
    sorted split points); the axis is drawn, or ``fixed(ndim)`` (no ``axis`` argument)."""
    x = draw(arrays(draw(shapes(min_dims, 3)), draw(st.sampled_from(ANY))))
    axis = fixed(x.ndim) if fixed else draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    counts = [d for d in range(1, 4) if not divisible or n % d == 0]
    sections: Any = draw(st.sampled_from(counts)) if draw(st.booleans()) \
        else tuple(sorted(draw(st.lists(st.integers(0, n), max_size=3))))
    kw: dict[str, Any] = {"indices_or_sections": sections}
    if not fixed:
        kw["axis"] = axis
    return call(x, **kw)


@st.composite
def _arrays_along(draw: Any, same_shape: bool, min_dims: int = 1, max_dims: int = 3) -> Call:
    base = list(draw(shapes(min_dims, max_dims)))
    dtypes = draw(st.sampled_from([(F32,), (I32,), (F32, I32), (BOOL, I32)]))
    out = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if not same_shape and shape:
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.sampled_from(SIDES))
        out.append(draw(arrays(tuple(shape), draw(st.sampled_from(dtypes)))))
    return call(*out)


def _listed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(list_of_arrays, **kw)`` called with the arrays as positional arguments."""
    return lambda *xs, **kw: fn(list(xs), **kw)


@st.composite
def _concat_args(draw: Any) -> Call:
    base = list(draw(shapes(1, 3)))
    axis = draw(st.integers(-len(base), len(base)))
    axis = None if axis == len(base) else axis
    out = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if axis is not None:
            shape[axis] = draw(st.sampled_from(SIDES))
        elif draw(st.booleans()):
            shape = shape[::-1]
        out.append(draw(arrays(tuple(shape), draw(st.sampled_from((F32, I32))))))
    return call(*out, axis=axis)


@st.composite
def _stack_args(draw: Any) -> Call:
    c = draw(_arrays_along(True, 0, 2))
    return call(*c.args, axis=draw(st.integers(-np.ndim(c.args[0]) - 1, np.ndim(c.args[0]))))


@st.composite
def _np_pad(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 2, min_side=1)), draw(st.sampled_from((F32, I32)))))
    mode = draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
    width = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in x.shape)
    kw: dict[str, Any] = {"pad_width": width, "mode": mode}
    if mode == "constant":
        kw["constant_values"] = draw(st.sampled_from([0, 7]))
    return call(x, **kw)


@st.composite
def _repeat_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 2)), draw(st.sampled_from(ANY))))
    axis = draw(st.sampled_from([None, *range(x.ndim)]))
    if draw(st.booleans()):
        return call(x, repeats=draw(st.integers(0, 3)), axis=axis)
    n = x.size if axis is None else x.shape[axis]
    reps = tuple(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    return call(x, repeats=reps, axis=axis)  # fborn needs static repeat counts


@st.composite
def _reshape_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 3)), draw(st.sampled_from(ANY))))
    new = list(_factor_shape(draw, x.size))
    if new and x.size and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return call(x, shape=tuple(new))


@st.composite
def _moveaxis_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 4)), draw(st.sampled_from(ANY))))
    k = draw(st.integers(1, x.ndim))
    src = draw(st.permutations(range(x.ndim)))[:k]
    dst = draw(st.permutations(range(x.ndim)))[:k]
    return call(x, source=tuple(src), destination=tuple(dst))


def _axes_of(draw_ndim: int) -> st.SearchStrategy:
    return st.integers(-draw_ndim, draw_ndim - 1)


@st.composite
def _axis_x(draw: Any, fn_kw: Callable[[Any, np.ndarray], dict[str, Any]],
            min_dims: int = 1, max_dims: int = 3, dtypes: Sequence[Any] = ANY,
            min_side: int = 0) -> Call:
    """An array and static arguments that depend on its shape (``fn_kw(draw, x)``)."""
    x = draw(arrays(draw(shapes(min_dims, max_dims, min_side)), draw(st.sampled_from(dtypes))))
    return call(x, **fn_kw(draw, x))


def _np_manipulation_cases() -> dict[str, Case]:
    atleast = _arrays_along(False, 0, 3)
    return {
        "array_split": Case(fnp.array_split, _splits()),
        "split": Case(fnp.split, _splits(divisible=True)),
        "hsplit": Case(fnp.hsplit, _splits(lambda ndim: 0 if ndim == 1 else 1,
                                           divisible=True)),
        "vsplit": Case(fnp.vsplit, _splits(lambda ndim: 0, 2, divisible=True)),
        "dsplit": Case(fnp.dsplit, _splits(lambda ndim: 2, 3, divisible=True)),
        "astype": Case(lambda x, dtype: fnp.astype(x, dtype),
                       statics(unary(ANY, low=-100, high=100),
                               dtype=st.sampled_from([F32, I32, BOOL, U8, BF16]))),
        "atleast_1d": Case(fnp.atleast_1d, atleast),
        "atleast_2d": Case(fnp.atleast_2d, atleast),
        "atleast_3d": Case(fnp.atleast_3d, atleast),
        "broadcast_arrays": Case(fnp.broadcast_arrays, nary(3, ANY, broadcast=True,
                                                            same_dtype=False)),
        "broadcast_to": Case(fnp.broadcast_to, _axis_x(
            lambda d, x: {"shape": (*d(shapes(0, 1)), *(d(st.sampled_from([n, 1, 3]))
                                                          if n == 1 else n for n in x.shape))},
            0)),
        "column_stack": Case(_listed(fnp.column_stack),
                             _arrays_along(False, 1, 2).filter(_column_stackable)),
        "concat": Case(lambda *xs, axis: fnp.concat(xs, axis=axis), _concat_args()),
        "concatenate": Case(lambda *xs, axis: fnp.concatenate(xs, axis), _concat_args()),
        "copy": Case(fnp.copy, unary(ANY)),
        "dstack": Case(_listed(fnp.dstack), _arrays_along(True, 0, 3)),
        "hstack": Case(_listed(fnp.hstack), _arrays_along(True, 0, 3)),
        "vstack": Case(_listed(fnp.vstack), _arrays_along(True, 0, 3)),
        "stack": Case(lambda *xs, axis: fnp.stack(xs, axis), _stack_args()),
        "unstack": Case(fnp.unstack, _axis_x(lambda d, x: {"axis": d(_axes_of(x.ndim))})),
        "expand_dims": Case(fnp.expand_dims, _axis_x(
            lambda d, x: {"axis": d(st.sampled_from([0, -1, (0, 1), (-1, 0)]))}, 0)),
        "flip": Case(fnp.flip, _axis_x(
            lambda d, x: {"axis": d(st.sampled_from([None, 0, -1, tuple(range(x.ndim))]))},
            0).filter(lambda c: np.ndim(c.args[0]) or c.kw["axis"] in (None, ()))),
        "fliplr": Case(fnp.fliplr, unary(ANY, shape=shapes(2, 3))),
        "flipud": Case(fnp.flipud, unary(ANY, shape=shapes(1, 3))),
        "moveaxis": Case(fnp.moveaxis, _moveaxis_args()),
        "pad": Case(fnp.pad, _np_pad(), rtol=1e-5),
        "permute_dims": Case(lambda x, permutation: fnp.permute_dims(x, permutation),
                             _permuted()),
        "transpose": Case(lambda x, permutation: fnp.transpose(x, permutation), _permuted()),
        "swapaxes": Case(fnp.swapaxes, _axis_x(lambda d, x: {"axis1": d(_axes_of(x.ndim)),
                                                             "axis2": d(_axes_of(x.ndim))})),
        "ravel": Case(fnp.ravel, unary(ANY)),
        "repeat": Case(fnp.repeat, _repeat_args()),
        "reshape": Case(fnp.reshape, _reshape_args()),
        "resize": Case(fnp.resize, statics(unary(ANY), new_shape=shapes(0, 2))),
        "roll": Case(fnp.roll, _axis_x(lambda d, x: d(st.sampled_from([
            {"shift": 2, "axis": None}, {"shift": -1, "axis": 0},
            {"shift": (1, -3), "axis": (0, -1)}, {"shift": 7, "axis": -1}])))),
        "rot90": Case(fnp.rot90, _axis_x(lambda d, x: {"k": d(st.integers(-1, 4)),
                                                       "axes": d(st.sampled_from([(0, 1),
                                                                                  (1, 0)]))},
                                         2)),
        "squeeze": Case(lambda x, dimensions: fnp.squeeze(x, dimensions), _squeezable()),
        "tile": Case(fnp.tile, statics(unary(ANY, shape=shapes(0, 2)),
                                       reps=st.sampled_from([2, (2, 1), (1, 0, 2), (3,)]))),
    }


def _column_stackable(c: Call) -> bool:
    rows = {a.shape[0] for a in c.args}
    return len(rows) == 1 and all(a.ndim in (1, 2) for a in c.args) and len(
        {a.shape for a in c.args if a.ndim == 2} | {(a.shape[0], 1) for a in c.args
                                                    if a.ndim == 1}) >= 1


# --- numpy creation ----------------------------------------------------------------------------

def _created_with(x: Any, made: Any) -> Any:
    """A creation function's result, alone and fused with an operand (broadcast)."""
    return made, made + x


def _np_creation_cases() -> dict[str, Case]:
    diag_src = _axis_x(lambda d, x: {"k": d(st.integers(-2, 2))}, 1, 2)
    tri_src = _axis_x(lambda d, x: {"k": d(st.integers(-2, 2))}, 2, 3)
    like = statics(unary(ANY), dtype=st.sampled_from([None, F32, I32]))
    scalar_x = unary((F32,), shape=st.just(()))
    shape_kw = st.sampled_from([(2, 3), (0, 2), (4,)])
    dtype_kw = st.sampled_from([None, F32, I32, BOOL])
    return {
        "array": Case(lambda x, dtype: fnp.array(x, dtype), statics(unary(ANY),
                                                                    dtype=dtype_kw)),
        "asarray": Case(lambda x, dtype: fnp.asarray(x, dtype), statics(unary(ANY),
                                                                        dtype=dtype_kw)),
        "diag": Case(fnp.diag, diag_src),
        "diagflat": Case(fnp.diagflat, diag_src),
        "diagonal": Case(fnp.diagonal, _axis_x(
            lambda d, x: {"offset": d(st.integers(-2, 2)), "axis1": 0, "axis2": x.ndim - 1},
            2, 3)),
        "trace": Case(fnp.trace, _axis_x(lambda d, x: {"offset": d(st.integers(-2, 2))}, 2, 3,
                                         dtypes=(F32, I32, BOOL)), rtol=SUMS),
        "tril": Case(fnp.tril, tri_src),
        "triu": Case(fnp.triu, tri_src),
        "empty_like": Case(fnp.empty_like, like),  # zeros, as in JAX
        "full_like": Case(lambda x, dtype: fnp.full_like(x, 3, dtype), like),
        "ones_like": Case(fnp.ones_like, like),
        "zeros_like": Case(fnp.zeros_like, like),
        "full": Case(lambda v, shape: fnp.full(shape, v),
                     statics(unary(ANY, shape=shapes(0, 1)), shape=st.just((2, 3)))
                     .filter(lambda c: np.shape(c.args[0]) in ((), (1,), (3,)))),
        "linspace": Case(fnp.linspace, _space(), rtol=MATH),
        "logspace": Case(fnp.logspace, _space(), rtol=MATH),
        "geomspace": Case(fnp.geomspace, _space(positive=True), rtol=MATH),
        "meshgrid": Case(lambda *xs, indexing, sparse: fnp.meshgrid(*xs, indexing=indexing,
                                                                    sparse=sparse),
                         statics(nary(2, ANY, shape=shapes(1, 1)),
                                 indexing=st.sampled_from(["xy", "ij"]),
                                 sparse=st.booleans())),
        "arange": Case(lambda x, n: _created_with(x, fnp.arange(1, n, 2)),
                       statics(scalar_x, n=st.integers(0, 9))),
        "empty": Case(lambda x, shape: _created_with(x, fnp.empty(shape)),
                      statics(scalar_x, shape=shape_kw)),
        "eye": Case(lambda x, n, k: _created_with(x, fnp.eye(n, 3, k)),
                    statics(scalar_x, n=st.integers(0, 4), k=st.integers(-2, 2))),
        "identity": Case(lambda x, n, dtype: _created_with(x, fnp.identity(n, dtype)),
                         statics(scalar_x, n=st.integers(0, 4), dtype=dtype_kw)),
        "indices": Case(lambda x, shape: _created_with(x, fnp.indices(shape)),
                        statics(scalar_x, shape=shape_kw)),
        "ones": Case(lambda x, shape, dtype: _created_with(x, fnp.ones(shape, dtype)),
                     statics(scalar_x, shape=shape_kw, dtype=dtype_kw)),
        "zeros": Case(lambda x, shape, dtype: _created_with(x, fnp.zeros(shape, dtype)),
                      statics(scalar_x, shape=shape_kw, dtype=dtype_kw)),
        "tri": Case(lambda x, n, k: _created_with(x, fnp.tri(n, 4, k)),
                    statics(scalar_x, n=st.integers(0, 4), k=st.integers(-2, 2))),
    }


@st.composite
def _space(draw: Any, positive: bool = False) -> Call:
    shape = draw(shapes(0, 2))
    lo, hi = (0.5, 8) if positive else (-8, 8)
    start = draw(arrays(shape, F32, lo, hi))
    stop = draw(arrays(draw(broadcastable(shape)), draw(st.sampled_from((F32, I32))),
                       1 if positive else lo, hi))
    return call(start, stop, num=draw(st.sampled_from([0, 1, 5])),
                endpoint=draw(st.booleans()), axis=draw(st.integers(-1, 0)))


# --- numpy indexing ----------------------------------------------------------------------------

@st.composite
def _take_args(draw: Any, along: bool = False) -> Call:
    x = draw(arrays(draw(shapes(1, 3, min_side=1)), draw(st.sampled_from(ANY))))
    axis = draw(st.sampled_from([None, *range(-1, x.ndim)]))
    n = x.size if axis is None else x.shape[axis]
    mode = draw(st.sampled_from([None, "clip", "fill", "wrap"] if not along
                                else [None, "clip", "fill"]))
    if along:
        shape = (x.size,) if axis is None else tuple(
            draw(st.sampled_from([0, 1, 2, 3])) if k == axis % x.ndim else n_k
            for k, n_k in enumerate(x.shape))
        idx = draw(index_arrays(shape, n))
        return call(x, idx, axis=axis, mode=mode)
    idx = draw(index_arrays(draw(shapes(0, 2)), n))
    return call(x, idx, axis=axis, mode=mode)


@st.composite
def _masked(draw: Any, axis: bool) -> Call:
    x = draw(arrays(draw(shapes(1, 2)), draw(st.sampled_from(ANY))))
    if axis:
        ax = draw(st.sampled_from([None, 0, x.ndim - 1]))
        n = x.size if ax is None else x.shape[ax]
        cond = draw(arrays((draw(st.integers(0, n)),), BOOL))
        return call(cond, x, axis=ax, size=draw(st.integers(0, cond.size)))
    cond = draw(arrays(x.shape, draw(st.sampled_from((BOOL, I32))), -1, 1))
    return call(cond, x, size=draw(st.integers(0, x.size)))


@st.composite
def _nonzero_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 3)), draw(st.sampled_from(ANY)), -1, 1))
    return call(x, size=draw(st.integers(0, 5)), fill_value=draw(st.sampled_from([None, -1])))


@st.composite
def _ravel_multi(draw: Any) -> Call:
    dims = draw(shapes(1, 3, min_side=1))
    shape = draw(shapes(0, 2))
    mode = draw(st.sampled_from(["clip", "wrap"]))
    idx = [draw(arrays(shape, I32, -2, n + 2)) for n in dims]
    return call(*idx, dims=dims, mode=mode, order=draw(st.sampled_from(["C", "F"])))


@st.composite
def _unravel(draw: Any) -> Call:
    dims = draw(shapes(1, 3, min_side=1))
    size = math.prod(dims)
    return call(draw(arrays(draw(shapes(0, 2)), I32, -size - 2, size + 2)), shape=dims)


def _static_indices(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An index-producing function of static sizes, alone and used to gather from ``x``."""

    def run(x: Any, **kw: Any) -> Any:
        idx = fn(**kw)
        return idx, x[idx]

    return run


def _from_shape(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, **kw: Any) -> Any:
        idx = fn(x, **kw)
        return idx, x[idx]

    return run


def _np_indexing_cases() -> dict[str, Case]:
    square = unary(ANY, shape=st.sampled_from([(3, 3), (2, 2, 2), (0, 0), (1, 1)]))
    tri = statics(unary(ANY, shape=st.sampled_from([(3, 4), (4, 3), (0, 2), (2, 2)])),
                  k=st.integers(-1, 1))
    return {
        "take": Case(lambda x, i, **kw: fnp.take(x, i, **kw), _take_args()),
        "take_along_axis": Case(lambda x, i, **kw: fnp.take_along_axis(x, i, **kw),
                                _take_args(along=True)),
        "compress": Case(lambda c, x, **kw: fnp.compress(c, x, **kw), _masked(True)),
        "extract": Case(lambda c, x, size: fnp.extract(c, x, size=size), _masked(False)),
        "argwhere": Case(fnp.argwhere, _nonzero_args()),
        "flatnonzero": Case(fnp.flatnonzero, _nonzero_args()),
        "nonzero": Case(fnp.nonzero, _nonzero_args()),
        "ravel_multi_index": Case(lambda *idx, **kw: fnp.ravel_multi_index(idx, **kw),
                                  _ravel_multi()),
        "unravel_index": Case(fnp.unravel_index, _unravel()),
        "diag_indices": Case(_static_indices(fnp.diag_indices), statics(
            unary(ANY, shape=st.just((3, 3))), n=st.just(3))),
        "diag_indices_from": Case(_from_shape(fnp.diag_indices_from), square),
        "tril_indices": Case(_static_indices(fnp.tril_indices), statics(
            unary(ANY, shape=st.just((3, 4))), n=st.just(3), k=st.integers(-1, 1),
            m=st.just(4))),
        "triu_indices": Case(_static_indices(fnp.triu_indices), statics(
            unary(ANY, shape=st.just((3, 4))), n=st.just(3), k=st.integers(-1, 1),
            m=st.just(4))),
        "tril_indices_from": Case(_from_shape(fnp.tril_indices_from), tri),
        "triu_indices_from": Case(_from_shape(fnp.triu_indices_from), tri),
    }


# --- numpy linear algebra ----------------------------------------------------------------------

@st.composite
def _matmul_args(draw: Any, dtypes: Sequence[Any] = (F32,)) -> Call:
    k = draw(st.sampled_from(SIDES))
    batch = draw(shapes(0, 2))
    lhs = draw(st.sampled_from([(k,), (draw(st.sampled_from(SIDES)), k),
                                (*batch, 2, k)]))
    rhs = draw(st.sampled_from([(k,), (k, draw(st.sampled_from(SIDES))),
                                (*draw(broadcastable(batch)), k, 3)]))
    dtype = draw(st.sampled_from(dtypes))
    return call(draw(arrays(lhs, dtype, -4, 4)), draw(arrays(rhs, draw(st.sampled_from(dtypes)),
                                                             -4, 4)))


@st.composite
def _dot_args(draw: Any) -> Call:
    k = draw(st.sampled_from(SIDES))
    lhs = draw(st.sampled_from([(), (k,), (2, k), (2, 3, k)]))
    rhs = draw(st.sampled_from([(), (k,), (k, 3), (2, k, 3)]))
    return call(draw(arrays(lhs, F32, -4, 4)), draw(arrays(rhs, F32, -4, 4)))


@st.composite
def _tensordot_args(draw: Any) -> Call:
    a_free, shared, b_free = (draw(shapes(0, 2)) for _ in range(3))
    a = draw(arrays(a_free + shared, F32, -4, 4))
    b = draw(arrays(shared + b_free, F32, -4, 4))
    return call(a, b, axes=len(shared))


@st.composite
def _einsum_args(draw: Any) -> Call:
    spec = draw(st.sampled_from(["ij,jk->ik", "ij->ji", "ii->i", "ij->", "bij,bjk->bik",
                                 "i,i->", "ij,j->i", "i,j->ij", "ijk->kj"]))
    sizes = {ch: draw(st.sampled_from(SIDES)) for ch in "bijk"}
    operands = spec.split("->")[0].split(",")
    args = [draw(arrays(tuple(sizes[ch] for ch in op), F32, -4, 4)) for op in operands]
    return call(*args, spec=spec)


@st.composite
def _cross_args(draw: Any) -> Call:
    batch = draw(shapes(0, 2))
    a = draw(arrays((*batch, draw(st.sampled_from([2, 3]))), draw(st.sampled_from((F32, I32)))))
    b = draw(arrays((*draw(broadcastable(batch)), draw(st.sampled_from([2, 3]))), F32))
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        b = draw(arrays((*b.shape[:-1], 3), F32))
    return call(a, b)


@st.composite
def _norm_args(draw: Any, kind: str) -> Call:
    if kind == "vector":
        c = draw(with_axis(unary((F32, I32), shape=shapes(1, 2)), multi=False))
        return call(*c.args, axis=c.kw["axis"], keepdims=draw(st.booleans()),
                    ord=draw(st.sampled_from([2, 1, np.inf, -np.inf, 0, 3])))
    if kind == "matrix":
        x = draw(arrays(draw(shapes(2, 3, min_side=1)), F32))
        return call(x, keepdims=draw(st.booleans()),
                    ord=draw(st.sampled_from(["fro", 1, -1, np.inf, -np.inf])))
    x = draw(arrays(draw(shapes(1, 2, min_side=1)), F32))
    if x.ndim == 2 and draw(st.booleans()):
        return call(x, ord=draw(st.sampled_from([None, "fro", 1, np.inf])),
                    axis=(0, 1), keepdims=draw(st.booleans()))
    return call(x, ord=draw(st.sampled_from([None, 2, 1, np.inf])),
                axis=draw(st.sampled_from([None, -1])) if x.ndim == 1 else -1,
                keepdims=draw(st.booleans()))


def _np_linalg_cases() -> dict[str, Case]:
    pairs = _matmul_args()
    vec_pair = nary(2, (F32, I32), broadcast=True, same_dtype=False, shape=shapes(1, 2))
    return {
        "matmul": Case(fnp.matmul, pairs, rtol=SUMS),
        "dot": Case(fnp.dot, _dot_args(), rtol=SUMS),
        "inner": Case(fnp.inner, _dot_args().filter(_inner_ok), rtol=SUMS),
        "vdot": Case(fnp.vdot, nary(2, (F32, I32), same_dtype=False), rtol=SUMS),
        "vecdot": Case(fnp.vecdot, vec_pair.filter(_vecdot_ok), rtol=SUMS),
        "outer": Case(fnp.outer, nary(2, ANY, same_dtype=False, shape=shapes(0, 2))),
        "kron": Case(fnp.kron, nary(2, (F32, I32), same_dtype=False, shape=shapes(0, 2))),
        "tensordot": Case(fnp.tensordot, _tensordot_args(), rtol=SUMS),
        "einsum": Case(lambda *xs, spec: fnp.einsum(spec, *xs), _einsum_args(), rtol=SUMS),
        "cross": Case(fnp.cross, _cross_args(), rtol=SUMS),
        "matrix_transpose": Case(fnp.matrix_transpose, unary(ANY, shape=shapes(2, 4))),
        "linalg.matmul": Case(fnp.linalg.matmul, pairs, rtol=SUMS),
        "linalg.matrix_transpose": Case(fnp.linalg.matrix_transpose,
                                        unary(ANY, shape=shapes(2, 3))),
        "linalg.outer": Case(fnp.linalg.outer, nary(2, ANY, same_dtype=False,
                                                    shape=shapes(1, 1))),
        "linalg.tensordot": Case(fnp.linalg.tensordot, _tensordot_args(), rtol=SUMS),
        "linalg.vecdot": Case(fnp.linalg.vecdot, vec_pair.filter(_vecdot_ok), rtol=SUMS),
        "linalg.cross": Case(fnp.linalg.cross, _cross_args().filter(
            lambda c: c.args[0].shape[-1] == c.args[1].shape[-1] == 3), rtol=SUMS),
        "linalg.norm": Case(fnp.linalg.norm, _norm_args("norm"), rtol=1e-5),
        "linalg.vector_norm": Case(fnp.linalg.vector_norm, _norm_args("vector"), rtol=1e-5),
        "linalg.matrix_norm": Case(fnp.linalg.matrix_norm, _norm_args("matrix"), rtol=1e-5),
    }


def _inner_ok(c: Call) -> bool:
    a, b = c.args
    return a.ndim == 0 or b.ndim == 0 or a.shape[-1] == b.shape[-1]


def _vecdot_ok(c: Call) -> bool:
    a, b = c.args
    return a.shape[-1] == b.shape[-1] if b.ndim else False


# --- numpy sorting, searching, statistics ------------------------------------------------------

def _sortable(min_side: int = 0) -> st.SearchStrategy[Call]:
    return with_axis(unary((F32, I32, BOOL), low=-3, high=3, specials=True,
                           shape=shapes(1, 3, min_side)), none=True)


@st.composite
def _partition_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(1, 2, min_side=1)), draw(st.sampled_from((F32, I32))), -3, 3,
                    specials=True))
    axis = draw(st.sampled_from([-1, 0]))
    return call(x, kth=draw(st.integers(-x.shape[axis], x.shape[axis] - 1)), axis=axis)


@st.composite
def _quantile_args(draw: Any, percent: bool) -> Call:
    c = draw(with_axis(unary((F32, I32), low=-3, high=3, shape=shapes(1, 2, min_side=1)),
                       multi=True))
    top = 100 if percent else 1
    q = draw(st.sampled_from([np.float32(top / 2), np.array([0, top / 4, top], F32)]))
    return call(c.args[0], q, axis=c.kw["axis"], keepdims=draw(st.booleans()),
                method=draw(st.sampled_from(["linear", "lower", "higher", "nearest",
                                             "midpoint"])))


def _with_nans(base: st.SearchStrategy[Call]) -> st.SearchStrategy[Call]:
    """``base`` with NaNs written into some float elements of its first argument."""

    @st.composite
    def build(draw: Any) -> Call:
        c = draw(base)
        x = c.args[0]
        if x.dtype == F32 and x.size:
            x = x.copy()
            mask = draw(arrays(x.shape, BOOL))
            x[mask] = np.nan
        return Call((x, *c.args[1:]), c.kw)

    return build()


@st.composite
def _searchsorted_args(draw: Any) -> Call:
    dtype = draw(st.sampled_from((F32, I32)))
    a = np.sort(draw(arrays((draw(st.sampled_from(SIDES)),), dtype, -4, 4, layout=False)))
    v = draw(arrays(draw(shapes(0, 2)), dtype, -5, 5, specials=dtype == F32))
    return call(a, v, side=draw(st.sampled_from(["left", "right"])),
                method=draw(st.sampled_from(["scan", "sort", "compare_all"])))


@st.composite
def _digitize_args(draw: Any) -> Call:
    bins = np.sort(draw(arrays((draw(st.sampled_from(SIDES)),), F32, -4, 4, layout=False)))
    if draw(st.booleans()):
        bins = bins[::-1].copy()
    x = draw(arrays(draw(shapes(0, 2)), F32, -5, 5, specials=True))
    return call(x, bins, right=draw(st.booleans()))


@st.composite
def _bincount_args(draw: Any) -> Call:
    x = draw(arrays((draw(st.sampled_from(SIDES)),), I32, -1, 6))
    length = draw(st.integers(0, 7))
    if draw(st.booleans()):
        return call(x, draw(arrays(x.shape, F32, -3, 3)), length=length)
    return call(x, length=length)


def _bincount(x: Any, weights: Any = None, length: int = 0) -> Any:
    return fnp.bincount(x, weights, length=length)


@st.composite
def _lexsort_args(draw: Any) -> Call:
    shape = draw(shapes(1, 2))
    keys = [draw(arrays(shape, draw(st.sampled_from((F32, I32, BOOL))), -2, 2))
            for _ in range(draw(st.integers(1, 3)))]
    return call(*keys, axis=draw(st.sampled_from([-1, 0])))


@st.composite
def _unique_args(draw: Any) -> Call:
    x = draw(arrays(draw(shapes(0, 2)), draw(st.sampled_from((F32, I32, BOOL))), -2, 2,
                    specials=True))
    fill = draw(st.sampled_from([9] if x.size == 0 else [None, 9]))
    return call(x, size=draw(st.integers(1, 6)), fill_value=fill)


def _unique(x: Any, size: int, fill_value: Any) -> Any:
    return fnp.unique(x, return_index=True, return_inverse=True, return_counts=True,
                      size=size, fill_value=fill_value)


def _np_sorting_cases() -> dict[str, Case]:
    sort_kw = {"stable": st.booleans(), "descending": st.booleans()}
    return {
        "sort": Case(fnp.sort, statics(_sortable(), **sort_kw)),
        "argsort": Case(fnp.argsort, statics(_sortable(), **sort_kw)),
        "partition": Case(fnp.partition, _partition_args()),
        "argpartition": Case(fnp.argpartition, _partition_args()),
        "lexsort": Case(lambda *keys, axis: fnp.lexsort(keys, axis), _lexsort_args()),
        "searchsorted": Case(fnp.searchsorted, _searchsorted_args()),
        "digitize": Case(fnp.digitize, _digitize_args()),
        "bincount": Case(_bincount, _bincount_args(), rtol=SUMS),
        "median": Case(fnp.median, statics(_sortable(1), keepdims=st.booleans()), rtol=MATH),
        "nanmedian": Case(fnp.nanmedian, _with_nans(statics(_sortable(1),
                                                            keepdims=st.booleans())),
                          rtol=MATH),
        "quantile": Case(fnp.quantile, _quantile_args(False), rtol=MATH),
        "percentile": Case(fnp.percentile, _quantile_args(True), rtol=MATH),
        "nanquantile": Case(fnp.nanquantile, _with_nans(_quantile_args(False)), rtol=MATH),
        "nanpercentile": Case(fnp.nanpercentile, _with_nans(_quantile_args(True)),
                              rtol=MATH),
        "unique": Case(_unique, _unique_args()),
        "unique_all": Case(fnp.unique_all, _unique_args()),
        "unique_counts": Case(fnp.unique_counts, _unique_args()),
        "unique_inverse": Case(fnp.unique_inverse, _unique_args()),
        "unique_values": Case(fnp.unique_values, _unique_args()),
    }


def _np_scalar_type_cases() -> dict[str, Case]:
    """The scalar types convert arrays (``fnp.int8(x)``); 64-bit ones canonicalize to 32 bits
    without x64."""
    names = ("bfloat16", "bool_", "float16", "float32", "float64", "int8", "int16", "int32",
             "int64", "uint8", "uint16", "uint32", "uint64")
    return family("numpy.scalar_types", unary((F32, I32, BOOL, U8), low=-200, high=200),
                  {n: getattr(fnp, n) for n in names})


NUMPY_CASES: dict[str, Case] = {
    **_np_unary_cases(), **_np_binary_cases(), **_np_misc_ufunc_cases(),
    **_np_reduction_cases(), **_np_manipulation_cases(), **_np_creation_cases(),
    **_np_indexing_cases(), **_np_linalg_cases(), **_np_sorting_cases(),
    **_np_scalar_type_cases(),
}


def numpy_public_names() -> set[str]:
    """Every public function of fborn.numpy: its modules' ``__all__`` and ``linalg``'s
    (as ``linalg.<name>``)."""
    import importlib

    names: set[str] = set()
    for module in ("_creation", "_dtypes", "_indexing", "_linalg", "_manipulation",
                   "_reductions", "_sorting", "_ufuncs"):
        names |= set(importlib.import_module(f"fborn.numpy.{module}").__all__)
    return names | {f"linalg.{n}" for n in fnp.linalg.__all__}


# --- 64-bit types (run under the x64 fixture) --------------------------------------------------

@st.composite
def _int64_division(draw: Any) -> Call:
    c = draw(binary((I64, U64), low=-9, high=9))
    x, y = c.args
    if x.size and x.dtype == I64 and draw(st.booleans()):
        x, y = x.copy(), y.copy()
        x.reshape(-1)[0], y.reshape(-1)[0] = np.iinfo(I64).min, -1
    return call(x, y)


@st.composite
def _conversion64(draw: Any) -> Call:
    source = draw(st.sampled_from([F64, I64, F32, U64, I32]))
    target = draw(st.sampled_from([F64, I64, F32, U64, I32, BOOL]))
    x = draw(arrays(draw(shapes()), source, -300, 300, specials=source.kind == "f"))
    if source.kind == "f" and target in (I64, U64, I32):  # eager overflows at +-inf
        x = np.where(np.isinf(x), np.nan, x)
    return call(x, new_dtype=target)


LAX_X64_CASES: dict[str, Case] = {
    "add": Case(lax.add, binary((F64, I64, U64), specials=True)),
    "mul": Case(lax.mul, binary((F64, I64, U64), low=-2**40, high=2**40)),
    "div": Case(lax.div, st.one_of(binary((F64,), specials=True), _int64_division())),
    "rem": Case(lax.rem, st.one_of(binary((F64,), specials=True), _int64_division())),
    "max": Case(lax.max, binary((F64, I64, U64), specials=True)),
    "shift_left": Case(lax.shift_left, _shift_operands((I64, U64))),
    "shift_right_logical": Case(lax.shift_right_logical, _shift_operands((I64, U64))),
    "shift_right_arithmetic": Case(lax.shift_right_arithmetic,
                                   _shift_operands((I64,), negative=False)),
    "convert_element_type": Case(lambda x, new_dtype: lax.convert_element_type(x, new_dtype),
                                 _conversion64()),
    "bitcast_convert_type": Case(lambda x, new_dtype: lax.bitcast_convert_type(x, new_dtype),
                                 statics(unary((F64, I64), specials=True),
                                         new_dtype=st.sampled_from([U64, F64, I64]))),
    "exp": Case(lax.exp, unary((F64,), low=-700, high=700, specials=True), rtol=1e-14),
    "tanh": Case(lax.tanh, unary((F64,), specials=True), rtol=1e-14),
    "log1p": Case(lax.log1p, unary((F64,), low=-1.5, high=30, specials=True), rtol=1e-14),
    "erf_inv": Case(lax.erf_inv, unary((F64,), low=-1.2, high=1.2, specials=True),
                    rtol=1e-12),
    "digamma": Case(lax.digamma, unary((F64,), low=-6, high=30), rtol=1e-12),
    "rsqrt": Case(lax.rsqrt, unary((F64,), low=-1, high=30, specials=True)),
    "round": Case(lambda x, m: lax.round(x, m),
                  statics(unary((F64,), specials=True), m=st.sampled_from([0, 1]))),
    "integer_pow": Case(lambda x, y: lax.integer_pow(x, y),
                        statics(unary((F64, I64), low=-9, high=9), y=st.sampled_from([2, 3])),
                        rtol=1e-14),
    "reduce_sum": Case(lax.reduce_sum, _reduce_axes(X64), rtol=1e-12),
    "argmax": Case(lax.argmax, _arg_reduce().map(lambda c: Call(
        (c.args[0].astype(F64),), {**c.kw, "index_dtype": I64}))),
    "cumsum": Case(lax.cumsum, _cumulative(X64), rtol=1e-12),
    "dot_general": Case(lax.dot_general, _dot_general((F64,)), rtol=1e-12),
    "sort": Case(_sort_fn, _sort().map(lambda c: Call(tuple(
        a.astype(F64) if a.dtype == F32 else a.astype(I64) if a.dtype == I32 else a
        for a in c.args), c.kw))),
    "clamp": Case(lax.clamp, _clamp().map(lambda c: Call(tuple(
        a.astype(F64 if a.dtype == F32 else I64) for a in c.args), c.kw))),
}

NUMPY_X64_CASES: dict[str, Case] = {
    "sum": Case(_reducer(fnp.sum), _reduction((F64, I64, BOOL, I32)), rtol=1e-12),
    "mean": Case(_reducer(fnp.mean), _reduction((F64, I64)), rtol=1e-12),
    "cumsum": Case(fnp.cumsum, with_axis(unary((BOOL, I32, F64))), rtol=1e-12),
    "matmul": Case(fnp.matmul, _matmul_args((F64, I64)), rtol=1e-12),
    "floor_divide": Case(fnp.floor_divide, np_binary((I64, U64, F64), specials=True)),
    "add": Case(fnp.add, np_binary((F64, I64, F32, I32, U64), specials=True)),
    "arange": Case(lambda x, n: _created_with(x, fnp.arange(1, n, 2)),
                   statics(unary((F64, I64), shape=st.just(())), n=st.integers(0, 9))),
    "linspace": Case(fnp.linspace, _space().map(lambda c: Call(
        tuple(a.astype(F64) for a in c.args), c.kw)), rtol=1e-12),
    "argsort": Case(fnp.argsort, _sortable().map(lambda c: Call(
        (c.args[0].astype(F64) if c.args[0].dtype == F32 else c.args[0],), c.kw))),
    "where": Case(_where_fn, _where().map(lambda c: Call(
        tuple(a.astype(F64) if a.dtype == F32 else a for a in c.args), c.kw))),
    "astype": Case(lambda x, dtype: fnp.astype(x, dtype),
                   statics(unary((F64, I64, F32, BOOL), low=-100, high=100),
                           dtype=st.sampled_from([F64, I64, F32, U64]))),
}


# --- transforms: wrappers checked through the function they call -------------------------------

# Under vmap and grad these delegate, with static argument changes only, to the function named
# (which the transforms tests check); jit checks every one of them. Compiling their transformed
# programs again would cost minutes of numba time for no new primitive or rule.
TRANSFORMS_SAME_AS: dict[str, tuple[str, str]] = {
    "numpy.linalg.matmul": ("numpy.matmul", "calls fborn.numpy.matmul"),
    "numpy.linalg.matrix_transpose": ("numpy.matrix_transpose", "calls it"),
    "numpy.linalg.outer": ("numpy.outer", "checks ranks, calls fborn.numpy.outer"),
    "numpy.linalg.tensordot": ("numpy.tensordot", "calls fborn.numpy.tensordot"),
    "numpy.linalg.vecdot": ("numpy.vecdot", "calls fborn.numpy.vecdot"),
    "numpy.linalg.cross": ("numpy.cross", "checks sizes, calls fborn.numpy.cross"),
    "numpy.unique_values": ("numpy.unique", "unique(x, size=...)"),
    "numpy.unique_counts": ("numpy.unique", "unique(x, return_counts=True, ...)"),
    "numpy.unique_inverse": ("numpy.unique", "unique(x, return_inverse=True, ...)"),
    "numpy.unique_all": ("numpy.unique", "unique with every return_* flag"),
    "numpy.percentile": ("numpy.quantile", "the quantile implementation at q / 100"),
    "numpy.nanpercentile": ("numpy.nanquantile", "the nan-quantile implementation at q / 100"),
    "numpy.median": ("numpy.quantile", "the quantile implementation at q = 0.5 (midpoint)"),
    "numpy.nanmedian": ("numpy.nanquantile", "the nan-quantile implementation at q = 0.5"),
    "numpy.around": ("numpy.round", "the same function object"),
    "numpy.amax": ("numpy.max", "the same function object"),
    "numpy.amin": ("numpy.min", "the same function object"),
}
