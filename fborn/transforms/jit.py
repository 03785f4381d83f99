"""``fborn.jit``: trace once per input signature, then run the staged jaxpr.

jit is a higher-order primitive (``jit_p``) carrying a closed jaxpr, so every transform
interprets it through its own rule: jvp and vmap transform the inner jaxpr, partial evaluation
splits it, transposition transposes it. Evaluating ``jit_p`` runs the executable the backend
compiled for the jaxpr (the reference evaluator until a compiler is registered).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.config import config
from fborn.core.devices import default_backend
from fborn.core.errors import FbornShapeError
from fborn.core.gpu_array import GpuArray
from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, PerJaxpr, eval_jaxpr
from fborn.core.primitive import Primitive
from fborn.core.trace import (
    BASE_INTERPRETER,
    Tracer,
    current_interpreter,
    leaked_tracer_error,
    to_array,
)
from fborn.core.tree import tree_flatten, tree_unflatten
from fborn.primitives.rules import Zero, instantiate, is_undefined
from fborn.transforms.ad import jvp_jaxpr
from fborn.transforms.batching import batch_jaxpr, move_axis
from fborn.transforms.make_jaxpr import abstractify
from fborn.transforms.partial_eval import partial_eval_call
from fborn.transforms.transpose import transpose_jaxpr

jit_p = Primitive("jit", multiple_results=True)


def close_over_consts(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list[Any]]:
    """Turn a jaxpr's constvars into leading inputs; returns it and the const values."""
    jaxpr = closed.jaxpr
    opened = Jaxpr([], [*jaxpr.constvars, *jaxpr.invars], jaxpr.outvars, jaxpr.eqns)
    return ClosedJaxpr(opened, []), list(closed.consts)


@jit_p.def_abstract_eval
def _jit_abstract(*avals: ShapedArray, jaxpr: ClosedJaxpr, name: str) -> list[ShapedArray]:
    expected = jaxpr.in_avals
    if len(avals) != len(expected) or any(
        a.shape != b.shape or a.dtype != b.dtype for a, b in zip(avals, expected, strict=False)
    ):
        raise FbornShapeError(
            f"jit-compiled function {name} expects inputs "
            f"{[a.str_short() for a in expected]}, got {[a.str_short() for a in avals]}"
        )
    return jaxpr.out_avals


def _evaluate(jaxpr: ClosedJaxpr, *values: np.ndarray) -> list[np.ndarray]:
    args = [ArrayImpl(np.asarray(v), a.weak_type) for v, a in zip(values, jaxpr.in_avals,
                                                                  strict=True)]
    return [np.asarray(o) for o in eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args)]


def compiled(jaxpr: ClosedJaxpr) -> Callable[..., list[np.ndarray]]:
    """The native executable for ``jaxpr`` (numba backend, loaded on first use). A jaxpr that
    holds collectives or pmap calls runs as compiled segments between host-side exchanges."""
    return _compiled.get(jaxpr, lambda: _build_native(jaxpr))


def _build_native(jaxpr: ClosedJaxpr) -> Callable[..., list[np.ndarray]]:
    from fborn.transforms.pmap import SplitProgram, needs_host

    if needs_host(jaxpr.jaxpr):
        return SplitProgram(jaxpr)
    from fborn.lowering.numba.compile import executable_for

    return executable_for(jaxpr)


_compiled: PerJaxpr[Callable[..., list[np.ndarray]]] = PerJaxpr()


@jit_p.def_impl
def _jit_impl(*values: np.ndarray, jaxpr: ClosedJaxpr, name: str) -> list[np.ndarray]:
    if config.jit_compiler == "numba":
        return compiled(jaxpr)(*values)
    return _evaluate(jaxpr, *values)


def _jit_jvp(primals: list, tangents: list, *, jaxpr: ClosedJaxpr, name: str
             ) -> tuple[list, list]:
    nonzeros = [type(t) is not Zero for t in tangents]
    jvp_closed, out_nonzeros = jvp_jaxpr(jaxpr, nonzeros, instantiate=False)
    outs = jit_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                      jaxpr=jvp_closed, name=f"jvp({name})")
    n = len(jaxpr.out_avals)
    primal_outs, tangent_iter = outs[:n], iter(outs[n:])
    out_tangents = [next(tangent_iter) if nz else Zero(a.strip_weak_type())
                    for a, nz in zip(jaxpr.out_avals, out_nonzeros, strict=True)]
    return primal_outs, out_tangents


def _jit_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, name: str) -> list:
    linear = [is_undefined(a) for a in args]
    transposed = transpose_jaxpr(jaxpr, linear)
    nonlinear = [a for a in args if not is_undefined(a)]
    outs = jit_p.bind(*nonlinear, *[instantiate(c) for c in cts], jaxpr=transposed,
                      name=f"transpose({name})")
    it = iter(outs)
    return [next(it) if lin else None for lin in linear]


def _jit_batch(axis: Any, values: list, dims: list, *, jaxpr: ClosedJaxpr, name: str
               ) -> tuple[list, list]:
    in_batched = [d is not None for d in dims]
    batched, out_batched = batch_jaxpr(jaxpr, axis, in_batched, instantiate=False)
    moved = [move_axis(v, d, 0, axis.size) if d is not None else v
             for v, d in zip(values, dims, strict=True)]
    outs = jit_p.bind(*moved, jaxpr=batched, name=f"vmap({name})")
    return outs, [0 if b else None for b in out_batched]


jit_p.jvp = _jit_jvp
jit_p.transpose = _jit_transpose
jit_p.batch = _jit_batch
jit_p.partial_eval = lambda pe, args, params: partial_eval_call(pe, jit_p, args, params)


class _Disabled(threading.local):
    value = False  # per thread: set by ``disable_jit``


_disable = _Disabled()


@contextlib.contextmanager
def disable_jit(disable: bool = True) -> Iterator[None]:
    """Within the block, jitted functions run op by op (for debugging with prints)."""
    previous = _disable.value
    _disable.value = disable
    try:
        yield
    finally:
        _disable.value = previous


def _jit_disabled() -> bool:
    return _disable.value or config.disable_jit


def _static_key(value: Any, position: str) -> Any:
    try:
        hash(value)
    except TypeError:
        raise ValueError(
            f"Non-hashable static arguments are not supported: the static argument {position} "
            f"has type {type(value).__name__}. Make it hashable (e.g. a tuple) or pass it as an "
            f"array argument."
        ) from None
    return (type(value), value)


class _Entry:
    """One traced signature: the jaxpr (consts as leading inputs), the consts, the output
    treedef, and, once called eagerly under the numba compiler, its executable."""

    __slots__ = ("jaxpr", "consts", "out_tree", "_native", "_const_values", "_leaf_avals",
                 "_weak", "_gpu")

    def __init__(self, jaxpr: ClosedJaxpr, consts: list[Any], out_tree: Any):
        self.jaxpr, self.consts, self.out_tree = jaxpr, consts, out_tree
        self._native: Callable[..., list[np.ndarray]] | None = None
        self._const_values: list[np.ndarray] = []
        self._leaf_avals = jaxpr.in_avals[len(consts):]
        self._weak = [a.weak_type for a in jaxpr.out_avals]
        self._gpu: dict[int, tuple[Any, list[Any]]] = {}

    def run_gpu(self, leaves: list[Any], device: Any) -> list[Any]:
        """Run the WGSL executable on the GPU ``device`` (a ``wgsl.device.Gpu``): host leaves
        are uploaded, the consts once per GPU; returns GpuArrays (nothing is read back)."""
        hit = self._gpu.get(device.index)
        if hit is None:
            from fborn.lowering.wgsl.executable import device_put, executable_for

            consts = [device_put(_concrete_value(c, a), device)
                      for c, a in zip(self.consts, self.jaxpr.in_avals, strict=False)]
            hit = self._gpu[device.index] = (executable_for(self.jaxpr, device), consts)
        exe, consts = hit
        for leaf in leaves:
            if isinstance(leaf, Tracer):
                raise leaked_tracer_error(leaf)
        return exe.call_on_device(*consts, *leaves, weak_types=self._weak)

    @property
    def traced(self) -> tuple[ClosedJaxpr, list[Any], Any]:
        return self.jaxpr, self.consts, self.out_tree

    def run_native(self, leaves: Sequence[Any]) -> list[ArrayImpl]:
        """Run the compiled executable on concrete leaves (the eager fast path of a call)."""
        if self._native is None:
            self._const_values = [_concrete_value(c, c_aval) for c, c_aval in
                                  zip(self.consts, self.jaxpr.in_avals, strict=False)]
            self._native = compiled(self.jaxpr)
        values = [leaf._value if type(leaf) is ArrayImpl
                  else leaf if isinstance(leaf, np.generic) and leaf.dtype == aval.dtype
                  else _concrete_value(leaf, aval)
                  for leaf, aval in zip(leaves, self._leaf_avals, strict=True)]
        outs = self._native(*self._const_values, *values)
        return [ArrayImpl(o, w) for o, w in zip(outs, self._weak, strict=True)]


def _concrete_value(leaf: Any, aval: ShapedArray) -> np.ndarray:
    if isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype == aval.dtype:
        return np.asarray(leaf)  # no copy: compiled programs never write their inputs
    if isinstance(leaf, Tracer):
        raise leaked_tracer_error(leaf)
    value = to_array(leaf)._value
    return value if value.dtype == aval.dtype else value.astype(aval.dtype)


_LEAF_TYPES = frozenset({ArrayImpl, np.ndarray, float, int, bool})


def _gpu_platform() -> bool:
    """True when ``$FBORN_PLATFORM`` sends host arguments to the default GPU."""
    return bool(os.environ.get("FBORN_PLATFORM")) and default_backend() == "gpu"


def _gpu_target(leaves: list[Any]) -> Any:
    """The GPU a call runs on: that of its first GpuArray leaf, else the default GPU when
    ``$FBORN_PLATFORM`` is ``gpu``; None for the CPU."""
    for leaf in leaves:
        if type(leaf) is GpuArray:
            return leaf.device_buffer.gpu
    if _gpu_platform():
        from fborn.lowering.wgsl.device import gpu

        return gpu()
    return None


_SCALAR_TYPES = (bool, int, float)


def _host_key(args: tuple) -> tuple | None:
    """A cheap key for a call whose arguments are all CPU arrays, numpy values or Python
    scalars (what decides their avals: type, shape, dtype and the x64 flag); None otherwise."""
    key: list[Any] = [config.enable_x64]
    for a in args:
        kind = type(a)
        if kind is ArrayImpl:
            key.append(a.aval)
        elif kind is np.ndarray or isinstance(a, np.generic):
            key.append((a.shape, a.dtype))
        elif kind in _SCALAR_TYPES:
            key.append(kind)
        else:
            return None
    return tuple(key)


def _eager_native() -> bool:
    """True when a call runs eagerly on the CPU's compiled executables."""
    return (current_interpreter() is BASE_INTERPRETER and not _jit_disabled()
            and config.jit_compiler == "numba" and not _gpu_platform())


class Jitted:
    """A jit-wrapped function: call it like the original; ``trace_count`` counts retraces."""

    def __init__(self, fun: Callable[..., Any], static_argnums: Sequence[int],
                 static_argnames: Sequence[str], donate_argnums: Sequence[int]):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        self.donate_argnums = tuple(donate_argnums)
        self._cache: dict[Any, _Entry] = {}
        # The eager fast path: host arguments' types, shapes and dtypes -> their entry.
        self._host_entries: dict[tuple, _Entry] = {}
        self._lock = threading.Lock()
        self.trace_count = 0

    def _split(self, args: tuple, kwargs: dict) -> tuple[list, dict, tuple, tuple]:
        nargs = len(args)
        static_pos = {i % nargs for i in self.static_argnums if -nargs <= i < nargs}
        dyn_args = [a for i, a in enumerate(args) if i not in static_pos]
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        static = tuple(_static_key(args[i], f"at position {i}") for i in sorted(static_pos))
        static_kw = tuple(sorted((k, _static_key(v, repr(k))) for k, v in kwargs.items()
                                 if k in self.static_argnames))
        return dyn_args, dyn_kwargs, static, static_kw

    def _signature(self, args: tuple, kwargs: dict) -> tuple[list[Any], Any, tuple, tuple]:
        """The dynamic leaves of a call and its cache key (treedef, avals, static values)."""
        if not kwargs and not self.static_argnums and all(
                type(a) in _LEAF_TYPES or isinstance(a, np.generic) for a in args):
            return list(args), (len(args), tuple(abstractify(a) for a in args)), (), ()
        dyn_args, dyn_kwargs, static, static_kw = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        return leaves, (in_tree, tuple(abstractify(x) for x in leaves), static, static_kw), \
            static, static_kw

    def trace(self, *args: Any, **kwargs: Any) -> tuple[ClosedJaxpr, list[Any], Any]:
        """The (cached) jaxpr for these arguments: (jaxpr with consts as inputs, consts,
        output treedef)."""
        _, key, _, _ = self._signature(args, kwargs)
        return self._trace(args, kwargs, key).traced

    def _trace(self, args: tuple, kwargs: dict, key: Any) -> _Entry:
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        dyn_args, dyn_kwargs, _, _ = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        avals = [abstractify(x) for x in leaves]
        nargs = len(args)
        static_pos = sorted({i % nargs for i in self.static_argnums if -nargs <= i < nargs})
        out_box: list[Any] = []

        def flat_fun(*flat: Any) -> list[Any]:
            dyn, kw = tree_unflatten(in_tree, flat)
            it = iter(dyn)
            full = [args[i] if i in static_pos else next(it) for i in range(nargs)]
            kw = {**kw, **{k: v for k, v in kwargs.items() if k in self.static_argnames}}
            out_leaves, out_tree = tree_flatten(self.fun(*full, **kw))
            out_box.append(out_tree)
            return out_leaves

        from fborn.core.staging import trace_to_jaxpr

        self.trace_count += 1
        closed = trace_to_jaxpr(flat_fun, avals)
        opened, consts = close_over_consts(closed)
        entry = _Entry(opened, consts, out_box[0])
        if not any(isinstance(c, Tracer) for c in consts):
            with self._lock:
                self._cache[key] = entry
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and self._host_entries:
            hit = self._host_entries.get(_host_key(args))
            if hit is not None and _eager_native():
                return hit.out_tree.unflatten(hit.run_native(args))
        if _jit_disabled():
            return self.fun(*args, **kwargs)
        eager = current_interpreter() is BASE_INTERPRETER
        host_key = (_host_key(args) if eager and not kwargs and not self.static_argnums
                    and config.jit_compiler == "numba" else None)
        leaves, key, _, _ = self._signature(args, kwargs)
        entry = self._trace(args, kwargs, key)
        if eager:
            target = _gpu_target(leaves)
            if target is not None:
                return tree_unflatten(entry.out_tree, entry.run_gpu(leaves, target))
            if config.jit_compiler == "numba":
                if host_key is not None and entry is self._cache.get(key):
                    self._host_entries[host_key] = entry
                return tree_unflatten(entry.out_tree, entry.run_native(leaves))
        outs = jit_p.bind(*entry.consts, *leaves, jaxpr=entry.jaxpr,
                          name=getattr(self.fun, "__name__", "fun"))
        return tree_unflatten(entry.out_tree, outs)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace and compile for these arguments; ``.as_text()`` shows the generated code."""
        jaxpr, _, _ = self.trace(*args, **kwargs)
        return Lowered(jaxpr)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)


class Lowered:
    """A jitted function compiled for one input signature (for inspection and debugging)."""

    def __init__(self, jaxpr: ClosedJaxpr):
        self.jaxpr = jaxpr

    def compile(self) -> Callable[..., list[np.ndarray]]:
        return compiled(self.jaxpr)

    def as_text(self, dialect: str = "numba") -> str:
        """The optimized jaxpr (``dialect="jaxpr"``), the generated numba module source
        (``"numba"``) or the WGSL shaders for the default GPU (``"wgsl"``)."""
        if dialect == "jaxpr":
            from fborn.lowering.passes import optimize

            return str(optimize(self.jaxpr))
        if dialect == "wgsl":
            from fborn.lowering.wgsl.executable import executable_for

            return executable_for(self.jaxpr).as_text()
        return self.compile().source


def jit(fun: Callable[..., Any] | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        **unused: Any) -> Any:
    """Compile ``fun``: trace it once per (shapes, dtypes, static args, tree structure) and
    run the staged program. ``static_argnums``/``static_argnames`` mark hashable Python
    arguments that are baked into the trace; ``donate_argnums`` is accepted (buffers are
    never reused in place yet). Usable as ``@jit`` or ``@jit(static_argnums=...)``."""
    del unused
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    donate = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    if fun is None:
        return lambda f: Jitted(f, nums, names, donate)
    return Jitted(fun, nums, names, donate)

